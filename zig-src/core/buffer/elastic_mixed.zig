//! A connection's outbound buffer, gnet's "mixed" elastic buffer: a RingBuffer holds the
//! first max_static_bytes (cheap for the common small backlog) and a LinkedListBuffer takes
//! the rest (no copying of what is already buffered when a backlog grows large). Bytes always
//! leave in the order they came: ring first, then list, and once the list holds anything every
//! new byte goes behind it. Both exist only while bytes are buffered: gnet returns an emptied
//! ring to a pool, we free it, so an idle connection holds a null pointer and nothing else.
const std = @import("std");
const assert = std.debug.assert;
const Allocator = std.mem.Allocator;
const RingBuffer = @import("ring.zig").RingBuffer;
const LinkedListBuffer = @import("linked_list.zig").LinkedListBuffer;

pub const ElasticBuffer = struct {
    allocator: Allocator,
    max_static_bytes: usize,
    /// Present exactly when bytes are buffered.
    parts: ?*Parts,

    const Parts = struct {
        ring: RingBuffer,
        list: LinkedListBuffer,
    };

    /// Where a writev splits its chunks: everything before `chunk_index` and the first
    /// `offset_bytes` of that chunk go to the ring (`ring_bytes` in all), the rest to the list.
    const RingSplit = struct {
        chunk_index: usize,
        offset_bytes: usize,
        ring_bytes: usize,
    };

    /// Allocates nothing; memory comes with the first write that needs it.
    pub fn init(allocator: Allocator, max_static_bytes: usize) error{InvalidArgument}!ElasticBuffer {
        if (max_static_bytes == 0) return error.InvalidArgument;
        return .{ .allocator = allocator, .max_static_bytes = max_static_bytes, .parts = null };
    }

    pub fn deinit(self: *ElasticBuffer) void {
        self.release();
        self.* = undefined;
    }

    /// Appends all of `bytes` (gnet's placement rule, see below). On OutOfMemory nothing
    /// changes.
    pub fn write(self: *ElasticBuffer, bytes: []const u8) Allocator.Error!void {
        if (bytes.len == 0) return;
        const buffered_before = self.buffered();
        const parts = try self.partsForWrite();
        defer self.releaseIfEmpty(); // a first write that failed leaves nothing behind
        const ring_before = parts.ring.buffered();
        const list_was_empty = parts.list.isEmpty();
        try self.place(parts, bytes);
        assert(self.buffered() == buffered_before + bytes.len);
        // Order: once the list holds bytes, nothing new may enter the ring.
        if (!list_was_empty) assert(parts.ring.buffered() == ring_before);
    }

    fn place(self: *const ElasticBuffer, parts: *Parts, bytes: []const u8) Allocator.Error!void {
        // Behind a non-empty list, or with the static part already full: the list.
        if (!parts.list.isEmpty() or parts.ring.buffered() >= self.max_static_bytes) {
            return parts.list.pushBack(bytes);
        }
        // A ring grown to the limit is not grown further: fill it, spill the rest.
        if (parts.ring.capacity() >= self.max_static_bytes) {
            const ring_bytes = @min(bytes.len, parts.ring.available());
            // The list push is the only step that can fail, so it goes first; the list is
            // empty here, so the bytes still end up ring first, list second.
            try parts.list.pushBack(bytes[ring_bytes..]);
            parts.ring.write(bytes[0..ring_bytes]) catch unreachable; // fits: no allocation
            return;
        }
        // A small ring takes the whole write, even past the limit (gnet does the same).
        return parts.ring.write(bytes);
    }

    /// Appends the chunks in order with gnet's writev placement: they fill the ring up to
    /// what it may take, the chunk that does not fit is split, later chunks go to the list.
    /// On OutOfMemory nothing changes.
    pub fn writev(self: *ElasticBuffer, chunks: []const []const u8) Allocator.Error!void {
        const buffered_before = self.buffered();
        const parts = try self.partsForWrite();
        defer self.releaseIfEmpty(); // empty chunks, or a first writev that failed
        const split = self.ringSplit(parts, chunks);

        // Stage every allocation before changing anything: the list part in a private
        // list, then room in the ring.
        var spill = LinkedListBuffer.init(self.allocator);
        errdefer spill.deinit();
        var spill_bytes: usize = 0;
        for (chunks[split.chunk_index..], split.chunk_index..) |chunk, index| {
            const part = if (index == split.chunk_index) chunk[split.offset_bytes..] else chunk;
            try spill.pushBack(part);
            spill_bytes += part.len;
        }
        try parts.ring.reserve(split.ring_bytes);

        for (chunks[0..split.chunk_index]) |chunk| parts.ring.write(chunk) catch unreachable;
        if (split.chunk_index < chunks.len) {
            parts.ring.write(chunks[split.chunk_index][0..split.offset_bytes]) catch unreachable;
        }
        parts.list.pushBackList(&spill);
        assert(self.buffered() == buffered_before + split.ring_bytes + spill_bytes);
    }

    fn ringSplit(self: *const ElasticBuffer, parts: *const Parts, chunks: []const []const u8) RingSplit {
        if (!parts.list.isEmpty() or parts.ring.buffered() >= self.max_static_bytes) {
            return .{ .chunk_index = 0, .offset_bytes = 0, .ring_bytes = 0 };
        }
        // A ring still below the limit may grow up to it; one at the limit only fills.
        var writable_bytes = if (parts.ring.capacity() < self.max_static_bytes)
            self.max_static_bytes - parts.ring.buffered()
        else
            parts.ring.available();
        var ring_bytes: usize = 0;
        for (chunks, 0..) |chunk, index| {
            if (chunk.len > writable_bytes) {
                return .{ .chunk_index = index, .offset_bytes = writable_bytes, .ring_bytes = ring_bytes + writable_bytes };
            }
            writable_bytes -= chunk.len;
            ring_bytes += chunk.len;
        }
        return .{ .chunk_index = chunks.len, .offset_bytes = 0, .ring_bytes = ring_bytes };
    }

    /// Fills `out` with slices covering the first min(max, buffered) bytes: the ring's head
    /// and tail, then list nodes; empty slices are left out (they would waste iovecs).
    /// Stops early when `out` is full. Returns the slices filled.
    pub fn peek(self: *const ElasticBuffer, max: usize, out: [][]const u8) usize {
        const parts = self.parts orelse return 0;
        var remaining_bytes = @min(max, self.buffered());
        var filled: usize = 0;
        for (parts.ring.peek(remaining_bytes)) |part| {
            if (part.len == 0) continue;
            if (filled == out.len) return filled;
            out[filled] = part;
            filled += 1;
            remaining_bytes -= part.len;
        }
        filled += parts.list.peek(remaining_bytes, out[filled..]);
        assert(filled <= out.len);
        return filled;
    }

    /// Drops up to `n` bytes, ring first then list; returns how many.
    pub fn discard(self: *ElasticBuffer, n: usize) usize {
        const parts = self.parts orelse return 0;
        const expected_bytes = @min(n, self.buffered());
        const ring_bytes = parts.ring.discard(n);
        const list_bytes = parts.list.discard(n - ring_bytes);
        if (list_bytes > 0) assert(parts.ring.isEmpty());
        assert(ring_bytes + list_bytes == expected_bytes);
        self.releaseIfEmpty();
        return expected_bytes;
    }

    /// Copies and consumes up to `out.len` bytes, ring first then list; returns how many.
    pub fn read(self: *ElasticBuffer, out: []u8) usize {
        const parts = self.parts orelse return 0;
        const expected_bytes = @min(out.len, self.buffered());
        const ring_bytes = parts.ring.read(out);
        const list_bytes = parts.list.read(out[ring_bytes..]);
        if (list_bytes > 0) assert(parts.ring.isEmpty());
        assert(ring_bytes + list_bytes == expected_bytes);
        self.releaseIfEmpty();
        return expected_bytes;
    }

    pub fn buffered(self: *const ElasticBuffer) usize {
        const parts = self.parts orelse return 0;
        assert(parts.ring.buffered() <= parts.ring.capacity());
        return parts.ring.buffered() + parts.list.buffered();
    }

    pub fn isEmpty(self: *const ElasticBuffer) bool {
        const parts = self.parts orelse return true;
        // The parts exist only while they hold bytes (between calls).
        assert(!(parts.ring.isEmpty() and parts.list.isEmpty()));
        return false;
    }

    /// Drops the content and its memory. A max_static_bytes of 0 keeps the current limit, as
    /// gnet ignores a non-positive one.
    pub fn reset(self: *ElasticBuffer, max_static_bytes: usize) void {
        self.release();
        if (max_static_bytes > 0) self.max_static_bytes = max_static_bytes;
        assert(self.isEmpty());
        assert(self.max_static_bytes > 0);
    }

    /// Frees all memory; the buffer stays usable and allocates again on the next write.
    pub fn release(self: *ElasticBuffer) void {
        const parts = self.parts orelse return;
        parts.ring.deinit();
        parts.list.deinit();
        self.allocator.destroy(parts);
        self.parts = null;
        assert(self.isEmpty());
    }

    /// The parts a write fills, made when there are none (nothing else allocates yet).
    fn partsForWrite(self: *ElasticBuffer) Allocator.Error!*Parts {
        if (self.parts) |parts| return parts;
        const parts = try self.allocator.create(Parts);
        // Size 0 allocates nothing, so this cannot fail.
        parts.* = .{ .ring = RingBuffer.init(self.allocator, 0) catch unreachable, .list = LinkedListBuffer.init(self.allocator) };
        self.parts = parts;
        return parts;
    }

    fn releaseIfEmpty(self: *ElasticBuffer) void {
        const parts = self.parts orelse return;
        if (parts.ring.isEmpty() and parts.list.isEmpty()) self.release();
    }
};

// ---------------------------------------------------------------------------------------
// Tests

const testing = std.testing;

/// Peeks everything into a generous slice array and compares the concatenation.
fn expectContent(buffer: *const ElasticBuffer, expected: []const u8) !void {
    var slices: [64][]const u8 = undefined;
    const filled = buffer.peek(buffer.buffered(), &slices);
    var offset: usize = 0;
    for (slices[0..filled]) |slice| {
        try testing.expectEqualSlices(u8, expected[offset..][0..slice.len], slice);
        offset += slice.len;
    }
    try testing.expectEqual(expected.len, offset);
}

fn patternBytes(comptime n: usize, comptime seed: u8) [n]u8 {
    var bytes: [n]u8 = undefined;
    for (&bytes, 0..) |*b, i| b.* = @truncate(i *% 31 +% seed);
    return bytes;
}

test "ElasticBuffer: max 0 is invalid and init allocates nothing" {
    try testing.expectError(error.InvalidArgument, ElasticBuffer.init(testing.allocator, 0));
    var failing = testing.FailingAllocator.init(testing.allocator, .{ .fail_index = 0 });
    var buffer = try ElasticBuffer.init(failing.allocator(), 4096);
    defer buffer.deinit();
    try testing.expect(buffer.isEmpty());
    try testing.expectEqual(@as(usize, 0), failing.allocations);
}

test "ElasticBuffer: a first 5 KiB write with max 4 KiB lands entirely in the ring" {
    var buffer = try ElasticBuffer.init(testing.allocator, 4 * 1024);
    defer buffer.deinit();
    const bytes = patternBytes(5 * 1024, 1);
    try buffer.write(&bytes);
    try testing.expectEqual(@as(usize, 5 * 1024), buffer.parts.?.ring.buffered());
    try testing.expect(buffer.parts.?.list.isEmpty());
    // The ring is past the limit now, so the next write goes to the list.
    try buffer.write("tail");
    try testing.expectEqual(@as(usize, 4), buffer.parts.?.list.buffered());
    try expectContent(&buffer, &bytes ++ "tail");
}

test "ElasticBuffer: spills to the list when the ring is at max" {
    var buffer = try ElasticBuffer.init(testing.allocator, 1024);
    defer buffer.deinit();
    const first = patternBytes(1000, 2);
    const second = patternBytes(100, 3);
    try buffer.write(&first);
    try testing.expectEqual(@as(usize, 1024), buffer.parts.?.ring.capacity());
    // The ring is at the limit: its 24 free bytes fill, 76 spill to the list.
    try buffer.write(&second);
    try testing.expectEqual(@as(usize, 1024), buffer.parts.?.ring.buffered());
    try testing.expectEqual(@as(usize, 76), buffer.parts.?.list.buffered());
    // Freeing ring space does not pull later bytes ahead of the list.
    try testing.expectEqual(@as(usize, 500), buffer.discard(500));
    try buffer.write("xyz");
    try testing.expectEqual(@as(usize, 524), buffer.parts.?.ring.buffered());
    try testing.expectEqual(@as(usize, 79), buffer.parts.?.list.buffered());
    try expectContent(&buffer, first[500..] ++ second ++ "xyz");
}

test "ElasticBuffer: writev splits the chunk that does not fit" {
    var buffer = try ElasticBuffer.init(testing.allocator, 10);
    defer buffer.deinit();
    try buffer.writev(&.{ "abcd", "efgh", "ijkl", "mn" });
    // The ring (capacity 0 < max) may take max - buffered = 10 bytes: "abcd", "efgh",
    // then "ij" of the third chunk; "kl" and "mn" go to the list.
    try testing.expectEqual(@as(usize, 10), buffer.parts.?.ring.buffered());
    try testing.expectEqual(@as(usize, 2), buffer.parts.?.list.nodeCount());
    try testing.expectEqual(@as(usize, 4), buffer.parts.?.list.buffered());
    try expectContent(&buffer, "abcdefghijklmn");

    var out: [3][]const u8 = undefined;
    try testing.expectEqual(@as(usize, 2), buffer.peek(11, &out));
    try testing.expectEqualStrings("abcdefghij", out[0]);
    try testing.expectEqualStrings("k", out[1]);

    var bytes: [14]u8 = undefined;
    try testing.expectEqual(@as(usize, 14), buffer.read(&bytes));
    try testing.expectEqualStrings("abcdefghijklmn", &bytes);
    try testing.expect(buffer.isEmpty());
}

test "ElasticBuffer: writev behind a non-empty list goes wholly to the list" {
    var buffer = try ElasticBuffer.init(testing.allocator, 1024);
    defer buffer.deinit();
    try buffer.write(&patternBytes(1024, 4));
    try buffer.write("x");
    try testing.expectEqual(@as(usize, 1), buffer.parts.?.list.buffered());
    _ = buffer.discard(1000);
    try buffer.writev(&.{ "ab", "", "cd" });
    try testing.expectEqual(@as(usize, 24), buffer.parts.?.ring.buffered());
    try testing.expectEqual(@as(usize, 3), buffer.parts.?.list.nodeCount());
    try expectContent(&buffer, patternBytes(1024, 4)[1000..] ++ "xabcd");
}

test "ElasticBuffer: peek skips empty slices and stops when the slice array is full" {
    var buffer = try ElasticBuffer.init(testing.allocator, 4);
    defer buffer.deinit();
    try buffer.write("abcd"); // the ring reaches max, unwrapped: its tail slice is empty
    try buffer.write("ef");
    try buffer.write("gh");
    var out: [2][]const u8 = undefined;
    try testing.expectEqual(@as(usize, 2), buffer.peek(100, &out));
    try testing.expectEqualStrings("abcd", out[0]);
    try testing.expectEqualStrings("ef", out[1]);
    try testing.expectEqual(@as(usize, 1), buffer.peek(100, out[0..1]));
    try testing.expectEqual(@as(usize, 1), buffer.peek(3, &out));
    try testing.expectEqualStrings("abc", out[0]);
    try testing.expectEqual(@as(usize, 0), buffer.peek(100, out[0..0]));
    try testing.expectEqual(@as(usize, 0), buffer.peek(0, &out));
}

test "ElasticBuffer: reset, release and emptying free everything; the next write allocates again" {
    var buffer = try ElasticBuffer.init(testing.allocator, 16);
    defer buffer.deinit();
    try buffer.write(&patternBytes(2000, 5));
    try buffer.write("more");
    buffer.reset(0);
    try testing.expect(buffer.isEmpty());
    try testing.expect(buffer.parts == null);
    try testing.expectEqual(@as(usize, 16), buffer.max_static_bytes);
    buffer.reset(4096);
    try testing.expectEqual(@as(usize, 4096), buffer.max_static_bytes);
    try buffer.write("abc");
    try buffer.write("def");
    buffer.release();
    try testing.expect(buffer.isEmpty());
    try testing.expect(buffer.parts == null);
    try buffer.write("again");
    try expectContent(&buffer, "again");
    // Read or discarded to the end, the buffer gives its memory back (testing.allocator
    // would report a leak otherwise only at deinit: check the pointer itself).
    var out: [5]u8 = undefined;
    try testing.expectEqual(@as(usize, 5), buffer.read(&out));
    try testing.expect(buffer.parts == null);
    try buffer.writev(&.{ "ab", "", "cd" });
    try testing.expectEqual(@as(usize, 4), buffer.discard(10));
    try testing.expect(buffer.parts == null);
    // A writev of nothing but empty chunks keeps nothing either.
    try buffer.writev(&.{ "", "" });
    try testing.expect(buffer.parts == null);
}

test "ElasticBuffer: allocation failure in write and writev leaves the buffer unchanged and usable" {
    var failing = testing.FailingAllocator.init(testing.allocator, .{ .fail_index = 2 });
    var buffer = try ElasticBuffer.init(failing.allocator(), 1024);
    defer buffer.deinit();
    const first = patternBytes(1000, 6);
    try buffer.write(&first); // the two allowed allocations: the parts and the ring
    // Ring at the limit: 24 bytes would fit, the list push fails, the ring stays as it was.
    try testing.expectError(error.OutOfMemory, buffer.write(&patternBytes(100, 7)));
    try testing.expectError(error.OutOfMemory, buffer.writev(&.{ "ab", &patternBytes(100, 8), "cd" }));
    try testing.expectEqual(@as(usize, 1000), buffer.parts.?.ring.buffered());
    try testing.expect(buffer.parts.?.list.isEmpty());
    try expectContent(&buffer, &first);
    try buffer.write("fits"); // no allocation needed
    try buffer.writev(&.{ "in", "ring" });

    // Lift the failure to show the buffer still grows normally afterwards.
    failing.fail_index = std.math.maxInt(usize);
    try buffer.writev(&.{ "ab", &patternBytes(100, 8), "cd" });
    try expectContent(&buffer, first ++ "fitsinringab" ++ patternBytes(100, 8) ++ "cd");

    // A writev whose ring part needs growth fails before writing anything.
    var small = try ElasticBuffer.init(failing.allocator(), 4096);
    defer small.deinit();
    try small.write("abc");
    failing.fail_index = failing.alloc_index;
    try testing.expectError(error.OutOfMemory, small.writev(&.{ &patternBytes(2000, 9), &patternBytes(3000, 10) }));
    try expectContent(&small, "abc");
    try testing.expectEqual(@as(usize, 1024), small.parts.?.ring.capacity());

    // A first write refused at the parts, or at the ring after the parts: nothing is kept
    // (testing.allocator reports the parts if they leaked).
    var fresh = try ElasticBuffer.init(failing.allocator(), 4096);
    defer fresh.deinit();
    for ([_]usize{ 0, 1 }) |allowed| {
        failing.fail_index = failing.alloc_index + allowed;
        try testing.expectError(error.OutOfMemory, fresh.write("x"));
        try testing.expect(fresh.parts == null);
        failing.fail_index = failing.alloc_index + allowed;
        try testing.expectError(error.OutOfMemory, fresh.writev(&.{ "x", "y" }));
        try testing.expect(fresh.parts == null);
    }
}

test "ElasticBuffer: seeded random operations match a FIFO model" {
    const seeds = [_]u64{ 0x5EED_0004, 3, 0xFEEDFACE };
    try fifo.forEachSeed(&seeds, randomRun);
}

fn randomRun(allocator: Allocator, seed: u64) !void {
    const ops_count = 20_000;
    const write_bytes_max = 5000;
    const peek_slices_max = 16;
    var prng = std.Random.DefaultPrng.init(seed);
    const random = prng.random();

    var model = Model.init();
    defer model.deinit();
    var buffer = try ElasticBuffer.init(allocator, random.intRangeAtMost(usize, 1, 8192));
    defer buffer.deinit();
    var scratch: [write_bytes_max + 1024]u8 = undefined;
    var slices: [peek_slices_max][]const u8 = undefined;
    // Declared after the defers so it prints before they run (a deinit may assert on a
    // corrupted structure).
    errdefer std.debug.print("ElasticBuffer random test failed with seed {d}\n", .{seed});

    for (0..ops_count) |_| {
        switch (random.uintLessThan(u8, 100)) {
            0...24 => {
                const bytes = fifo.randomBytes(random, &scratch, write_bytes_max);
                try buffer.write(bytes);
                try model.append(bytes);
            },
            25...39 => try randomWritev(random, &buffer, &model, &scratch),
            40...59 => try fifo.expectRead(&buffer, &model, scratch[0..random.uintAtMost(usize, scratch.len)]),
            60...79 => try fifo.expectSlicesPeek(&buffer, &model, random.uintAtMost(usize, model.items().len + 100), slices[0..random.uintAtMost(usize, peek_slices_max)]),
            80...96 => try fifo.expectDiscard(&buffer, &model, random.uintAtMost(usize, 20_000)), // keeps the backlog from growing without bound
            97 => {
                buffer.reset(random.uintAtMost(usize, 8192));
                model.clear();
            },
            else => {
                buffer.release();
                model.clear();
            },
        }
        try testing.expectEqual(model.items().len, buffer.buffered());
        try testing.expectEqual(model.items().len == 0, buffer.isEmpty());
    }
}

/// One writev of up to `writev_chunks_max` chunks: consecutive pieces of one random block.
fn randomWritev(random: std.Random, buffer: *ElasticBuffer, model: *Model, scratch: []u8) !void {
    const writev_chunks_max = 8;
    var chunks: [writev_chunks_max][]const u8 = undefined;
    const chunks_count = random.uintAtMost(usize, writev_chunks_max);
    var offset: usize = 0;
    for (chunks[0..chunks_count]) |*chunk| {
        const len = random.uintAtMost(usize, (scratch.len - offset) / 2);
        random.bytes(scratch[offset..][0..len]);
        chunk.* = scratch[offset..][0..len];
        offset += len;
    }
    assert(offset <= scratch.len);
    try buffer.writev(chunks[0..chunks_count]);
    try model.append(scratch[0..offset]);
}

const fifo = @import("fifo_model.zig");
const Model = fifo.Model;
