//! The handle table: JavaScript never sees a Zig pointer. Every object it creates is named
//! by a small positive i32 (slot index + generation), so a stale, forged or mistyped handle
//! is answered with `invalid_handle` instead of touching freed memory. A table belongs to one
//! thread (core_exports.zig keeps one per thread) and is not locked.
const std = @import("std");
const assert = std.debug.assert;
const ScanHints = @import("../core/codec/scan_hints.zig").ScanHints;

pub const Kind = enum(u8) { ring, elastic_ring, linked_list, elastic, codec, load_balancer };

/// 2^23 live objects; index and generation must fit a positive i32 together so that the
/// wasm boundary (i32 results) and koffi (intptr) read the same number.
const index_bits = 23;
const generation_bits = 7;
pub const slots_max: u32 = 1 << index_bits;
comptime {
    assert(index_bits + generation_bits <= 30);
}

pub const Slot = struct {
    ptr: ?*anyopaque = null,
    kind: Kind = .ring,
    generation: u7 = 0,
    /// A stream's codec state: per codec, leading bytes known to hold no frame end.
    scan_hints: ScanHints = .{},
};

pub const Table = struct {
    slots: std.ArrayListUnmanaged(Slot) = .{},
    free: std.ArrayListUnmanaged(u32) = .{},

    pub fn put(table: *Table, gpa: std.mem.Allocator, kind: Kind, ptr: *anyopaque) error{OutOfMemory}!i32 {
        const index: u32 = if (table.free.items.len > 0) table.free.pop() else blk: {
            if (table.slots.items.len >= slots_max) return error.OutOfMemory;
            // Reserve the free-list room now so `remove` never needs to allocate.
            try table.free.ensureTotalCapacity(gpa, table.slots.items.len + 1);
            try table.slots.append(gpa, .{});
            break :blk @intCast(table.slots.items.len - 1);
        };
        const slot = &table.slots.items[index];
        assert(slot.ptr == null);
        slot.ptr = ptr;
        slot.kind = kind;
        slot.scan_hints = .{};
        return encode(index, slot.generation);
    }

    pub fn get(table: *Table, handle: i32, kind: Kind) ?*Slot {
        const slot = table.lookup(handle) orelse return null;
        if (slot.kind != kind) return null;
        return slot;
    }

    pub fn lookup(table: *Table, handle: i32) ?*Slot {
        if (handle <= 0) return null;
        const raw: u32 = @intCast(handle);
        // Bits above the generation are never set in a handle this table made.
        if (raw >> (index_bits + generation_bits) != 0) return null;
        const slot_index = (raw & (slots_max - 1));
        if (slot_index == 0 or slot_index > table.slots.items.len) return null;
        const slot = &table.slots.items[slot_index - 1];
        if (slot.ptr == null) return null;
        if (slot.generation != @as(u7, @truncate(raw >> index_bits))) return null;
        assert(encode(slot_index - 1, slot.generation) == handle);
        return slot;
    }

    /// Frees the slot; the caller frees the object. Later uses of the handle fail.
    pub fn remove(table: *Table, handle: i32) void {
        const slot = table.lookup(handle).?;
        const raw: u32 = @intCast(handle);
        slot.ptr = null;
        slot.generation +%= 1;
        // Capacity was reserved in `put`: one free entry per slot at most.
        assert(table.free.items.len < table.slots.items.len);
        table.free.appendAssumeCapacity((raw & (slots_max - 1)) - 1);
    }

    fn encode(index: u32, generation: u7) i32 {
        assert(index + 1 < slots_max);
        const raw = (@as(u32, generation) << index_bits) | (index + 1);
        assert(raw > 0 and raw <= std.math.maxInt(i32));
        return @intCast(raw);
    }

    pub fn deinit(table: *Table, gpa: std.mem.Allocator) void {
        assert(table.free.items.len <= table.slots.items.len);
        table.slots.deinit(gpa);
        table.free.deinit(gpa);
    }
};

test "Table: a removed handle is rejected, its slot reused with a new generation" {
    const gpa = std.testing.allocator;
    var table: Table = .{};
    defer table.deinit(gpa);
    var a: u8 = 1;
    var b: u8 = 2;
    const h1 = try table.put(gpa, .ring, &a);
    try std.testing.expect(table.get(h1, .ring) != null);
    try std.testing.expect(table.get(h1, .codec) == null);
    table.remove(h1);
    try std.testing.expect(table.lookup(h1) == null);
    const h2 = try table.put(gpa, .codec, &b);
    try std.testing.expect(h1 != h2);
    try std.testing.expect(table.lookup(h1) == null);
    try std.testing.expect(table.get(h2, .codec) != null);
    // The last two: h2 with a bit above the generation set, and every bit set.
    for ([_]i32{ 0, -1, 12345, h2 | (1 << 30), std.math.maxInt(i32) }) |bad| try std.testing.expect(table.lookup(bad) == null);
}
