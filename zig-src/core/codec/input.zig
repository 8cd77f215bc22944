//! A read-only view of a connection's buffered inbound stream. The bytes live in up to three
//! places (the inbound ring's head and tail, then the bytes just read from the socket), and
//! codecs must frame across them without the caller first copying everything into one buffer.
const std = @import("std");
const assert = std.debug.assert;

/// The buffered stream as up to 3 ordered parts (ring head, ring tail, freshly read bytes);
/// any may be empty.
pub const Input = struct {
    /// Three because that is the most a connection ever holds: a wrapped ring plus one read.
    pub const parts_count = 3;

    parts: [parts_count][]const u8,

    pub fn fromSlice(bytes: []const u8) Input {
        return .{ .parts = .{ bytes, &.{}, &.{} } };
    }

    pub fn len(self: Input) usize {
        var total: usize = 0;
        for (self.parts) |part| total += part.len;
        return total;
    }

    /// The stream without its first `n` bytes: lets a caller decode several frames in one pass
    /// without consuming them from the buffer underneath.
    pub fn advance(self: Input, n: usize) Input {
        assert(n <= self.len());
        var result = self;
        var left = n;
        for (&result.parts) |*part| {
            const take = @min(left, part.len);
            part.* = part.*[take..];
            left -= take;
        }
        assert(left == 0);
        assert(result.len() == self.len() - n);
        return result;
    }

    /// Copies the stream bytes [offset, offset + out.len) into `out`.
    pub fn copyOut(self: Input, offset: usize, out: []u8) void {
        assert(offset <= self.len());
        assert(out.len <= self.len() - offset);
        var copied: usize = 0;
        var part_start: usize = 0;
        for (self.parts) |part| {
            if (copied == out.len) break;
            const part_end = part_start + part.len;
            const from = offset + copied;
            if (from < part_end) {
                const within = from - part_start;
                const n = @min(part.len - within, out.len - copied);
                @memcpy(out[copied..][0..n], part[within..][0..n]);
                copied += n;
            }
            part_start = part_end;
        }
        assert(copied == out.len);
    }

    /// A direct slice of the stream bytes [offset, offset + length) when they lie in one part,
    /// so that the caller can skip a copy; null when the range straddles parts.
    pub fn contiguous(self: Input, offset: usize, length: usize) ?[]const u8 {
        assert(offset <= self.len());
        assert(length <= self.len() - offset);
        if (length == 0) return &.{};
        var part_start: usize = 0;
        for (self.parts) |part| {
            const part_end = part_start + part.len;
            if (offset < part_end) {
                const within = offset - part_start;
                if (length > part.len - within) return null;
                return part[within..][0..length];
            }
            part_start = part_end;
        }
        unreachable; // length > 0 and the range is in bounds, so some part holds `offset`.
    }
};

test "Input: advance drops leading bytes across part boundaries" {
    const input: Input = .{ .parts = .{ "ab", "", "cdef" } };
    var out: [3]u8 = undefined;
    const rest = input.advance(3);
    try std.testing.expectEqual(@as(usize, 3), rest.len());
    rest.copyOut(0, &out);
    try std.testing.expectEqualStrings("def", &out);
    try std.testing.expectEqual(@as(usize, 0), input.advance(6).len());
}

test "Input: copyOut and contiguous across parts, empty parts included" {
    const whole = "abcdefghij";
    // Every way to cut the 10 bytes into 3 ordered parts.
    var a: usize = 0;
    while (a <= whole.len) : (a += 1) {
        var b: usize = a;
        while (b <= whole.len) : (b += 1) {
            const input: Input = .{ .parts = .{ whole[0..a], whole[a..b], whole[b..] } };
            try std.testing.expectEqual(whole.len, input.len());
            var offset: usize = 0;
            while (offset <= whole.len) : (offset += 1) {
                var length: usize = 0;
                while (length <= whole.len - offset) : (length += 1) {
                    var out: [whole.len]u8 = undefined;
                    input.copyOut(offset, out[0..length]);
                    try std.testing.expectEqualSlices(u8, whole[offset..][0..length], out[0..length]);
                    const in_one_part = length == 0 or
                        (offset + length <= a) or
                        (offset >= a and offset + length <= b) or
                        (offset >= b);
                    if (input.contiguous(offset, length)) |direct| {
                        try std.testing.expect(in_one_part);
                        try std.testing.expectEqualSlices(u8, whole[offset..][0..length], direct);
                    } else {
                        try std.testing.expect(!in_one_part);
                    }
                }
            }
        }
    }
}

test "Input: fromSlice is one part" {
    const input = Input.fromSlice("xyz");
    try std.testing.expectEqual(@as(usize, 3), input.len());
    try std.testing.expectEqualSlices(u8, "yz", input.contiguous(1, 2).?);
    try std.testing.expectEqual(@as(usize, 0), Input.fromSlice(&.{}).len());
}
