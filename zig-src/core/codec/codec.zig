//! Framing codecs: pure functions from a buffered byte stream to frame boundaries, and from a
//! payload length to the bytes that go around it. They never copy a payload and never own
//! memory, so one implementation serves the native engine and the wasm module alike; the
//! caller reads and consumes the bytes the returned `Frame` describes.
const std = @import("std");
const assert = std.debug.assert;

pub const Input = @import("input.zig").Input;
pub const Delimiter = @import("delimiter.zig").Delimiter;
pub const FixedLength = @import("fixed_length.zig").FixedLength;
pub const LengthField = @import("length_field.zig").LengthField;
pub const ScanHints = @import("scan_hints.zig").ScanHints;

pub const Error = error{ FrameTooLarge, InvalidFrame, UnsupportedLength, InvalidFixedLength, InvalidArgument };

/// gnet v1 had no maximum; a hostile length field must not make the caller buffer 4 GiB.
pub const default_max_frame_length: usize = 16 * 1024 * 1024;

/// A decoded frame, in offsets of the stream: the caller takes the payload bytes
/// [payload_start, payload_start + payload_len) and then consumes consume_len bytes.
pub const Frame = struct { consume_len: usize, payload_start: usize, payload_len: usize };

pub const Codec = union(enum) {
    /// LineCodec is Delimiter with "\n".
    delimiter: Delimiter,
    fixed_length: FixedLength,
    length_field: LengthField,

    /// Returns null while the frame is incomplete. Errors consume nothing. `scan_hint` is per
    /// stream AND per codec state kept by the caller (ScanHints): how many leading bytes are
    /// known to hold no frame end of this codec. The delimiter codec reads and advances it so
    /// a long line sent in 1-byte chunks costs linear, not quadratic, time. The caller lowers
    /// it by the bytes consumed from the stream. Other codecs ignore it.
    pub fn decode(self: *const Codec, input: Input, scan_hint: *usize) Error!?Frame {
        const frame = switch (self.*) {
            .delimiter => |*d| try d.decode(input, scan_hint),
            .fixed_length => |*f| try f.decode(input),
            .length_field => |*l| try l.decode(input),
        } orelse return null;
        // A frame always makes progress and lies within what is buffered.
        assert(frame.consume_len >= 1);
        assert(frame.consume_len <= input.len());
        assert(frame.payload_start <= frame.consume_len);
        assert(frame.payload_len <= frame.consume_len - frame.payload_start);
        return frame;
    }

    /// Bytes that go before a payload (length-field: the offset bytes and the field; others: none).
    pub fn headerLen(self: *const Codec) usize {
        return switch (self.*) {
            .delimiter, .fixed_length => 0,
            .length_field => |*l| l.headerEnd(),
        };
    }

    /// Writes the header for a payload of `payload_len` bytes into `out` (exactly headerLen()
    /// bytes) after checking that such a payload may be sent at all.
    pub fn writeHeader(self: *const Codec, payload_len: usize, out: []u8) Error!void {
        assert(out.len == self.headerLen());
        switch (self.*) {
            .delimiter => |*d| try d.validatePayload(payload_len),
            .fixed_length => |*f| try f.validatePayload(payload_len),
            .length_field => |*l| try l.writeHeader(payload_len, out),
        }
    }

    /// Bytes that go after every payload: the delimiter, or nothing. Points into the codec.
    pub fn trailer(self: *const Codec) []const u8 {
        return switch (self.*) {
            .delimiter => |*d| d.delimiter(),
            .fixed_length, .length_field => &.{},
        };
    }
};

// ---------------------------------------------------------------------------------------------
// Tests shared by every codec: seeded random round trips through random chunking, and hostile
// input. A failing run prints its seed; rerun it by putting that seed first.

const testing = std.testing;
const Random = std.Random;

/// Where one expected payload lies in the encoded stream.
const Span = struct { start: usize, len: usize };

/// An encoded stream and the payload spans a decoder must find in it, in order.
const Encoded = struct {
    wire: []u8,
    wire_len: usize = 0,
    spans: []Span,
    spans_count: usize = 0,

    fn init(allocator: std.mem.Allocator, wire_len_max: usize) !Encoded {
        // At most one frame per byte (fixed length 1) plus the empty frames a
        // delimiter codec may add, one per delimiter.
        return .{ .wire = try allocator.alloc(u8, wire_len_max), .spans = try allocator.alloc(Span, wire_len_max + 1) };
    }

    fn deinit(self: *Encoded, allocator: std.mem.Allocator) void {
        allocator.free(self.wire);
        allocator.free(self.spans);
    }

    fn room(self: *const Encoded) usize {
        assert(self.wire_len <= self.wire.len);
        return self.wire.len - self.wire_len;
    }

    fn addSpan(self: *Encoded, start: usize, len: usize) void {
        assert(self.spans_count < self.spans.len);
        assert(start + len <= self.wire_len);
        self.spans[self.spans_count] = .{ .start = start, .len = len };
        self.spans_count += 1;
    }

    /// Encodes as a connection would: header, payload, trailer.
    fn append(self: *Encoded, c: *const Codec, payload: []const u8) !void {
        const frame_start = self.wire_len;
        const header_len = c.headerLen();
        const trailer_bytes = c.trailer();
        assert(header_len + payload.len + trailer_bytes.len <= self.room());
        try c.writeHeader(payload.len, self.wire[frame_start..][0..header_len]);
        @memcpy(self.wire[frame_start + header_len ..][0..payload.len], payload);
        @memcpy(self.wire[frame_start + header_len + payload.len ..][0..trailer_bytes.len], trailer_bytes);
        self.wire_len += header_len + payload.len + trailer_bytes.len;
        switch (c.*) {
            .delimiter => self.addSpan(frame_start, payload.len),
            .fixed_length => |f| {
                var k: usize = 0;
                while (k < payload.len) : (k += f.frame_length) self.addSpan(frame_start + k, f.frame_length);
            },
            .length_field => |l| {
                const strip = l.config.initial_bytes_to_strip;
                self.addSpan(frame_start + strip, header_len + payload.len - strip);
            },
        }
    }
};

const ChunkMode = enum { one_byte, small, large, mixed };

fn chunkLen(random: Random, mode: ChunkMode, remaining: usize) usize {
    assert(remaining >= 1);
    const len = switch (mode) {
        .one_byte => 1,
        .small => random.intRangeAtMost(usize, 1, 17),
        .large => random.intRangeAtMost(usize, 1, 8192),
        .mixed => switch (random.uintLessThan(u8, 3)) {
            0 => 1,
            1 => random.intRangeAtMost(usize, 1, 64),
            else => random.intRangeAtMost(usize, 1, 4096),
        },
    };
    return @min(len, remaining);
}

/// The stream cut at two random points, as a ring's head and tail plus a fresh read would be.
fn splitInput(random: Random, stream: []const u8) Input {
    const a = switch (random.uintLessThan(u8, 4)) {
        0 => 0,
        1 => stream.len,
        else => random.uintAtMost(usize, stream.len),
    };
    const b = random.intRangeAtMost(usize, a, stream.len);
    assert(a <= b and b <= stream.len);
    return .{ .parts = .{ stream[0..a], stream[a..b], stream[b..] } };
}

/// Feeds the encoded stream in random chunks and checks that exactly the expected payloads
/// come back, in order and byte for byte.
fn feed(c: *const Codec, encoded: *const Encoded, random: Random, mode: ChunkMode, scratch: []u8) !void {
    const wire = encoded.wire[0..encoded.wire_len];
    var received: usize = 0;
    var consumed: usize = 0;
    var scan_hint: usize = 0;
    var spans_done: usize = 0;
    while (received < wire.len) {
        received += chunkLen(random, mode, wire.len - received);
        while (true) {
            const input = splitInput(random, wire[consumed..received]);
            const frame = (try c.decode(input, &scan_hint)) orelse break;
            try testing.expect(spans_done < encoded.spans_count);
            const span = encoded.spans[spans_done];
            try testing.expectEqual(span.start, consumed + frame.payload_start);
            try testing.expectEqual(span.len, frame.payload_len);
            input.copyOut(frame.payload_start, scratch[0..frame.payload_len]);
            try testing.expectEqualSlices(u8, wire[span.start..][0..span.len], scratch[0..frame.payload_len]);
            consumed += frame.consume_len;
            scan_hint = 0;
            spans_done += 1;
        }
    }
    try testing.expectEqual(encoded.spans_count, spans_done);
    try testing.expectEqual(wire.len, consumed);
}

fn randomChunkMode(random: Random) ChunkMode {
    return random.enumValue(ChunkMode);
}

/// 1-byte feeding costs a decode per byte, so those runs get a smaller stream.
fn wireBudget(mode: ChunkMode) usize {
    return if (mode == .one_byte) 4 * 1024 else 64 * 1024;
}

/// Bytes drawn mostly from a few values so that delimiters, partial delimiters and small
/// length fields turn up often.
fn biasedByte(random: Random, favourites: []const u8) u8 {
    if (favourites.len > 0 and random.boolean()) return favourites[random.uintLessThan(usize, favourites.len)];
    return switch (random.uintLessThan(u8, 4)) {
        0 => random.int(u8),
        1 => 0,
        2 => 0xFF,
        else => 'a' + random.uintLessThan(u8, 4),
    };
}

fn randomDelimiter(random: Random, out: *[Delimiter.delimiter_len_max]u8) []const u8 {
    const alphabet = "xy\r\n";
    const len: usize = switch (random.uintLessThan(u8, 6)) {
        0 => return "\n",
        1 => return "\r\n",
        2 => 1,
        3 => Delimiter.delimiter_len_max,
        else => random.intRangeAtMost(usize, 2, 8),
    };
    for (out[0..len]) |*b| b.* = alphabet[random.uintLessThan(usize, alphabet.len)];
    return out[0..len];
}

/// Rewrites `payload` until the first delimiter in payload ++ delimiter is the appended one,
/// as a delimiter-framed payload must be. `joined` is scratch of payload.len + delimiter.len.
fn makeDelimiterFree(payload: []u8, delimiter: []const u8, joined: []u8) void {
    // A byte the delimiter does not use: replacing a match's first byte with it removes that
    // match and cannot create another.
    var filler: u8 = 0;
    while (std.mem.indexOfScalar(u8, delimiter, filler) != null) filler += 1;
    while (true) {
        @memcpy(joined[0..payload.len], payload);
        @memcpy(joined[payload.len..][0..delimiter.len], delimiter);
        const first = std.mem.indexOf(u8, joined[0 .. payload.len + delimiter.len], delimiter).?;
        if (first == payload.len) return;
        payload[first] = filler;
    }
}

const payload_len_max = 4096;

fn roundTripDelimiter(random: Random, allocator: std.mem.Allocator) !void {
    var delimiter_buf: [Delimiter.delimiter_len_max]u8 = undefined;
    const delimiter = randomDelimiter(random, &delimiter_buf);
    const max_frame_length = random.intRangeAtMost(usize, 1, payload_len_max);
    const c: Codec = .{ .delimiter = try Delimiter.init(delimiter, max_frame_length) };
    const mode = randomChunkMode(random);
    var encoded = try Encoded.init(allocator, wireBudget(mode));
    defer encoded.deinit(allocator);
    var payload: [payload_len_max]u8 = undefined;
    var joined: [payload_len_max + Delimiter.delimiter_len_max]u8 = undefined;
    const frame_len_cap = @min(max_frame_length, random.intRangeAtMost(usize, 0, 300));
    while (true) {
        const len = random.uintAtMost(usize, frame_len_cap);
        if (len + delimiter.len > encoded.room()) break;
        for (payload[0..len]) |*b| b.* = biasedByte(random, delimiter);
        makeDelimiterFree(payload[0..len], delimiter, &joined);
        try encoded.append(&c, payload[0..len]);
    }
    try feed(&c, &encoded, random, mode, &payload);
}

fn roundTripFixedLength(random: Random, allocator: std.mem.Allocator) !void {
    const frame_length = random.intRangeAtMost(usize, 1, 64);
    const c: Codec = .{ .fixed_length = try FixedLength.init(frame_length) };
    const mode = randomChunkMode(random);
    var encoded = try Encoded.init(allocator, wireBudget(mode));
    defer encoded.deinit(allocator);
    var payload: [payload_len_max]u8 = undefined;
    while (true) {
        const len = frame_length * random.uintAtMost(usize, 5);
        if (len > encoded.room()) break;
        random.bytes(payload[0..len]);
        try encoded.append(&c, payload[0..len]);
        if (encoded.room() == 0) break;
    }
    try feed(&c, &encoded, random, mode, &payload);
}

fn randomLengthFieldConfig(random: Random) LengthField.Config {
    const field_lengths = [_]usize{ 1, 2, 3, 4, 8 };
    const field_length = field_lengths[random.uintLessThan(usize, field_lengths.len)];
    const offset = random.uintAtMost(usize, 6);
    const header_end = offset + field_length;
    return .{
        .big_endian = random.boolean(),
        .length_field_offset = offset,
        .length_field_length = field_length,
        .length_adjustment = random.intRangeAtMost(i64, -4, 4),
        .initial_bytes_to_strip = random.uintAtMost(usize, header_end),
        .max_frame_length = if (random.boolean())
            default_max_frame_length
        else
            header_end + random.intRangeAtMost(usize, 8, payload_len_max),
    };
}

fn roundTripLengthField(random: Random, allocator: std.mem.Allocator) !void {
    const config = randomLengthFieldConfig(random);
    const lf = try LengthField.init(config);
    const c: Codec = .{ .length_field = lf };
    const header_end = lf.headerEnd();
    // The field must hold payload - adjustment and the frame must fit the maximum.
    const field_max: u64 = if (config.length_field_length == 8)
        std.math.maxInt(u64)
    else
        (@as(u64, 1) << @intCast(8 * config.length_field_length)) - 1;
    const len_min: usize = @intCast(@max(config.length_adjustment, 0));
    var len_max: usize = @min(payload_len_max, config.max_frame_length - header_end);
    len_max = @intCast(@min(@as(i128, len_max), @as(i128, field_max) + config.length_adjustment));
    assert(len_min <= len_max);

    const mode = randomChunkMode(random);
    var encoded = try Encoded.init(allocator, wireBudget(mode));
    defer encoded.deinit(allocator);
    var payload: [payload_len_max]u8 = undefined;
    const len_cap = random.intRangeAtMost(usize, len_min, @min(len_max, len_min + random.uintAtMost(usize, 300)));
    while (true) {
        const len = random.intRangeAtMost(usize, len_min, len_cap);
        if (header_end + len > encoded.room()) break;
        random.bytes(payload[0..len]);
        try encoded.append(&c, payload[0..len]);
    }
    try feed(&c, &encoded, random, mode, &payload);
}

fn runSeeded(comptime run: fn (Random, std.mem.Allocator) anyerror!void, seed_base: u64, runs: u64) !void {
    var i: u64 = 0;
    while (i < runs) : (i += 1) {
        const seed = seed_base + i;
        errdefer std.debug.print("failing seed = {d}\n", .{seed});
        var prng = Random.DefaultPrng.init(seed);
        try run(prng.random(), testing.allocator);
    }
}

test "Codec: delimiter round-trips random payloads through random chunking" {
    try runSeeded(roundTripDelimiter, 0xDE11_0000, 300);
}

test "Codec: fixed length round-trips random payloads through random chunking" {
    try runSeeded(roundTripFixedLength, 0xF1ED_0000, 300);
}

test "Codec: length field round-trips random payloads through random chunking" {
    try runSeeded(roundTripLengthField, 0x1E06_0000, 300);
}

/// Random bytes through a random codec with small limits: only frames or the codec's
/// documented errors come out, an error repeats however the stream is split, and a frame
/// always lies within the input.
fn garbage(random: Random, allocator: std.mem.Allocator) !void {
    var delimiter_buf: [Delimiter.delimiter_len_max]u8 = undefined;
    var favourites: []const u8 = &.{ 0, 1, 2, 3 };
    const c: Codec = switch (random.uintLessThan(u8, 3)) {
        0 => blk: {
            const delimiter = randomDelimiter(random, &delimiter_buf);
            favourites = delimiter;
            break :blk .{ .delimiter = try Delimiter.init(delimiter, random.intRangeAtMost(usize, 1, 512)) };
        },
        1 => .{ .fixed_length = try FixedLength.init(random.intRangeAtMost(usize, 1, 64)) },
        else => blk: {
            var config = randomLengthFieldConfig(random);
            config.length_adjustment = random.intRangeAtMost(i64, -300, 300);
            config.max_frame_length = random.intRangeAtMost(usize, 1, 1024);
            config.initial_bytes_to_strip = random.uintAtMost(usize, config.length_field_offset + config.length_field_length + 16);
            break :blk .{ .length_field = LengthField.init(config) catch |err| {
                try testing.expectEqual(error.InvalidArgument, err);
                return;
            } };
        },
    };
    const stream = try allocator.alloc(u8, random.intRangeAtMost(usize, 1, 8192));
    defer allocator.free(stream);
    for (stream) |*b| b.* = biasedByte(random, favourites);

    const mode = randomChunkMode(random);
    var received: usize = 0;
    var consumed: usize = 0;
    var scan_hint: usize = 0;
    while (received < stream.len) {
        received += chunkLen(random, mode, stream.len - received);
        while (true) {
            const buffered = stream[consumed..received];
            const result = c.decode(splitInput(random, buffered), &scan_hint);
            const frame = result catch |err| {
                switch (c) {
                    .delimiter => try testing.expectEqual(error.FrameTooLarge, err),
                    .fixed_length => return error.TestUnexpectedError,
                    .length_field => try testing.expect(err == error.FrameTooLarge or err == error.InvalidFrame),
                }
                // Nothing was consumed: the same bytes, split differently, with the kept or
                // a fresh hint, give the same error.
                try testing.expectError(err, c.decode(splitInput(random, buffered), &scan_hint));
                var fresh_hint: usize = 0;
                try testing.expectError(err, c.decode(splitInput(random, buffered), &fresh_hint));
                return; // A connection would close here.
            } orelse break;
            try testing.expect(frame.consume_len >= 1 and frame.consume_len <= buffered.len);
            try testing.expect(frame.payload_start + frame.payload_len <= frame.consume_len);
            if (c == .delimiter) {
                const d = c.delimiter.delimiter();
                try testing.expect(frame.payload_len <= c.delimiter.max_frame_length);
                try testing.expectEqualSlices(u8, d, buffered[frame.payload_len..][0..d.len]);
                try testing.expectEqual(@as(?usize, frame.payload_len), std.mem.indexOf(u8, buffered[0..frame.consume_len], d));
            }
            consumed += frame.consume_len;
            scan_hint = 0;
        }
    }
}

test "Codec: random garbage gives only frames or documented errors, and errors repeat" {
    try runSeeded(garbage, 0x6A2B_0000, 1000);
}

test "Codec: trailer points into the codec, not the caller's delimiter" {
    var caller_bytes = "\r\n".*;
    const c: Codec = .{ .delimiter = try Delimiter.init(&caller_bytes, 10) };
    caller_bytes = "xx".*;
    try testing.expectEqualSlices(u8, "\r\n", c.trailer());
}

test {
    _ = @import("input.zig");
    _ = @import("delimiter.zig");
    _ = @import("fixed_length.zig");
    _ = @import("length_field.zig");
    _ = @import("scan_hints.zig");
}
