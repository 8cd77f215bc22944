//! The exported functions of the pure core, compiled into both artifacts. Conventions:
//! - objects are named by handles (handles.zig); results are `isize` (koffi `intptr_t`,
//!   wasm i32): >= 0 is a value, < 0 a `status.Code`;
//! - byte arguments are (pointer, length) pairs: a Buffer passed by koffi without a copy, or an
//!   offset into wasm memory the host filled;
//! - nothing here calls back into the host.
const std = @import("std");
const builtin = @import("builtin");
const core = @import("../core/root.zig");
const handles = @import("handles.zig");
const Code = core.status.Code;
const codec_mod = core.codec;

pub const allocator: std.mem.Allocator = if (builtin.target.cpu.arch.isWasm())
    std.heap.wasm_allocator
else
    std.heap.c_allocator;

var table: handles.Table = .{};

/// Bumped whenever an exported signature changes; the host refuses a mismatched artifact.
pub const abi_version: u32 = 1;

fn fail(code: Code) isize {
    std.debug.assert(code != .ok);
    return @intFromEnum(code);
}

fn bytesIn(ptr: ?[*]const u8, len: usize) ?[]const u8 {
    if (len == 0) return &.{};
    return (ptr orelse return null)[0..len];
}

fn bytesOut(ptr: ?[*]u8, len: usize) ?[]u8 {
    if (len == 0) return &.{};
    return (ptr orelse return null)[0..len];
}

// ---- generic ---------------------------------------------------------------------------

export fn zg_abi_version() u32 {
    return abi_version;
}

/// The `ERR_*` name of a status code, as a NUL-terminated string; null for a value that is not a code.
export fn zg_status_name(code: i32) ?[*:0]const u8 {
    if (code > Code.first or code < Code.last) return null;
    return @as(Code, @enumFromInt(code)).name().ptr;
}

/// Memory the host fills before a call (wasm) — unused by the native host, harmless there.
export fn zg_alloc(len: usize) ?[*]u8 {
    const bytes = allocator.alloc(u8, @max(len, 1)) catch return null;
    return bytes.ptr;
}

export fn zg_free(ptr: ?[*]u8, len: usize) void {
    const p = ptr orelse return;
    allocator.free(p[0..@max(len, 1)]);
}

/// Frees any object a handle names. Freeing twice answers `invalid_handle`.
export fn zg_release(handle: i32) isize {
    const slot = table.lookup(handle) orelse return fail(.invalid_handle);
    const ptr = slot.ptr.?;
    switch (slot.kind) {
        inline else => |kind| destroy(KindType(kind), ptr),
    }
    table.remove(handle);
    return 0;
}

fn KindType(comptime kind: handles.Kind) type {
    return switch (kind) {
        .ring => core.RingBuffer,
        .elastic_ring => core.ElasticRingBuffer,
        .linked_list => core.LinkedListBuffer,
        .elastic => core.ElasticBuffer,
        .codec => codec_mod.Codec,
        .load_balancer => core.load_balancer.LoadBalancer,
    };
}

fn destroy(comptime T: type, ptr: *anyopaque) void {
    const typed: *T = @ptrCast(@alignCast(ptr));
    if (@hasDecl(T, "deinit")) typed.deinit();
    allocator.destroy(typed);
}

fn adopt(comptime kind: handles.Kind, value: KindType(kind)) isize {
    const T = KindType(kind);
    const created = allocator.create(T) catch {
        var v = value;
        if (@hasDecl(T, "deinit")) v.deinit();
        return fail(.out_of_memory);
    };
    created.* = value;
    const handle = table.put(allocator, kind, created) catch {
        destroy(T, created);
        return fail(.out_of_memory);
    };
    return handle;
}

fn object(comptime kind: handles.Kind, handle: i32) ?*KindType(kind) {
    const slot = table.get(handle, kind) orelse return null;
    return @ptrCast(@alignCast(slot.ptr.?));
}

// ---- buffers ---------------------------------------------------------------------------

pub const BufferKind = enum(u32) { ring = 0, elastic_ring = 1, linked_list = 2, elastic = 3 };

/// `size`: the initial capacity of a ring; `max_static_bytes` of an elastic buffer; unused otherwise.
export fn zg_buffer_new(kind: u32, size: usize) isize {
    const k = std.meta.intToEnum(BufferKind, kind) catch return fail(.invalid_argument);
    return switch (k) {
        .ring => adopt(.ring, core.RingBuffer.init(allocator, size) catch return fail(.out_of_memory)),
        .elastic_ring => adopt(.elastic_ring, core.ElasticRingBuffer.init(allocator)),
        .linked_list => adopt(.linked_list, core.LinkedListBuffer.init(allocator)),
        .elastic => adopt(.elastic, core.ElasticBuffer.init(allocator, size) catch return fail(.invalid_argument)),
    };
}

/// Calls `body(comptime kind, buffer)` with the typed buffer a handle names.
fn withBuffer(handle: i32, ctx: anytype, comptime body: anytype) isize {
    const slot = table.lookup(handle) orelse return fail(.invalid_handle);
    return switch (slot.kind) {
        inline .ring, .elastic_ring, .linked_list, .elastic => |kind| body(kind, slot, @as(*KindType(kind), @ptrCast(@alignCast(slot.ptr.?))), ctx),
        else => fail(.invalid_handle),
    };
}

export fn zg_buffer_write(handle: i32, ptr: ?[*]const u8, len: usize) isize {
    const bytes = bytesIn(ptr, len) orelse return fail(.invalid_argument);
    return withBuffer(handle, bytes, struct {
        fn f(comptime kind: handles.Kind, _: *handles.Slot, buffer: anytype, data: []const u8) isize {
            const result = if (kind == .linked_list) buffer.pushBack(data) else buffer.write(data);
            result catch return fail(.out_of_memory);
            return @intCast(data.len);
        }
    }.f);
}

export fn zg_buffer_read(handle: i32, ptr: ?[*]u8, len: usize) isize {
    const out = bytesOut(ptr, len) orelse return fail(.invalid_argument);
    return withBuffer(handle, out, struct {
        fn f(comptime _: handles.Kind, slot: *handles.Slot, buffer: anytype, target: []u8) isize {
            slot.scan_hint = 0;
            return @intCast(buffer.read(target));
        }
    }.f);
}

/// Copies the first min(len, buffered) bytes without consuming them.
export fn zg_buffer_peek(handle: i32, ptr: ?[*]u8, len: usize) isize {
    const out = bytesOut(ptr, len) orelse return fail(.invalid_argument);
    return withBuffer(handle, out, struct {
        fn f(comptime kind: handles.Kind, _: *handles.Slot, buffer: anytype, target: []u8) isize {
            var copied: usize = 0;
            switch (kind) {
                .ring, .elastic_ring => for (buffer.peek(target.len)) |part| {
                    @memcpy(target[copied..][0..part.len], part);
                    copied += part.len;
                },
                .linked_list, .elastic => {
                    // Bounded by `parts_max` per round; loop until the target is full.
                    const parts_max = 64;
                    var parts: [parts_max][]const u8 = undefined;
                    var skip: usize = 0;
                    while (copied < target.len) {
                        const n = buffer.peek(skip + (target.len - copied), &parts);
                        if (n == 0) break;
                        var progressed = false;
                        for (parts[0..n]) |part| {
                            if (skip >= part.len) {
                                skip -= part.len;
                                continue;
                            }
                            const chunk = part[skip..];
                            skip = 0;
                            const take = @min(chunk.len, target.len - copied);
                            @memcpy(target[copied..][0..take], chunk[0..take]);
                            copied += take;
                            progressed = true;
                        }
                        if (!progressed or n < parts_max) break;
                        skip = copied;
                    }
                },
                else => unreachable,
            }
            return @intCast(copied);
        }
    }.f);
}

export fn zg_buffer_discard(handle: i32, n: usize) isize {
    return withBuffer(handle, n, struct {
        fn f(comptime _: handles.Kind, slot: *handles.Slot, buffer: anytype, count: usize) isize {
            slot.scan_hint = 0;
            return @intCast(buffer.discard(count));
        }
    }.f);
}

pub const BufferInfo = enum(u32) { buffered = 0, available = 1, capacity = 2, is_empty = 3 };

export fn zg_buffer_info(handle: i32, which: u32) isize {
    const info = std.meta.intToEnum(BufferInfo, which) catch return fail(.invalid_argument);
    return withBuffer(handle, info, struct {
        fn f(comptime kind: handles.Kind, _: *handles.Slot, buffer: anytype, what: BufferInfo) isize {
            const value: usize = switch (what) {
                .buffered => buffer.buffered(),
                .is_empty => @intFromBool(buffer.isEmpty()),
                .available => if (kind == .ring or kind == .elastic_ring) buffer.available() else 0,
                .capacity => if (kind == .ring or kind == .elastic_ring) buffer.capacity() else buffer.buffered(),
            };
            return @intCast(value);
        }
    }.f);
}

/// Drops the content. For an elastic buffer `size` is the new max_static_bytes (0 keeps it).
export fn zg_buffer_reset(handle: i32) isize {
    return withBuffer(handle, {}, struct {
        fn f(comptime kind: handles.Kind, slot: *handles.Slot, buffer: anytype, _: void) isize {
            slot.scan_hint = 0;
            if (kind == .elastic) buffer.reset(buffer.max_static_bytes) else buffer.reset();
            return 0;
        }
    }.f);
}

// ---- codecs ----------------------------------------------------------------------------

fn codecError(err: codec_mod.Error) isize {
    return fail(switch (err) {
        error.FrameTooLarge => .frame_too_large,
        error.InvalidFrame => .invalid_frame,
        error.UnsupportedLength => .unsupported_length,
        error.InvalidFixedLength => .invalid_fixed_length,
        error.InvalidArgument => .invalid_argument,
    });
}

export fn zg_codec_new_delimiter(delimiter_ptr: ?[*]const u8, delimiter_len: usize, max_frame_length: usize) isize {
    const delimiter = bytesIn(delimiter_ptr, delimiter_len) orelse return fail(.invalid_argument);
    const c = codec_mod.Delimiter.init(delimiter, max_frame_length) catch |err| return codecError(err);
    return adopt(.codec, .{ .delimiter = c });
}

export fn zg_codec_new_fixed_length(frame_length: usize) isize {
    const c = codec_mod.FixedLength.init(frame_length) catch |err| return codecError(err);
    return adopt(.codec, .{ .fixed_length = c });
}

export fn zg_codec_new_length_field(
    big_endian: u32,
    length_field_offset: usize,
    length_field_length: usize,
    length_adjustment: isize,
    initial_bytes_to_strip: usize,
    max_frame_length: usize,
) isize {
    const c = codec_mod.LengthField.init(.{
        .big_endian = big_endian != 0,
        .length_field_offset = length_field_offset,
        .length_field_length = length_field_length,
        .length_adjustment = length_adjustment,
        .initial_bytes_to_strip = initial_bytes_to_strip,
        .max_frame_length = max_frame_length,
    }) catch |err| return codecError(err);
    return adopt(.codec, .{ .length_field = c });
}

/// Size of the last frame that did not fit the caller's output (see `zg_codec_decode`).
var frame_len_required: usize = 0;

export fn zg_codec_frame_len_required() isize {
    return @intCast(frame_len_required);
}

/// Decodes one frame from a stream, copies its payload into `out` and consumes it.
/// Returns the payload length; `incomplete` while the frame is not whole; `buffer_too_small`
/// (nothing consumed; `zg_codec_frame_len_required` tells the size) when `out` is short;
/// codec errors consume nothing.
pub fn decodeInto(
    codec: *const codec_mod.Codec,
    input: codec_mod.Input,
    scan_hint: *usize,
    out: []u8,
) DecodeResult {
    const frame = (codec.decode(input, scan_hint) catch |err| return .{ .status = codecError(err) }) orelse
        return .{ .status = fail(.incomplete) };
    std.debug.assert(frame.payload_start + frame.payload_len <= frame.consume_len);
    std.debug.assert(frame.consume_len <= input.len());
    if (frame.payload_len > out.len) {
        frame_len_required = frame.payload_len;
        return .{ .status = fail(.buffer_too_small) };
    }
    input.copyOut(frame.payload_start, out[0..frame.payload_len]);
    return .{ .status = @intCast(frame.payload_len), .consume_len = frame.consume_len };
}

pub const DecodeResult = struct { status: isize, consume_len: usize = 0 };

/// `out` is `out_ptr[out_offset..out_len]`: the host hands one slab and moves along it, so
/// frames are owned slices of it without a copy per frame or an FFI view per slab.
export fn zg_codec_decode(codec_handle: i32, source: i32, out_ptr: ?[*]u8, out_len: usize, out_offset: usize) isize {
    const codec = object(.codec, codec_handle) orelse return fail(.invalid_handle);
    if (out_offset > out_len) return fail(.invalid_argument);
    const out = (bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument))[out_offset..];
    const slot = table.lookup(source) orelse return fail(.invalid_handle);
    return switch (slot.kind) {
        inline .ring, .elastic_ring => |kind| blk: {
            const buffer: *KindType(kind) = @ptrCast(@alignCast(slot.ptr.?));
            const parts = buffer.peek(buffer.buffered());
            const input: codec_mod.Input = .{ .parts = .{ parts[0], parts[1], &.{} } };
            const result = decodeInto(codec, input, &slot.scan_hint, out);
            if (result.status >= 0) {
                std.debug.assert(buffer.discard(result.consume_len) == result.consume_len);
                slot.scan_hint = 0;
            }
            break :blk result.status;
        },
        else => fail(.invalid_handle),
    };
}

/// Header + payload + trailer into `out`, which must hold `zg_codec_encoded_len` bytes.
export fn zg_codec_encode(codec_handle: i32, payload_ptr: ?[*]const u8, payload_len: usize, out_ptr: ?[*]u8, out_len: usize) isize {
    const codec = object(.codec, codec_handle) orelse return fail(.invalid_handle);
    const payload = bytesIn(payload_ptr, payload_len) orelse return fail(.invalid_argument);
    const out = bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument);
    const header_len = codec.headerLen();
    const trailer = codec.trailer();
    const total = header_len + payload.len + trailer.len;
    if (out.len < total) return fail(.buffer_too_small);
    codec.writeHeader(payload.len, out[0..header_len]) catch |err| return codecError(err);
    @memcpy(out[header_len..][0..payload.len], payload);
    @memcpy(out[header_len + payload.len ..][0..trailer.len], trailer);
    return @intCast(total);
}

/// Only the header, for a write that sends header, payload and trailer without joining them.
export fn zg_codec_header(codec_handle: i32, payload_len: usize, out_ptr: ?[*]u8, out_len: usize) isize {
    const codec = object(.codec, codec_handle) orelse return fail(.invalid_handle);
    const out = bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument);
    const header_len = codec.headerLen();
    if (out.len < header_len) return fail(.buffer_too_small);
    codec.writeHeader(payload_len, out[0..header_len]) catch |err| return codecError(err);
    return @intCast(header_len);
}

export fn zg_codec_header_len(codec_handle: i32) isize {
    const codec = object(.codec, codec_handle) orelse return fail(.invalid_handle);
    return @intCast(codec.headerLen());
}

export fn zg_codec_trailer_len(codec_handle: i32) isize {
    const codec = object(.codec, codec_handle) orelse return fail(.invalid_handle);
    return @intCast(codec.trailer().len);
}

// ---- load balancing --------------------------------------------------------------------

const lb_mod = core.load_balancer;

export fn zg_lb_new(policy: u32, loops_count: u32) isize {
    const p = std.meta.intToEnum(lb_mod.Policy, policy) catch return fail(.invalid_argument);
    const lb = lb_mod.LoadBalancer.init(p, loops_count) catch return fail(.invalid_argument);
    return adopt(.load_balancer, lb);
}

/// The loop for a new connection from `remote_addr` (Go's "ip:port" form; may be empty).
export fn zg_lb_next(handle: i32, addr_ptr: ?[*]const u8, addr_len: usize) isize {
    const lb = object(.load_balancer, handle) orelse return fail(.invalid_handle);
    const addr = bytesIn(addr_ptr, addr_len) orelse return fail(.invalid_argument);
    return @intCast(lb.next(addr));
}

/// delta +1 when a connection opens on `index`, -1 when it closes; returns the new count.
export fn zg_lb_update(handle: i32, index: u32, delta: i32) isize {
    const lb = object(.load_balancer, handle) orelse return fail(.invalid_handle);
    if (index >= lb.loops_count) return fail(.invalid_argument);
    switch (delta) {
        1 => lb.connOpened(index),
        -1 => {
            if (lb.connCount(index) == 0) return fail(.invalid_argument);
            lb.connClosed(index);
        },
        0 => {},
        else => return fail(.invalid_argument),
    }
    return @intCast(lb.connCount(index));
}

test "core exports: a released handle is refused everywhere" {
    const h: i32 = @intCast(zg_buffer_new(@intFromEnum(BufferKind.elastic_ring), 0));
    try std.testing.expect(h > 0);
    try std.testing.expectEqual(@as(isize, 3), zg_buffer_write(h, "abc", 3));
    try std.testing.expectEqual(@as(isize, 0), zg_release(h));
    try std.testing.expectEqual(fail(.invalid_handle), zg_release(h));
    try std.testing.expectEqual(fail(.invalid_handle), zg_buffer_write(h, "abc", 3));
    try std.testing.expectEqual(fail(.invalid_handle), zg_codec_decode(h, h, null, 0, 0));
}

test "core exports: length-field decode from a ring, then a hostile header" {
    const codec: i32 = @intCast(zg_codec_new_length_field(1, 0, 2, 0, 2, 1024));
    defer _ = zg_release(codec);
    const ring: i32 = @intCast(zg_buffer_new(@intFromEnum(BufferKind.elastic_ring), 0));
    defer _ = zg_release(ring);
    var out: [16]u8 = undefined;
    _ = zg_buffer_write(ring, "\x00\x03ab", 4);
    try std.testing.expectEqual(fail(.incomplete), zg_codec_decode(codec, ring, &out, out.len, 0));
    _ = zg_buffer_write(ring, "c\xff\xff", 3);
    try std.testing.expectEqual(@as(isize, 3), zg_codec_decode(codec, ring, &out, out.len, 0));
    try std.testing.expectEqualStrings("abc", out[0..3]);
    try std.testing.expectEqual(fail(.frame_too_large), zg_codec_decode(codec, ring, &out, out.len, 0));
    try std.testing.expectEqual(@as(isize, 2), zg_buffer_info(ring, @intFromEnum(BufferInfo.buffered)));
}
