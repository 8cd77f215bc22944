//! The reference the fuzz targets compare against: a byte stream in a plain array, and the
//! framing rules written the slow, obvious way (a linear search, a byte-by-byte field read),
//! independent of the core's scan hints, multi-part inputs and batching.
const std = @import("std");

pub const Stream = struct {
    bytes: std.ArrayListUnmanaged(u8) = .{},
    head: usize = 0,

    pub fn items(self: *const Stream) []const u8 {
        return self.bytes.items[self.head..];
    }

    pub fn append(self: *Stream, gpa: std.mem.Allocator, data: []const u8) !void {
        try self.bytes.appendSlice(gpa, data);
    }

    pub fn consume(self: *Stream, n: usize) void {
        std.debug.assert(n <= self.items().len);
        self.head += n;
        if (self.head == self.bytes.items.len) self.clear();
    }

    pub fn clear(self: *Stream) void {
        self.bytes.clearRetainingCapacity();
        self.head = 0;
    }

    pub fn deinit(self: *Stream, gpa: std.mem.Allocator) void {
        self.bytes.deinit(gpa);
    }
};

/// What a codec must make of the front of a stream.
pub const Expected = union(enum) {
    incomplete,
    frame: struct { consume: usize, payload_start: usize, payload_len: usize },
    frame_too_large,
    invalid_frame,
};

pub const Rule = union(enum) {
    delimiter: struct { bytes: []const u8, max: usize },
    fixed: usize,
    length_field: struct { big_endian: bool, offset: usize, field: usize, adjustment: i64, strip: usize, max: usize },

    pub fn expect(rule: Rule, s: []const u8) Expected {
        switch (rule) {
            .delimiter => |d| {
                // The first place the delimiter occurs, if the frame before it is allowed.
                var p: usize = 0;
                while (p + d.bytes.len <= s.len and p <= d.max) : (p += 1) {
                    if (std.mem.eql(u8, s[p..][0..d.bytes.len], d.bytes)) {
                        return .{ .frame = .{ .consume = p + d.bytes.len, .payload_start = 0, .payload_len = p } };
                    }
                }
                // No delimiter can start at or before `max` any more: too long already.
                if (s.len >= d.bytes.len and s.len - d.bytes.len + 1 > d.max) return .frame_too_large;
                return .incomplete;
            },
            .fixed => |n| return if (s.len >= n) .{ .frame = .{ .consume = n, .payload_start = 0, .payload_len = n } } else .incomplete,
            .length_field => |l| {
                const header = l.offset + l.field;
                if (s.len < header) return .incomplete;
                var value: u128 = 0;
                for (0..l.field) |i| {
                    const byte = if (l.big_endian) s[l.offset + i] else s[l.offset + l.field - 1 - i];
                    value = value * 256 + byte;
                }
                const total: i256 = @as(i256, header) + value + l.adjustment;
                if (total < header) return .invalid_frame;
                if (total > l.max) return .frame_too_large;
                if (l.strip > total) return .invalid_frame;
                if (s.len < total) return .incomplete;
                const t: usize = @intCast(total);
                return .{ .frame = .{ .consume = t, .payload_start = l.strip, .payload_len = t - l.strip } };
            },
        }
    }
};

test "model rules: a few hand-checked cases" {
    const line: Rule = .{ .delimiter = .{ .bytes = "\n", .max = 3 } };
    try std.testing.expectEqual(Expected{ .frame = .{ .consume = 3, .payload_start = 0, .payload_len = 2 } }, line.expect("ab\ncd"));
    try std.testing.expectEqual(Expected.incomplete, line.expect("abc"));
    try std.testing.expectEqual(Expected.frame_too_large, line.expect("abcd"));
    const lf: Rule = .{ .length_field = .{ .big_endian = true, .offset = 0, .field = 2, .adjustment = 0, .strip = 2, .max = 100 } };
    try std.testing.expectEqual(Expected{ .frame = .{ .consume = 5, .payload_start = 2, .payload_len = 3 } }, lf.expect("\x00\x03abcz"));
    try std.testing.expectEqual(Expected.frame_too_large, lf.expect("\xff\xff"));
}
