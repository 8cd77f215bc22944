//! Fuzz targets for the pure core, driven through the same exported functions the hosts call
//! (handles, rings, batch scans, scan hints), each checked against model.zig after every step.
//! An input is a little program: its first bytes configure, the rest is a list of operations
//! that take their data from the input itself. Any input is valid; every run must end with
//! no crash, no safety panic (the runner builds ReleaseSafe) and no divergence from the model.
const std = @import("std");
const abi = @import("../abi/core_exports.zig");
const api = abi.api;
const model = @import("model.zig");
const Code = @import("../core/status.zig").Code;
const core = @import("../core/root.zig");
const page_heap = @import("../abi/page_heap.zig");

pub const Failure = error{Diverged};

/// Reads an input front to back; past the end everything reads as zero.
const Reader = struct {
    bytes: []const u8,
    at: usize = 0,

    fn byte(r: *Reader) u8 {
        if (r.at >= r.bytes.len) return 0;
        defer r.at += 1;
        return r.bytes[r.at];
    }

    fn take(r: *Reader, n: usize) []const u8 {
        const k = @min(n, r.bytes.len - @min(r.at, r.bytes.len));
        defer r.at += k;
        return r.bytes[@min(r.at, r.bytes.len)..][0..k];
    }

    fn done(r: *const Reader) bool {
        return r.at >= r.bytes.len;
    }
};

fn check(ok: bool, comptime what: []const u8, args: anytype) Failure!void {
    if (ok) return;
    std.debug.print("fuzz divergence: " ++ what ++ "\n", args);
    return error.Diverged;
}

fn code(c: Code) isize {
    return @intFromEnum(c);
}

/// A codec created through the ABI and the rule the model applies for it.
const Pair = struct { handle: i32, rule: model.Rule, delimiter: [3]u8 = undefined };

fn makeCodec(r: *Reader, pair: *Pair) void {
    const kind = r.byte() % 3;
    switch (kind) {
        0 => {
            const len = 1 + r.byte() % 3;
            for (pair.delimiter[0..len]) |*b| b.* = r.byte() % 4; // few distinct bytes: frames end often
            const max = 1 + @as(usize, r.byte()) * 2;
            pair.rule = .{ .delimiter = .{ .bytes = pair.delimiter[0..len], .max = max } };
            pair.handle = @intCast(api.codec_new_delimiter(&pair.delimiter, len, max));
        },
        1 => {
            const n = 1 + @as(usize, r.byte() % 16);
            pair.rule = .{ .fixed = n };
            pair.handle = @intCast(api.codec_new_fixed_length(n));
        },
        else => {
            const fields = [_]usize{ 1, 2, 3, 4, 8 };
            const b = r.byte();
            const field = fields[b % 5];
            const offset: usize = (b >> 3) % 4;
            const adjustment: i64 = @as(i8, @bitCast(r.byte())) >> 2;
            const strip: usize = r.byte() % @as(u8, @intCast(offset + field + 4));
            const max: usize = 1 + @as(usize, r.byte()) * 4;
            const big_endian = b & 0x80 != 0;
            const created = api.codec_new_length_field(@intFromBool(big_endian), offset, field, adjustment, strip, max);
            if (created < 0) {
                // Only a strip past header + max is refused; fall back to a fixed codec.
                pair.rule = .{ .fixed = 1 };
                pair.handle = @intCast(api.codec_new_fixed_length(1));
                return;
            }
            pair.rule = .{ .length_field = .{ .big_endian = big_endian, .offset = offset, .field = field, .adjustment = adjustment, .strip = strip, .max = max } };
            pair.handle = @intCast(created);
        },
    }
    std.debug.assert(pair.handle > 0);
}

/// Two codecs taking turns on one ring, the way hosts use them: a scan decodes a batch ahead
/// without consuming, the host hands out some frames and the next scan discards their bytes.
pub fn codecTarget(gpa: std.mem.Allocator, input: []const u8) !void {
    var r: Reader = .{ .bytes = input };
    var pairs: [2]Pair = undefined;
    makeCodec(&r, &pairs[0]);
    defer _ = api.release(pairs[0].handle);
    makeCodec(&r, &pairs[1]);
    defer _ = api.release(pairs[1].handle);
    const kind: u32 = r.byte() % 2; // ring or elastic ring: the kinds codecs decode from
    const ring: i32 = @intCast(api.buffer_new(kind, 16));
    defer _ = api.release(ring);
    var stream: model.Stream = .{};
    defer stream.deinit(gpa);
    var out: [1024]u8 = undefined;
    var frames: [2 * 16]i32 = undefined;
    var pending: usize = 0; // bytes of frames handed out, removed by the next scan

    while (!r.done()) {
        const op = r.byte();
        switch (op >> 6) {
            0, 1 => {
                const data = r.take(1 + op % 64);
                try check(api.buffer_write(ring, data.ptr, data.len) == @as(isize, @intCast(data.len)), "write", .{});
                try stream.append(gpa, data);
            },
            2 => {
                const pair = &pairs[op & 1];
                const frames_max = 1 + (op >> 1) % 16;
                const out_len = @as(usize, r.byte()) * 4;
                const got = api.codec_scan(pair.handle, ring, pending, &out, out_len, 0, &frames, 2 * frames_max);
                stream.consume(pending);
                pending = 0;
                try compareScan(got, pair.rule, &stream, out[0..out_len], frames[0 .. 2 * frames_max]);
                if (got < 0) {
                    if (got != code(.incomplete) and got != code(.buffer_too_small)) {
                        // A connection closes here; start a fresh stream.
                        _ = api.buffer_reset(ring, 0);
                        stream.clear();
                    }
                    continue;
                }
                // Hand out some of the batch; the rest stays in the stream.
                const handed = 1 + r.byte() % @as(u8, @intCast(got));
                for (0..handed) |i| pending += @intCast(frames[2 * i + 1]);
            },
            else => {
                const n = op % 8;
                const discarded = api.buffer_discard(ring, pending + n);
                const expected = @min(pending + n, stream.items().len);
                try check(discarded == @as(isize, @intCast(expected)), "discard {d}: {d} vs {d}", .{ pending + n, discarded, expected });
                stream.consume(expected);
                pending = 0;
            },
        }
        const buffered = api.buffer_info(ring, @intFromEnum(abi.BufferInfo.buffered));
        try check(buffered == @as(isize, @intCast(stream.items().len)), "buffered {d} vs model {d}", .{ buffered, stream.items().len });
    }
}

/// One scan's result against the model's frames, decoded one by one from the stream's front.
fn compareScan(got: isize, rule: model.Rule, stream: *const model.Stream, out: []const u8, frames: []const i32) !void {
    var s = stream.items();
    var written: usize = 0;
    var count: usize = 0;
    while (count < frames.len / 2) : (count += 1) {
        const e = rule.expect(s);
        const f = switch (e) {
            .frame => |f| f,
            else => {
                if (count > 0) break;
                const want: Code = switch (e) {
                    .incomplete => .incomplete,
                    .frame_too_large => .frame_too_large,
                    .invalid_frame => .invalid_frame,
                    .frame => unreachable,
                };
                return check(got == code(want), "first frame: got {d}, model {s}", .{ got, @tagName(want) });
            },
        };
        if (f.payload_len > out.len - written) {
            if (count > 0) break;
            try check(got == code(.buffer_too_small), "got {d}, model: buffer too small", .{got});
            return check(api.codec_frame_len_required() == @as(isize, @intCast(f.payload_len)), "frame_len_required", .{});
        }
        try check(got > @as(isize, @intCast(count)), "got {d} frames, model has more", .{got});
        try check(frames[2 * count] == @as(i32, @intCast(f.payload_len)) and frames[2 * count + 1] == @as(i32, @intCast(f.consume)), "frame {d} lengths", .{count});
        try check(std.mem.eql(u8, out[written..][0..f.payload_len], s[f.payload_start..][0..f.payload_len]), "frame {d} bytes", .{count});
        written += f.payload_len;
        s = s[f.consume..];
    }
    try check(got == @as(isize, @intCast(count)), "got {d} frames, model {d}", .{ got, count });
}

/// All four buffer kinds fed the same operations, each checked against one model stream.
pub fn bufferTarget(gpa: std.mem.Allocator, input: []const u8) !void {
    var r: Reader = .{ .bytes = input };
    var handles: [4]i32 = undefined;
    const ring_size = @as(usize, r.byte()) * 8;
    const max_static = 1 + @as(usize, r.byte()) * 16;
    for (&handles, 0..) |*h, kind| h.* = @intCast(api.buffer_new(@intCast(kind), if (kind == 0) ring_size else max_static));
    defer for (handles) |h| {
        _ = api.release(h);
    };
    var stream: model.Stream = .{};
    defer stream.deinit(gpa);
    var scratch: [4096]u8 = undefined;

    while (!r.done()) {
        const op = r.byte();
        const n = @as(usize, r.byte()) * (1 + @as(usize, op & 7));
        const items = stream.items();
        switch (op >> 5) {
            0, 1, 2 => {
                const data = r.take(n);
                for (handles) |h| try check(api.buffer_write(h, data.ptr, data.len) == @as(isize, @intCast(data.len)), "write", .{});
                try stream.append(gpa, data);
            },
            3, 4 => {
                const len = @min(n, scratch.len);
                const want = @min(len, items.len);
                for (handles, 0..) |h, kind| {
                    @memset(scratch[0..len], 0xEE);
                    const got = if (op >> 5 == 3) api.buffer_peek(h, &scratch, len) else api.buffer_read(h, &scratch, len);
                    try check(got == @as(isize, @intCast(want)), "kind {d} op {d}: {d} of {d}", .{ kind, op >> 5, got, want });
                    try check(std.mem.eql(u8, scratch[0..want], items[0..want]), "kind {d} bytes", .{kind});
                }
                if (op >> 5 == 4) stream.consume(want);
            },
            5, 6 => {
                const want = @min(n, items.len);
                for (handles) |h| try check(api.buffer_discard(h, n) == @as(isize, @intCast(want)), "discard", .{});
                stream.consume(want);
            },
            else => if (op & 2 != 0) {
                // A big write of generated bytes (up to ~64 KiB): rings grow, lists get long.
                const big = try gpa.alloc(u8, n * 16);
                defer gpa.free(big);
                for (big, 0..) |*b, i| b.* = @truncate(i *% 31 +% op);
                for (handles) |h| try check(api.buffer_write(h, big.ptr, big.len) == @as(isize, @intCast(big.len)), "big write", .{});
                try stream.append(gpa, big);
            } else {
                for (handles) |h| _ = api.buffer_reset(h, op & 1);
                stream.clear();
            },
        }
        for (handles, 0..) |h, kind| {
            const buffered = api.buffer_info(h, @intFromEnum(abi.BufferInfo.buffered));
            try check(buffered == @as(isize, @intCast(stream.items().len)), "kind {d} buffered {d} vs {d}", .{ kind, buffered, stream.items().len });
            const empty = api.buffer_info(h, @intFromEnum(abi.BufferInfo.is_empty));
            try check(empty == @intFromBool(stream.items().len == 0), "kind {d} isEmpty", .{kind});
        }
    }
}

/// The wasm module's heap, simulated natively: two rings and an elastic ring share a small
/// memory (so growth in place, moves, merging and refusals all happen), each checked against
/// its own model; a refused write must change nothing.
pub fn heapTarget(gpa: std.mem.Allocator, memory: *page_heap.SimMemory, input: []const u8) !void {
    memory.pages = 1;
    var heap: page_heap.PageHeap(*page_heap.SimMemory) = .{ .memory = memory };
    const a = heap.allocator();
    var r: Reader = .{ .bytes = input };
    var rings = [_]core.RingBuffer{
        core.RingBuffer.init(a, r.byte()) catch return,
        core.RingBuffer.init(a, 0) catch unreachable, // size 0 allocates nothing
    };
    var elastic = core.ElasticRingBuffer.init(a);
    defer {
        for (&rings) |*ring| ring.deinit();
        elastic.deinit();
    }
    var models = [_]model.Stream{ .{}, .{}, .{} };
    defer for (&models) |*m| m.deinit(gpa);
    var scratch: [4096]u8 = undefined;

    while (!r.done()) {
        const op = r.byte();
        const which = op % 3;
        const m = &models[which];
        const n = @as(usize, r.byte()) << @intCast((op >> 2) % 7);
        switch (op >> 5) {
            0, 1, 2, 3 => {
                const data = try gpa.alloc(u8, n);
                defer gpa.free(data);
                for (data, 0..) |*b, i| b.* = @truncate(i *% 7 +% op);
                const result = if (which == 2) elastic.write(data) else rings[which].write(data);
                if (result) |_| try m.append(gpa, data) else |_| {} // refused: unchanged
            },
            4, 5 => {
                const len = @min(n, scratch.len);
                const got = if (which == 2) elastic.read(scratch[0..len]) else rings[which].read(scratch[0..len]);
                const want = @min(len, m.items().len);
                try check(got == want and std.mem.eql(u8, scratch[0..got], m.items()[0..got]), "heap read", .{});
                m.consume(got);
            },
            else => {
                const got = if (which == 2) elastic.discard(n) else rings[which].discard(n);
                try check(got == @min(n, m.items().len), "heap discard", .{});
                m.consume(got);
            },
        }
        try checkHeapBuffers(&rings, &elastic, &models, r.done() or op % 8 == 0);
    }
}

/// Lengths after every operation; contents (the costly part) now and then and at the end.
fn checkHeapBuffers(rings: []core.RingBuffer, elastic: *const core.ElasticRingBuffer, models: []model.Stream, contents: bool) !void {
    for (models, 0..) |*each, i| {
        const parts = if (i == 2) elastic.peek(std.math.maxInt(usize)) else rings[i].peek(std.math.maxInt(usize));
        const items = each.items();
        try check(parts[0].len + parts[1].len == items.len, "heap buffer {d}: {d} bytes vs {d}", .{ i, parts[0].len + parts[1].len, items.len });
        if (contents) try check(std.mem.eql(u8, parts[0], items[0..parts[0].len]) and std.mem.eql(u8, parts[1], items[parts[0].len..]), "heap buffer {d} bytes", .{i});
    }
}
