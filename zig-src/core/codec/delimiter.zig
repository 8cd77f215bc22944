//! Delimiter framing (gnet v1's LineBasedFrameCodec and DelimiterBasedFrameCodec, widened to
//! multi-byte delimiters): a frame is every byte before the first delimiter. A '\r' before a
//! '\n' stays in the frame, as in gnet.
const std = @import("std");
const assert = std.debug.assert;
const codec = @import("codec.zig");
const Error = codec.Error;
const Frame = codec.Frame;
const Input = codec.Input;

pub const Delimiter = struct {
    /// Longer than any separator a line protocol uses, and small enough that one straddling
    /// two parts is copied onto the stack to compare, keeping a candidate check O(64).
    pub const delimiter_len_max = 64;

    /// Stored inline: the codec outlives whatever buffer the delimiter was given in.
    bytes: [delimiter_len_max]u8,
    delimiter_len: u8,
    max_frame_length: usize,

    pub fn init(separator: []const u8, max_frame_length: usize) Error!Delimiter {
        if (separator.len == 0 or separator.len > delimiter_len_max) return error.InvalidArgument;
        if (max_frame_length == 0) return error.InvalidArgument;
        var self: Delimiter = .{
            .bytes = [_]u8{0} ** delimiter_len_max,
            .delimiter_len = @intCast(separator.len),
            .max_frame_length = max_frame_length,
        };
        @memcpy(self.bytes[0..separator.len], separator);
        assert(std.mem.eql(u8, self.delimiter(), separator));
        return self;
    }

    pub fn delimiter(self: *const Delimiter) []const u8 {
        assert(self.delimiter_len >= 1);
        return self.bytes[0..self.delimiter_len];
    }

    /// gnet adds the delimiter without looking inside the payload; only its length is checked,
    /// so that the peer's decoder will accept what is sent.
    pub fn validatePayload(self: *const Delimiter, payload_len: usize) Error!void {
        assert(self.max_frame_length >= 1);
        if (payload_len > self.max_frame_length) return error.FrameTooLarge;
    }

    /// `scan_hint`: stream positions below it are known not to start a delimiter (every byte
    /// the delimiter would cover was already buffered and compared). Appending bytes cannot
    /// change that, so each byte is scanned about once however the line trickles in.
    pub fn decode(self: *const Delimiter, input: Input, scan_hint: *usize) Error!?Frame {
        const d = self.delimiter();
        const total = input.len();
        assert(scan_hint.* <= total);
        if (total < d.len) return null;

        // A delimiter may start at p only if it fits in what is buffered (p + d.len <= total)
        // and only if the frame before it is allowed (p <= max_frame_length).
        const starts_end = @min(total - d.len + 1, self.max_frame_length +| 1);
        if (self.find(input, scan_hint.*, starts_end)) |p| {
            assert(p >= scan_hint.* and p < starts_end);
            assert(p <= self.max_frame_length);
            const frame: Frame = .{ .consume_len = p + d.len, .payload_start = 0, .payload_len = p };
            assert(frame.consume_len <= total);
            return frame;
        }
        // No delimiter starts at or below max_frame_length and none can arrive there any more:
        // the frame is already too long, so fail now instead of buffering without end.
        if (total - d.len + 1 > self.max_frame_length) return error.FrameTooLarge;
        scan_hint.* = @max(scan_hint.*, starts_end);
        assert(scan_hint.* <= total);
        return null;
    }

    /// The first stream position in [start, end) where the whole delimiter begins.
    /// Requires end + delimiter length - 1 <= input.len().
    fn find(self: *const Delimiter, input: Input, start: usize, end: usize) ?usize {
        const d = self.delimiter();
        assert(end -| 1 + d.len <= input.len());
        if (start >= end) return null;
        var part_start: usize = 0;
        for (input.parts) |part| {
            if (part_start >= end) break;
            // Only the first byte is searched with the vectorised scan; candidates are then
            // verified in place, or across the part boundary when the delimiter straddles it.
            const searchable = part[0..@min(part.len, end - part_start)];
            var from: usize = if (start > part_start) start - part_start else 0;
            while (std.mem.indexOfScalarPos(u8, searchable, from, d[0])) |i| {
                const p = part_start + i;
                if (matchesAt(input, p, d)) return p;
                from = i + 1;
            }
            part_start += part.len;
        }
        return null;
    }
};

fn matchesAt(input: Input, offset: usize, d: []const u8) bool {
    assert(d.len <= Delimiter.delimiter_len_max);
    if (d.len == 1) return true; // The scan already matched the only byte.
    if (input.contiguous(offset, d.len)) |direct| return std.mem.eql(u8, direct, d);
    var copy: [Delimiter.delimiter_len_max]u8 = undefined;
    input.copyOut(offset, copy[0..d.len]);
    return std.mem.eql(u8, copy[0..d.len], d);
}

const testing = std.testing;

fn decodeSlice(self: *const Delimiter, bytes: []const u8) Error!?Frame {
    var hint: usize = 0;
    return self.decode(Input.fromSlice(bytes), &hint);
}

test "Delimiter: line frame excludes the newline and keeps a carriage return" {
    const line = try Delimiter.init("\n", codec.default_max_frame_length);
    const frame = (try decodeSlice(&line, "hello\r\nworld")).?;
    try testing.expectEqual(Frame{ .consume_len = 7, .payload_start = 0, .payload_len = 6 }, frame);
    try testing.expectEqual(@as(?Frame, null), try decodeSlice(&line, "no newline yet"));
    const empty = (try decodeSlice(&line, "\nrest")).?;
    try testing.expectEqual(Frame{ .consume_len = 1, .payload_start = 0, .payload_len = 0 }, empty);
}

test "Delimiter: multi-byte delimiter split across every part boundary" {
    const crlf = try Delimiter.init("\r\n\r\n", 1024);
    const stream = "GET / HTTP/1.1\r\nHost: x\r\n\r\nbody";
    const expected: Frame = .{ .consume_len = 27, .payload_start = 0, .payload_len = 23 };
    var a: usize = 0;
    while (a <= stream.len) : (a += 1) {
        var b: usize = a;
        while (b <= stream.len) : (b += 1) {
            var hint: usize = 0;
            const input: Input = .{ .parts = .{ stream[0..a], stream[a..b], stream[b..] } };
            try testing.expectEqual(@as(?Frame, expected), try crlf.decode(input, &hint));
        }
    }
}

test "Delimiter: overlapping partial matches do not hide the delimiter" {
    const d = try Delimiter.init("aab", 100);
    const frame = (try decodeSlice(&d, "xaaab")).?;
    try testing.expectEqual(@as(usize, 2), frame.payload_len);
    try testing.expectEqual(@as(usize, 5), frame.consume_len);
}

test "Delimiter: init rejects empty, over-long delimiters and a zero max" {
    try testing.expectError(error.InvalidArgument, Delimiter.init("", 10));
    try testing.expectError(error.InvalidArgument, Delimiter.init(&([_]u8{'x'} ** 65), 10));
    try testing.expectError(error.InvalidArgument, Delimiter.init("\n", 0));
    const longest = try Delimiter.init(&([_]u8{'x'} ** 64), 10);
    try testing.expectEqual(@as(usize, 64), longest.delimiter().len);
}

test "Delimiter: frame of exactly max_frame_length passes, one more fails" {
    const d = try Delimiter.init("\r\n", 4);
    try testing.expectEqual(@as(usize, 4), (try decodeSlice(&d, "abcd\r\n")).?.payload_len);
    try testing.expectError(error.FrameTooLarge, decodeSlice(&d, "abcde\r\n"));
    // "abcd\r" may still become a 4-byte frame; "abcde" + one more byte never can.
    try testing.expectEqual(@as(?Frame, null), try decodeSlice(&d, "abcd\r"));
    try testing.expectEqual(@as(?Frame, null), try decodeSlice(&d, "abcde"));
    try testing.expectError(error.FrameTooLarge, decodeSlice(&d, "abcdef"));
}

test "Delimiter: a no-delimiter flood in 1-byte chunks fails with FrameTooLarge, each byte scanned once" {
    const max = 1000;
    const d = try Delimiter.init("\r\n", max);
    var stream: [max + 2]u8 = undefined;
    @memset(&stream, 'x');
    var hint: usize = 0;
    var received: usize = 1;
    while (received < max + 2) : (received += 1) {
        const input = Input.fromSlice(stream[0..received]);
        try testing.expectEqual(@as(?Frame, null), try d.decode(input, &hint));
        // Every position that could start the delimiter has been ruled out.
        try testing.expectEqual(received - 1, hint);
    }
    const input = Input.fromSlice(stream[0..received]);
    try testing.expectError(error.FrameTooLarge, d.decode(input, &hint));
    // Errors consume nothing and repeat.
    try testing.expectError(error.FrameTooLarge, d.decode(input, &hint));
    var fresh: usize = 0;
    try testing.expectError(error.FrameTooLarge, d.decode(input, &fresh));
}

test "Delimiter: scan hint skips bytes already ruled out" {
    const d = try Delimiter.init("\n", 100);
    var hint: usize = 0;
    try testing.expectEqual(@as(?Frame, null), try d.decode(Input.fromSlice("abc"), &hint));
    try testing.expectEqual(@as(usize, 3), hint);
    const frame = (try d.decode(Input.fromSlice("abcdef\n"), &hint)).?;
    try testing.expectEqual(@as(usize, 6), frame.payload_len);
}

test "Delimiter: writeHeader validates the payload length" {
    const d: codec.Codec = .{ .delimiter = try Delimiter.init("\n", 3) };
    try testing.expectEqual(@as(usize, 0), d.headerLen());
    try testing.expectEqualSlices(u8, "\n", d.trailer());
    try d.writeHeader(3, &.{});
    try testing.expectError(error.FrameTooLarge, d.writeHeader(4, &.{}));
}
