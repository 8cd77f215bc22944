//! Fixed-length framing (gnet v1's FixedLengthFrameCodec): every frame is exactly
//! `frame_length` bytes. Encoding adds nothing; a payload must be a whole number of frames.
const std = @import("std");
const assert = std.debug.assert;
const codec = @import("codec.zig");
const Error = codec.Error;
const Frame = codec.Frame;
const Input = codec.Input;

pub const FixedLength = struct {
    frame_length: usize,

    pub fn init(frame_length: usize) Error!FixedLength {
        if (frame_length == 0) return error.InvalidArgument;
        return .{ .frame_length = frame_length };
    }

    pub fn decode(self: *const FixedLength, input: Input) Error!?Frame {
        assert(self.frame_length >= 1);
        if (input.len() < self.frame_length) return null;
        return .{ .consume_len = self.frame_length, .payload_start = 0, .payload_len = self.frame_length };
    }

    /// gnet v1 sends a multiple of the frame length as is (several frames, no padding) and
    /// rejects anything else; an empty payload is zero frames.
    pub fn validatePayload(self: *const FixedLength, payload_len: usize) Error!void {
        assert(self.frame_length >= 1);
        if (payload_len % self.frame_length != 0) return error.InvalidFixedLength;
    }
};

const testing = std.testing;

test "FixedLength: frame once exactly frame_length bytes are buffered" {
    const fixed = try FixedLength.init(4);
    try testing.expectEqual(@as(?Frame, null), try fixed.decode(Input.fromSlice("abc")));
    const frame: Frame = .{ .consume_len = 4, .payload_start = 0, .payload_len = 4 };
    try testing.expectEqual(@as(?Frame, frame), try fixed.decode(Input.fromSlice("abcd")));
    try testing.expectEqual(@as(?Frame, frame), try fixed.decode(.{ .parts = .{ "a", "bc", "defgh" } }));
}

test "FixedLength: init rejects zero" {
    try testing.expectError(error.InvalidArgument, FixedLength.init(0));
}

test "FixedLength: gnet v1 rejects a 15-byte payload with frame length 8" {
    const fixed: codec.Codec = .{ .fixed_length = try FixedLength.init(8) };
    try testing.expectEqual(@as(usize, 0), fixed.headerLen());
    try testing.expectEqual(@as(usize, 0), fixed.trailer().len);
    try testing.expectError(error.InvalidFixedLength, fixed.writeHeader(15, &.{}));
    try fixed.writeHeader(16, &.{});
    try fixed.writeHeader(8, &.{});
    try fixed.writeHeader(0, &.{});
}
