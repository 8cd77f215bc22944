//! Length-field framing with Netty's LengthFieldBasedFrameDecoder semantics (gnet v1's
//! LengthFieldBasedFrameCodec followed them, minus a maximum). The frame is
//!   [length_field_offset bytes][length field][body]
//! and its total length is header_end + field + length_adjustment, where header_end is
//! length_field_offset + length_field_length. The first initial_bytes_to_strip bytes of the
//! frame are dropped from the payload. Unlike gnet v1 a maximum is enforced, from the header
//! alone, so a hostile length never makes the caller wait for (or allocate) a huge body.
const std = @import("std");
const assert = std.debug.assert;
const codec = @import("codec.zig");
const Error = codec.Error;
const Frame = codec.Frame;
const Input = codec.Input;

pub const LengthField = struct {
    pub const Config = struct {
        big_endian: bool = true,
        length_field_offset: usize = 0,
        length_field_length: usize,
        length_adjustment: i64 = 0,
        initial_bytes_to_strip: usize = 0,
        max_frame_length: usize = codec.default_max_frame_length,
    };

    /// Bytes before the field are a fixed prefix of the frame; 64 KiB is far more than any
    /// real protocol header and keeps header_end small enough to never overflow.
    pub const length_field_offset_max: usize = 65536;
    /// The widest field (u64).
    pub const length_field_length_max: usize = 8;

    config: Config,

    pub fn init(config: Config) Error!LengthField {
        switch (config.length_field_length) {
            1, 2, 3, 4, 8 => {},
            else => return error.UnsupportedLength,
        }
        if (config.length_field_offset > length_field_offset_max) return error.InvalidArgument;
        if (config.max_frame_length == 0) return error.InvalidArgument;
        const header_end = config.length_field_offset + config.length_field_length;
        if (config.initial_bytes_to_strip > header_end +| config.max_frame_length) return error.InvalidArgument;
        return .{ .config = config };
    }

    pub fn headerEnd(self: *const LengthField) usize {
        assert(self.config.length_field_offset <= length_field_offset_max);
        assert(self.config.length_field_length <= length_field_length_max);
        return self.config.length_field_offset + self.config.length_field_length;
    }

    fn endian(self: *const LengthField) std.builtin.Endian {
        return if (self.config.big_endian) .big else .little;
    }

    /// The largest value the field can carry.
    fn fieldMax(self: *const LengthField) u64 {
        const bits: u7 = @intCast(self.config.length_field_length * 8);
        return if (bits == 64) std.math.maxInt(u64) else (@as(u64, 1) << @intCast(bits)) - 1;
    }

    pub fn decode(self: *const LengthField, input: Input) Error!?Frame {
        const header_end = self.headerEnd();
        const buffered = input.len();
        if (buffered < header_end) return null;

        var field_bytes: [length_field_length_max]u8 = undefined;
        const field = field_bytes[0..self.config.length_field_length];
        input.copyOut(self.config.length_field_offset, field);
        const value = std.mem.readVarInt(u64, field, self.endian());
        assert(value <= self.fieldMax());

        // i128 holds header_end + u64 + i64 exactly, so no step of this can overflow.
        const total_wide = @as(i128, header_end) + value + self.config.length_adjustment;
        if (total_wide < header_end) return error.InvalidFrame;
        if (total_wide > self.config.max_frame_length) return error.FrameTooLarge;
        const total: usize = @intCast(total_wide);
        if (self.config.initial_bytes_to_strip > total) return error.InvalidFrame;
        if (buffered < total) return null;

        const frame: Frame = .{
            .consume_len = total,
            .payload_start = self.config.initial_bytes_to_strip,
            .payload_len = total - self.config.initial_bytes_to_strip,
        };
        assert(frame.consume_len >= header_end and frame.consume_len <= buffered);
        return frame;
    }

    /// Writes the offset bytes (zeros) and the field for a payload of `payload_len` bytes, such
    /// that decoding with initial_bytes_to_strip == header_end gives the payload back.
    pub fn writeHeader(self: *const LengthField, payload_len: usize, out: []u8) Error!void {
        const header_end = self.headerEnd();
        assert(out.len == header_end);
        const value_wide = @as(i128, payload_len) - self.config.length_adjustment;
        if (value_wide < 0) return error.InvalidFrame;
        if (value_wide > self.fieldMax()) return error.FrameTooLarge;
        if (@as(u128, header_end) + payload_len > self.config.max_frame_length) return error.FrameTooLarge;
        const value: u64 = @intCast(value_wide);

        @memset(out[0..self.config.length_field_offset], 0);
        const field = out[self.config.length_field_offset..];
        assert(field.len == self.config.length_field_length);
        for (field, 0..) |*byte, i| {
            const significance = if (self.config.big_endian) field.len - 1 - i else i;
            const shift: u6 = @intCast(8 * significance);
            byte.* = @truncate(value >> shift);
        }
        assert(std.mem.readVarInt(u64, field, self.endian()) == value);
    }
};

const testing = std.testing;

fn encodeInto(self: *const LengthField, payload: []const u8, out: []u8) Error![]u8 {
    const header_end = self.headerEnd();
    try self.writeHeader(payload.len, out[0..header_end]);
    @memcpy(out[header_end..][0..payload.len], payload);
    return out[0 .. header_end + payload.len];
}

fn decodePayload(self: *const LengthField, bytes: []const u8) Error!?[]const u8 {
    const frame = (try self.decode(Input.fromSlice(bytes))) orelse return null;
    return bytes[frame.payload_start..][0..frame.payload_len];
}

test "LengthField: gnet v1 1-byte field rejects a 256-byte payload, 255 round-trips in both orders" {
    var payload: [256]u8 = undefined;
    for (&payload, 0..) |*b, i| b.* = @truncate(i *% 7);
    var wire: [512]u8 = undefined;
    for ([_]bool{ true, false }) |big_endian| {
        const lf = try LengthField.init(.{ .big_endian = big_endian, .length_field_length = 1, .initial_bytes_to_strip = 1 });
        try testing.expectError(error.FrameTooLarge, encodeInto(&lf, &payload, &wire));
        const encoded = try encodeInto(&lf, payload[0..255], &wire);
        try testing.expectEqual(@as(u8, 255), encoded[0]);
        try testing.expectEqualSlices(u8, payload[0..255], (try decodePayload(&lf, encoded)).?);
    }
}

test "LengthField: gnet v1 2-, 3- and 8-byte fields round-trip" {
    var payload: [1000]u8 = undefined;
    for (&payload, 0..) |*b, i| b.* = @truncate(i);
    var wire: [1100]u8 = undefined;
    for ([_]usize{ 2, 3, 8 }) |field_length| {
        for ([_]bool{ true, false }) |big_endian| {
            const lf = try LengthField.init(.{
                .big_endian = big_endian,
                .length_field_length = field_length,
                .initial_bytes_to_strip = field_length,
            });
            const encoded = try encodeInto(&lf, &payload, &wire);
            try testing.expectEqual(field_length + payload.len, encoded.len);
            try testing.expectEqualSlices(u8, &payload, (try decodePayload(&lf, encoded)).?);
        }
    }
}

test "LengthField: gnet v1 zero-byte payload with a 4-byte field decodes to empty" {
    const lf = try LengthField.init(.{ .length_field_length = 4, .initial_bytes_to_strip = 4 });
    var wire: [4]u8 = undefined;
    const encoded = try encodeInto(&lf, "", &wire);
    try testing.expectEqualSlices(u8, &.{ 0, 0, 0, 0 }, encoded);
    const frame = (try lf.decode(Input.fromSlice(encoded))).?;
    try testing.expectEqual(Frame{ .consume_len = 4, .payload_start = 4, .payload_len = 0 }, frame);
}

test "LengthField: field byte layout in both orders, 24-bit included" {
    var header: [8]u8 = undefined;
    const be3 = try LengthField.init(.{ .length_field_length = 3 });
    try be3.writeHeader(0x0A0B0C, header[0..3]);
    try testing.expectEqualSlices(u8, &.{ 0x0A, 0x0B, 0x0C }, header[0..3]);
    const le3 = try LengthField.init(.{ .big_endian = false, .length_field_length = 3 });
    try le3.writeHeader(0x0A0B0C, header[0..3]);
    try testing.expectEqualSlices(u8, &.{ 0x0C, 0x0B, 0x0A }, header[0..3]);
    try testing.expectError(error.FrameTooLarge, le3.writeHeader(1 << 24, header[0..3]));
    const le4 = try LengthField.init(.{ .big_endian = false, .length_field_length = 4, .max_frame_length = std.math.maxInt(usize) });
    try le4.writeHeader(0x01020304, header[0..4]);
    try testing.expectEqualSlices(u8, &.{ 4, 3, 2, 1 }, header[0..4]);
    // A little-endian 24-bit length of 0x000102 = 258 with an incomplete body.
    const le3_strip = try LengthField.init(.{ .big_endian = false, .length_field_length = 3, .initial_bytes_to_strip = 3 });
    try testing.expectEqual(@as(?Frame, null), try le3_strip.decode(Input.fromSlice(&.{ 0x02, 0x01, 0x00, 'x' })));
    var wire: [3 + 258]u8 = [_]u8{ 0x02, 0x01, 0x00 } ++ [_]u8{'y'} ** 258;
    const frame = (try le3_strip.decode(Input.fromSlice(&wire))).?;
    try testing.expectEqual(Frame{ .consume_len = 261, .payload_start = 3, .payload_len = 258 }, frame);
}

// The examples of Netty's LengthFieldBasedFrameDecoder documentation, each as
// (config, bytes on the wire, expected consume length, expected payload).
test "LengthField: Netty-style offset, adjustment and strip combinations" {
    const Case = struct { config: LengthField.Config, wire: []const u8, consume_len: usize, payload: []const u8 };
    const hello = "HELLO, WORLD";
    const cases = [_]Case{
        // 2-byte length, nothing stripped: the whole frame.
        .{ .config = .{ .length_field_length = 2 }, .wire = "\x00\x0C" ++ hello, .consume_len = 14, .payload = "\x00\x0C" ++ hello },
        // 2-byte length, header stripped.
        .{ .config = .{ .length_field_length = 2, .initial_bytes_to_strip = 2 }, .wire = "\x00\x0C" ++ hello, .consume_len = 14, .payload = hello },
        // The length counts the whole frame: adjustment -2.
        .{ .config = .{ .length_field_length = 2, .length_adjustment = -2 }, .wire = "\x00\x0E" ++ hello, .consume_len = 14, .payload = "\x00\x0E" ++ hello },
        // A 2-byte prefix before a 3-byte length.
        .{ .config = .{ .length_field_offset = 2, .length_field_length = 3 }, .wire = "\xCA\xFE\x00\x00\x0C" ++ hello, .consume_len = 17, .payload = "\xCA\xFE\x00\x00\x0C" ++ hello },
        // A 2-byte header between a 3-byte length and the body: adjustment +2.
        .{ .config = .{ .length_field_length = 3, .length_adjustment = 2 }, .wire = "\x00\x00\x0C\xCA\xFE" ++ hello, .consume_len = 17, .payload = "\x00\x00\x0C\xCA\xFE" ++ hello },
        // HDR1 LEN HDR2 body; strip HDR1 and LEN.
        .{ .config = .{ .length_field_offset = 1, .length_field_length = 2, .length_adjustment = 1, .initial_bytes_to_strip = 3 }, .wire = "\xCA\x00\x0C\xFE" ++ hello, .consume_len = 16, .payload = "\xFE" ++ hello },
        // Same, but the length counts the whole frame: adjustment -3.
        .{ .config = .{ .length_field_offset = 1, .length_field_length = 2, .length_adjustment = -3, .initial_bytes_to_strip = 3 }, .wire = "\xCA\x00\x10\xFE" ++ hello, .consume_len = 16, .payload = "\xFE" ++ hello },
        // Little-endian 4-byte length after a 1-byte type.
        .{ .config = .{ .big_endian = false, .length_field_offset = 1, .length_field_length = 4, .initial_bytes_to_strip = 5 }, .wire = "\x07\x0C\x00\x00\x00" ++ hello, .consume_len = 17, .payload = hello },
        // Little-endian 24-bit length counting itself.
        .{ .config = .{ .big_endian = false, .length_field_length = 3, .length_adjustment = -3, .initial_bytes_to_strip = 3 }, .wire = "\x0F\x00\x00" ++ hello, .consume_len = 15, .payload = hello },
    };
    for (cases) |case| {
        const lf = try LengthField.init(case.config);
        // With trailing bytes of the next frame, split at every point.
        var stream_buf: [32]u8 = undefined;
        @memcpy(stream_buf[0..case.wire.len], case.wire);
        stream_buf[case.wire.len..][0..2].* = .{ 0, 0 };
        const stream = stream_buf[0 .. case.wire.len + 2];
        var cut: usize = 0;
        while (cut <= stream.len) : (cut += 1) {
            const input: Input = .{ .parts = .{ stream[0..cut], &.{}, stream[cut..] } };
            const frame = (try lf.decode(input)).?;
            try testing.expectEqual(case.consume_len, frame.consume_len);
            try testing.expectEqualSlices(u8, case.payload, stream[frame.payload_start..][0..frame.payload_len]);
        }
        // Every proper prefix is incomplete.
        var prefix: usize = 0;
        while (prefix < case.wire.len) : (prefix += 1) {
            try testing.expectEqual(@as(?Frame, null), try lf.decode(Input.fromSlice(case.wire[0..prefix])));
        }
    }
}

test "LengthField: 8-byte length past max fails from the header alone" {
    const lf = try LengthField.init(.{ .length_field_length = 8, .max_frame_length = 1024 });
    const huge = [_]u8{ 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    try testing.expectError(error.FrameTooLarge, lf.decode(Input.fromSlice(&huge)));
    // Just past the maximum (header 8 + 1017 body = 1025), before any body byte.
    const over = [_]u8{ 0, 0, 0, 0, 0, 0, 0x03, 0xF9 };
    try testing.expectError(error.FrameTooLarge, lf.decode(Input.fromSlice(&over)));
    const at_max = [_]u8{ 0, 0, 0, 0, 0, 0, 0x03, 0xF8 };
    try testing.expectEqual(@as(?Frame, null), try lf.decode(Input.fromSlice(&at_max)));
    // The default maximum applies too: 4 GiB from a 4-byte field.
    const lf4 = try LengthField.init(.{ .length_field_length = 4 });
    try testing.expectError(error.FrameTooLarge, lf4.decode(Input.fromSlice(&.{ 0xFF, 0xFF, 0xFF, 0xFF })));
    // Even with a large positive adjustment on a u64 field, nothing overflows.
    const adj = try LengthField.init(.{ .length_field_length = 8, .length_adjustment = std.math.maxInt(i64), .max_frame_length = std.math.maxInt(usize) });
    try testing.expectError(error.FrameTooLarge, adj.decode(Input.fromSlice(&huge)));
}

test "LengthField: negative body and over-long strip are InvalidFrame" {
    const neg = try LengthField.init(.{ .length_field_length = 2, .length_adjustment = -5 });
    try testing.expectError(error.InvalidFrame, neg.decode(Input.fromSlice(&.{ 0, 4 })));
    // A field of 5 leaves an empty body: the frame is the 2 header bytes.
    try testing.expectEqual(Frame{ .consume_len = 2, .payload_start = 0, .payload_len = 2 }, (try neg.decode(Input.fromSlice(&.{ 0, 5 }))).?);
    const strip = try LengthField.init(.{ .length_field_length = 1, .length_adjustment = -1, .initial_bytes_to_strip = 2 });
    try testing.expectError(error.InvalidFrame, strip.decode(Input.fromSlice(&.{1})));
    const frame = (try strip.decode(Input.fromSlice(&.{ 2, 'a' }))).?;
    try testing.expectEqual(Frame{ .consume_len = 2, .payload_start = 2, .payload_len = 0 }, frame);
}

test "LengthField: init rejects unsupported lengths and bad arguments" {
    for ([_]usize{ 0, 5, 6, 7, 9, 16 }) |n| {
        try testing.expectError(error.UnsupportedLength, LengthField.init(.{ .length_field_length = n }));
    }
    try testing.expectError(error.InvalidArgument, LengthField.init(.{ .length_field_length = 4, .length_field_offset = 65537 }));
    _ = try LengthField.init(.{ .length_field_length = 4, .length_field_offset = 65536 });
    try testing.expectError(error.InvalidArgument, LengthField.init(.{ .length_field_length = 4, .max_frame_length = 0 }));
    try testing.expectError(error.InvalidArgument, LengthField.init(.{ .length_field_length = 1, .initial_bytes_to_strip = 12, .max_frame_length = 10 }));
    _ = try LengthField.init(.{ .length_field_length = 1, .initial_bytes_to_strip = 11, .max_frame_length = 10 });
}

test "LengthField: writeHeader rejects negative fields, field overflow and frames past max" {
    var header: [6]u8 = undefined;
    const adj = try LengthField.init(.{ .length_field_length = 2, .length_adjustment = 3 });
    try testing.expectError(error.InvalidFrame, adj.writeHeader(2, header[0..2]));
    try adj.writeHeader(3, header[0..2]);
    try testing.expectEqualSlices(u8, &.{ 0, 0 }, header[0..2]);
    const small = try LengthField.init(.{ .length_field_length = 2, .max_frame_length = 100 });
    try small.writeHeader(98, header[0..2]);
    try testing.expectError(error.FrameTooLarge, small.writeHeader(99, header[0..2]));
    const wide = try LengthField.init(.{ .length_field_length = 2, .length_adjustment = -10 });
    try testing.expectError(error.FrameTooLarge, wide.writeHeader(65535 - 9, header[0..2]));
    try wide.writeHeader(65535 - 10, header[0..2]);
    // Offset bytes are written as zeros.
    const off = try LengthField.init(.{ .length_field_offset = 4, .length_field_length = 2 });
    @memset(&header, 0xAA);
    try off.writeHeader(0x0102, &header);
    try testing.expectEqualSlices(u8, &.{ 0, 0, 0, 0, 1, 2 }, &header);
}
