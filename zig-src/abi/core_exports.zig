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
const boundary = @import("../boundary.zig");
const Code = core.status.Code;
const assert = std.debug.assert;
const codec_mod = core.codec;

const page_heap = @import("page_heap.zig");

/// wasm: our own heap (page_heap.zig says why not std's); native: libc's malloc, which hands
/// big blocks back to the OS when freed.
pub const allocator: std.mem.Allocator = if (builtin.target.cpu.arch.isWasm())
    .{ .ptr = &wasm_heap, .vtable = &WasmHeap.vtable }
else
    std.heap.c_allocator;

const WasmHeap = page_heap.PageHeap(page_heap.WasmMemory);
var wasm_heap: WasmHeap = .{ .memory = .{} };

/// One table per thread: a handle names an object of the thread that made it, as the
/// JavaScript object holding it lives on that thread only (event loops on worker threads).
threadlocal var table: handles.Table = .{};

/// Bumped whenever an exported signature changes; the host refuses a mismatched artifact.
pub const abi_version: u32 = 1;

fn fail(code: Code) isize {
    assert(code != .ok);
    const result: isize = @intFromEnum(code);
    assert(result < 0);
    return result;
}

/// A (pointer, length) argument as a slice; null when the pointer is missing for a non-empty length.
pub fn bytesIn(ptr: ?[*]const u8, len: usize) ?[]const u8 {
    if (len == 0) return &.{};
    const bytes = (ptr orelse return null)[0..len];
    assert(bytes.len == len);
    return bytes;
}

pub fn bytesOut(ptr: ?[*]u8, len: usize) ?[]u8 {
    if (len == 0) return &.{};
    const bytes = (ptr orelse return null)[0..len];
    assert(bytes.len == len);
    return bytes;
}

// ---- generic ---------------------------------------------------------------------------

pub export fn zg_abi_version() u32 {
    return abi_version;
}

/// The `ERR_*` name of a status code, as a NUL-terminated string; null for a value that is not a code.
pub export fn zg_status_name(code: i32) ?[*:0]const u8 {
    if (code > Code.first or code < Code.last) return null;
    const text = @as(Code, @enumFromInt(code)).name();
    assert(text.len > 0 and text.len < boundary.text_bytes_max);
    return text.ptr;
}

/// Staging memory the host fills before a call (wasm) — unused by the native host. 16-byte
/// aligned so the host can lay typed arrays (the frame table) over it.
const staging_alignment = 16;

pub export fn zg_alloc(len: usize) ?[*]u8 {
    const bytes = allocator.alignedAlloc(u8, staging_alignment, @max(len, 1)) catch |err| switch (err) {
        error.OutOfMemory => return null, // the host reports it (wasm memory exhausted)
    };
    assert(@intFromPtr(bytes.ptr) % staging_alignment == 0);
    return bytes.ptr;
}

pub export fn zg_free(ptr: ?[*]u8, len: usize) void {
    const p: [*]align(staging_alignment) u8 = @alignCast(ptr orelse return);
    allocator.free(p[0..@max(len, 1)]);
}

/// Frees any object a handle names. Freeing twice answers `invalid_handle`.
pub export fn zg_release(handle: i32) isize {
    const slot = table.lookup(handle) orelse return fail(.invalid_handle);
    const ptr = slot.ptr.?;
    switch (slot.kind) {
        inline else => |kind| destroy(KindType(kind), ptr),
    }
    table.remove(handle);
    assert(table.lookup(handle) == null);
    return 0;
}

fn KindType(comptime kind: handles.Kind) type {
    return switch (kind) {
        .ring => core.RingBuffer,
        .elastic_ring => core.ElasticRingBuffer,
        .linked_list => core.LinkedListBuffer,
        .elastic => core.ElasticBuffer,
        .codec => CodecObject,
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
    const handle = table.put(allocator, kind, created) catch |err| switch (err) {
        error.OutOfMemory => {
            destroy(T, created);
            return fail(.out_of_memory);
        },
    };
    assert(handle > 0);
    assert(table.get(handle, kind) != null);
    return handle;
}

/// A codec as the ABI holds it: with an id never reused, which names the codec's scan state
/// in every stream it decodes (a handle can come back after 128 release/create cycles).
pub const CodecObject = struct {
    codec: codec_mod.Codec,
    id: u64,
};

/// Per thread, as the table: a codec decodes only the streams of its own thread's loop.
threadlocal var next_codec_id: u64 = 1;

fn adoptCodec(c: codec_mod.Codec) isize {
    defer next_codec_id += 1;
    return adopt(.codec, .{ .codec = c, .id = next_codec_id });
}

/// The codec a handle names, for the engine's decode of a connection's inbound stream.
pub fn codecByHandle(handle: i32) ?*const CodecObject {
    return object(.codec, handle);
}

fn object(comptime kind: handles.Kind, handle: i32) ?*KindType(kind) {
    const slot = table.get(handle, kind) orelse return null;
    return @ptrCast(@alignCast(slot.ptr.?));
}

// ---- buffers ---------------------------------------------------------------------------

pub const BufferKind = enum(u32) { ring = 0, elastic_ring = 1, linked_list = 2, elastic = 3 };

/// `size`: the initial capacity of a ring; `max_static_bytes` of an elastic buffer; unused otherwise.
/// Results are `isize` (an i32 in wasm), so no buffer may hold more bytes than that counts:
/// past it a write is `out_of_memory`, like any allocation wasm memory cannot hold.
const count_max: usize = std.math.maxInt(isize);

pub export fn zg_buffer_new(kind: u32, size: usize) isize {
    const k = std.meta.intToEnum(BufferKind, kind) catch return fail(.invalid_argument);
    return switch (k) {
        // A ring rounds its size up to a power of two, which must stay countable.
        .ring => blk: {
            if (size > count_max / 2 + 1) break :blk fail(.out_of_memory);
            break :blk adopt(.ring, core.RingBuffer.init(allocator, size) catch return fail(.out_of_memory));
        },
        .elastic_ring => adopt(.elastic_ring, core.ElasticRingBuffer.init(allocator)),
        .linked_list => adopt(.linked_list, core.LinkedListBuffer.init(allocator)),
        .elastic => adopt(.elastic, core.ElasticBuffer.init(allocator, size) catch return fail(.invalid_argument)),
    };
}

/// Calls `body(comptime kind, buffer)` with the typed buffer a handle names.
fn withBuffer(handle: i32, ctx: anytype, comptime body: anytype) isize {
    const slot = table.lookup(handle) orelse return fail(.invalid_handle);
    return switch (slot.kind) {
        inline .ring, .elastic_ring, .linked_list, .elastic => |kind| {
            const buffer: *KindType(kind) = @ptrCast(@alignCast(slot.ptr.?));
            return body(kind, slot, buffer, ctx);
        },
        else => fail(.invalid_handle),
    };
}

pub export fn zg_buffer_write(handle: i32, ptr: ?[*]const u8, len: usize) isize {
    const bytes = bytesIn(ptr, len) orelse return fail(.invalid_argument);
    return withBuffer(handle, bytes, struct {
        fn f(comptime kind: handles.Kind, _: *handles.Slot, buffer: anytype, data: []const u8) isize {
            if (data.len > count_max - buffer.buffered()) return fail(.out_of_memory);
            const result = if (kind == .linked_list) buffer.pushBack(data) else buffer.write(data);
            result catch return fail(.out_of_memory);
            assert(buffer.buffered() <= count_max);
            return @intCast(data.len);
        }
    }.f);
}

pub export fn zg_buffer_read(handle: i32, ptr: ?[*]u8, len: usize) isize {
    const out = bytesOut(ptr, len) orelse return fail(.invalid_argument);
    return withBuffer(handle, out, struct {
        fn f(comptime _: handles.Kind, slot: *handles.Slot, buffer: anytype, target: []u8) isize {
            const n = buffer.read(target);
            assert(n <= target.len);
            slot.scan_hints.consume(n);
            return @intCast(n);
        }
    }.f);
}

/// Copies the first min(len, buffered) bytes without consuming them.
pub export fn zg_buffer_peek(handle: i32, ptr: ?[*]u8, len: usize) isize {
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
            assert(copied <= target.len);
            return @intCast(copied);
        }
    }.f);
}

pub export fn zg_buffer_discard(handle: i32, n: usize) isize {
    return withBuffer(handle, n, struct {
        fn f(comptime _: handles.Kind, slot: *handles.Slot, buffer: anytype, count: usize) isize {
            const discarded = buffer.discard(count);
            assert(discarded <= count);
            slot.scan_hints.consume(discarded);
            return @intCast(discarded);
        }
    }.f);
}

pub const BufferInfo = enum(u32) { buffered = 0, available = 1, capacity = 2, is_empty = 3 };

pub export fn zg_buffer_info(handle: i32, which: u32) isize {
    const info = std.meta.intToEnum(BufferInfo, which) catch return fail(.invalid_argument);
    return withBuffer(handle, info, struct {
        fn f(comptime kind: handles.Kind, _: *handles.Slot, buffer: anytype, what: BufferInfo) isize {
            const value: usize = switch (what) {
                .buffered => buffer.buffered(),
                .is_empty => @intFromBool(buffer.isEmpty()),
                .available => if (kind == .ring or kind == .elastic_ring) buffer.available() else 0,
                .capacity => if (kind == .ring or kind == .elastic_ring) buffer.capacity() else buffer.buffered(),
            };
            if (what == .is_empty) assert((value == 1) == (buffer.buffered() == 0));
            // Buffered bytes never pass count_max (see zg_buffer_write); a ring grown past it
            // by its growth policy reports capacity and room as count_max.
            return @intCast(@min(value, count_max));
        }
    }.f);
}

/// Drops the content. `release` != 0 also gives the memory back (elastic buffer: its ring;
/// elastic rings and lists free theirs on any reset; a plain ring keeps its capacity, as gnet's).
pub export fn zg_buffer_reset(handle: i32, release: u32) isize {
    return withBuffer(handle, release != 0, struct {
        fn f(comptime kind: handles.Kind, slot: *handles.Slot, buffer: anytype, free_memory: bool) isize {
            slot.scan_hints.reset();
            if (kind == .elastic) {
                if (free_memory) buffer.release() else buffer.reset(buffer.max_static_bytes);
            } else buffer.reset();
            assert(buffer.isEmpty());
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

pub export fn zg_codec_new_delimiter(delimiter_ptr: ?[*]const u8, delimiter_len: usize, max_frame_length: usize) isize {
    const delimiter = bytesIn(delimiter_ptr, delimiter_len) orelse return fail(.invalid_argument);
    const c = codec_mod.Delimiter.init(delimiter, max_frame_length) catch |err| return codecError(err);
    return adoptCodec(.{ .delimiter = c });
}

pub export fn zg_codec_new_fixed_length(frame_length: usize) isize {
    const c = codec_mod.FixedLength.init(frame_length) catch |err| return codecError(err);
    return adoptCodec(.{ .fixed_length = c });
}

pub export fn zg_codec_new_length_field(
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
    return adoptCodec(.{ .length_field = c });
}

/// Size of the first frame that did not fit the caller's output (see `scanInto`).
threadlocal var frame_len_required: usize = 0;

pub export fn zg_codec_frame_len_required() isize {
    return @intCast(frame_len_required);
}

/// Each decoded frame is reported as two i32 in the caller's `frames` array:
/// payload length, then how many stream bytes the frame occupies.
pub const frame_record_words = 2;

/// The core's named integers, checked by the host at load (boundary.zig).
pub const items = [_]boundary.Item{
    .{ .name = "abi_version", .value = abi_version },
    .{ .name = "frame_record_words", .value = frame_record_words },
} ++ boundary.enumItems("buffer_kind", BufferKind) ++
    boundary.enumItems("buffer_info", BufferInfo) ++
    boundary.enumItems("lb_policy", core.load_balancer.Policy);

/// Decodes up to `frames.len / 2` whole frames from the front of `input` WITHOUT consuming
/// them: payloads are copied one after another into `out`, their lengths into `frames`. The
/// caller consumes a frame's bytes only when it hands the frame out, so frames decoded ahead
/// but never asked for stay in the stream. Returns the number of frames (>= 1), or:
/// `incomplete` when not even one frame is whole; `buffer_too_small` when the first frame does
/// not fit `out` (`zg_codec_frame_len_required` tells its size); a codec error when the first
/// frame is malformed (an error after some good frames ends the batch; the next scan reports it).
/// `hints` is the stream's scan state; only this codec's entry is read or moved.
pub fn scanInto(object_: *const CodecObject, input: codec_mod.Input, hints: *codec_mod.ScanHints, out: []u8, frames: []i32) isize {
    assert(frames.len >= frame_record_words);
    const codec = &object_.codec;
    // Only the delimiter codec keeps a hint; the others must not evict one.
    var no_hint: usize = 0;
    const scan_hint = if (codec.* == .delimiter) hints.get(object_.id) else &no_hint;
    const frames_max = frames.len / frame_record_words;
    var count: usize = 0;
    var scanned: usize = 0;
    var written: usize = 0;
    // Only the first frame uses the stream's scan hint: later frames start at a frame boundary.
    var local_hint: usize = 0;
    while (count < frames_max) {
        const rest = input.advance(scanned);
        const hint = if (count == 0) scan_hint else &local_hint;
        local_hint = 0;
        const frame = (codec.decode(rest, hint) catch |err| {
            if (count == 0) return codecError(err);
            break;
        }) orelse {
            if (count == 0) return fail(.incomplete);
            break;
        };
        assert(frame.consume_len > 0 and frame.consume_len <= rest.len());
        assert(frame.payload_start + frame.payload_len <= frame.consume_len);
        if (frame.payload_len > out.len - written or frame.payload_len > std.math.maxInt(i32)) {
            if (count == 0) {
                frame_len_required = frame.payload_len;
                return fail(.buffer_too_small);
            }
            break;
        }
        rest.copyOut(frame.payload_start, out[written..][0..frame.payload_len]);
        frames[count * frame_record_words] = @intCast(frame.payload_len);
        frames[count * frame_record_words + 1] = @intCast(frame.consume_len);
        written += frame.payload_len;
        scanned += frame.consume_len;
        count += 1;
    }
    assert(count >= 1 and scanned <= input.len());
    return @intCast(count);
}

/// Removes `discard` bytes from the front of a ring (the frames the host handed out since the
/// last call), then `scanInto` from what remains. `out` is `out_ptr[out_offset..out_len]`: the
/// host hands one slab and moves along it. One call per batch of frames, not per frame.
pub export fn zg_codec_scan(
    codec_handle: i32,
    source: i32,
    discard: usize,
    out_ptr: ?[*]u8,
    out_len: usize,
    out_offset: usize,
    frames_ptr: ?[*]i32,
    frames_len: usize,
) isize {
    const codec = object(.codec, codec_handle) orelse return fail(.invalid_handle);
    if (out_offset > out_len or frames_len < frame_record_words) return fail(.invalid_argument);
    const out = (bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument))[out_offset..];
    const frames = (frames_ptr orelse return fail(.invalid_argument))[0..frames_len];
    const slot = table.lookup(source) orelse return fail(.invalid_handle);
    return switch (slot.kind) {
        inline .ring, .elastic_ring => |kind| blk: {
            const buffer: *KindType(kind) = @ptrCast(@alignCast(slot.ptr.?));
            if (discard > buffer.buffered()) break :blk fail(.invalid_argument);
            if (discard > 0) {
                assert(buffer.discard(discard) == discard);
                slot.scan_hints.consume(discard);
            }
            const parts = buffer.peek(buffer.buffered());
            const input: codec_mod.Input = .{ .parts = .{ parts[0], parts[1], &.{} } };
            break :blk scanInto(codec, input, &slot.scan_hints, out, frames);
        },
        else => fail(.invalid_handle),
    };
}

/// Header + payload + trailer into `out`, which must hold `zg_codec_encoded_len` bytes.
pub export fn zg_codec_encode(codec_handle: i32, payload_ptr: ?[*]const u8, payload_len: usize, out_ptr: ?[*]u8, out_len: usize) isize {
    const codec = &(object(.codec, codec_handle) orelse return fail(.invalid_handle)).codec;
    const payload = bytesIn(payload_ptr, payload_len) orelse return fail(.invalid_argument);
    const out = bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument);
    const header_len = codec.headerLen();
    const trailer = codec.trailer();
    const total = header_len + payload.len + trailer.len;
    if (out.len < total) return fail(.buffer_too_small);
    codec.writeHeader(payload.len, out[0..header_len]) catch |err| return codecError(err);
    @memcpy(out[header_len..][0..payload.len], payload);
    @memcpy(out[header_len + payload.len ..][0..trailer.len], trailer);
    assert(total <= out.len);
    return @intCast(total);
}

/// Only the header, for a write that sends header, payload and trailer without joining them.
pub export fn zg_codec_header(codec_handle: i32, payload_len: usize, out_ptr: ?[*]u8, out_len: usize) isize {
    const codec = &(object(.codec, codec_handle) orelse return fail(.invalid_handle)).codec;
    const out = bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument);
    const header_len = codec.headerLen();
    if (out.len < header_len) return fail(.buffer_too_small);
    codec.writeHeader(payload_len, out[0..header_len]) catch |err| return codecError(err);
    assert(header_len <= out.len);
    return @intCast(header_len);
}

pub export fn zg_codec_header_len(codec_handle: i32) isize {
    const codec = &(object(.codec, codec_handle) orelse return fail(.invalid_handle)).codec;
    return @intCast(codec.headerLen());
}

pub export fn zg_codec_trailer_len(codec_handle: i32) isize {
    const codec = &(object(.codec, codec_handle) orelse return fail(.invalid_handle)).codec;
    return @intCast(codec.trailer().len);
}

// ---- load balancing --------------------------------------------------------------------

const lb_mod = core.load_balancer;

pub export fn zg_lb_new(policy: u32, loops_count: u32) isize {
    const p = std.meta.intToEnum(lb_mod.Policy, policy) catch return fail(.invalid_argument);
    const lb = lb_mod.LoadBalancer.init(p, loops_count) catch return fail(.invalid_argument);
    assert(lb.loops_count == loops_count);
    return adopt(.load_balancer, lb);
}

/// The loop for a new connection from `remote_addr` (Go's "ip:port" form; may be empty).
pub export fn zg_lb_next(handle: i32, addr_ptr: ?[*]const u8, addr_len: usize) isize {
    const lb = object(.load_balancer, handle) orelse return fail(.invalid_handle);
    const addr = bytesIn(addr_ptr, addr_len) orelse return fail(.invalid_argument);
    const index = lb.next(addr);
    assert(index < lb.loops_count);
    return @intCast(index);
}

/// delta +1 when a connection opens on `index`, -1 when it closes; returns the new count.
pub export fn zg_lb_update(handle: i32, index: u32, delta: i32) isize {
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
    if (delta == 1) assert(lb.connCount(index) > 0);
    return @intCast(lb.connCount(index));
}

/// The exports as Zig declarations, for the fuzz targets (zig-src/fuzz), which drive the core
/// through exactly the calls the hosts make.
pub const api = struct {
    pub const release = zg_release;
    pub const buffer_new = zg_buffer_new;
    pub const buffer_write = zg_buffer_write;
    pub const buffer_read = zg_buffer_read;
    pub const buffer_peek = zg_buffer_peek;
    pub const buffer_discard = zg_buffer_discard;
    pub const buffer_info = zg_buffer_info;
    pub const buffer_reset = zg_buffer_reset;
    pub const codec_new_delimiter = zg_codec_new_delimiter;
    pub const codec_new_fixed_length = zg_codec_new_fixed_length;
    pub const codec_new_length_field = zg_codec_new_length_field;
    pub const codec_scan = zg_codec_scan;
    pub const codec_frame_len_required = zg_codec_frame_len_required;
};

test {
    _ = page_heap;
}

test "core exports: a released handle is refused everywhere" {
    const h: i32 = @intCast(zg_buffer_new(@intFromEnum(BufferKind.elastic_ring), 0));
    try std.testing.expect(h > 0);
    try std.testing.expectEqual(@as(isize, 3), zg_buffer_write(h, "abc", 3));
    try std.testing.expectEqual(@as(isize, 0), zg_release(h));
    try std.testing.expectEqual(fail(.invalid_handle), zg_release(h));
    try std.testing.expectEqual(fail(.invalid_handle), zg_buffer_write(h, "abc", 3));
    var frames: [2]i32 = undefined;
    try std.testing.expectEqual(fail(.invalid_handle), zg_codec_scan(h, h, 0, null, 0, 0, &frames, frames.len));
}

test "core exports: length-field decode from a ring, then a hostile header" {
    const codec: i32 = @intCast(zg_codec_new_length_field(1, 0, 2, 0, 2, 1024));
    defer _ = zg_release(codec);
    const ring: i32 = @intCast(zg_buffer_new(@intFromEnum(BufferKind.elastic_ring), 0));
    defer _ = zg_release(ring);
    var out: [16]u8 = undefined;
    var frames: [8]i32 = undefined;
    _ = zg_buffer_write(ring, "\x00\x03ab", 4);
    try std.testing.expectEqual(fail(.incomplete), zg_codec_scan(codec, ring, 0, &out, out.len, 0, &frames, frames.len));
    _ = zg_buffer_write(ring, "c\x00\x01z\xff\xff", 6);
    // Two frames, then a hostile header: the batch stops before it and consumes nothing.
    try std.testing.expectEqual(@as(isize, 2), zg_codec_scan(codec, ring, 0, &out, out.len, 0, &frames, frames.len));
    try std.testing.expectEqualStrings("abcz", out[0..4]);
    try std.testing.expectEqualSlices(i32, &.{ 3, 5, 1, 3 }, frames[0..4]);
    try std.testing.expectEqual(@as(isize, 10), zg_buffer_info(ring, @intFromEnum(BufferInfo.buffered)));
    // The host hands both out, then scans again: the hostile header now fails, nothing consumed.
    try std.testing.expectEqual(fail(.frame_too_large), zg_codec_scan(codec, ring, 8, &out, out.len, 0, &frames, frames.len));
    try std.testing.expectEqual(@as(isize, 2), zg_buffer_info(ring, @intFromEnum(BufferInfo.buffered)));
    // A first frame larger than the output is reported with its size.
    _ = zg_buffer_reset(ring, 0);
    _ = zg_buffer_write(ring, "\x00\x14" ++ "x" ** 20, 22);
    try std.testing.expectEqual(fail(.buffer_too_small), zg_codec_scan(codec, ring, 0, &out, out.len, 0, &frames, frames.len));
    try std.testing.expectEqual(@as(isize, 20), zg_codec_frame_len_required());
}
