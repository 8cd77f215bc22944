//! A stream's delimiter-scan state, kept per codec. A delimiter codec remembers how many
//! leading stream bytes it has ruled out (see Delimiter.decode), which only holds for ITS
//! delimiter: a line codec's "no '\n' before 900" says nothing about '\0'. So a stream keeps
//! one hint per codec that scanned it, and any codecs may take turns on one stream.
const std = @import("std");
const assert = std.debug.assert;

pub const ScanHints = struct {
    /// Codecs remembered per stream. A fifth codec evicts the oldest, which merely rescans
    /// from the front next time; protocols switch between two or three codecs at most.
    pub const ways = 4;

    /// Codec ids (never 0; 0 marks a free way) and their hints, in stream positions.
    keys: [ways]u64 = [_]u64{0} ** ways,
    hints: [ways]usize = [_]usize{0} ** ways,
    /// The way the next unknown codec takes (round robin).
    victim: u8 = 0,

    /// The hint of codec `key` on this stream; a codec it does not remember starts from 0.
    pub fn get(self: *ScanHints, key: u64) *usize {
        assert(key != 0);
        for (&self.keys, 0..) |k, i| {
            if (k == key) return &self.hints[i];
        }
        const i = self.victim;
        self.victim = (self.victim + 1) % ways;
        self.keys[i] = key;
        self.hints[i] = 0;
        return &self.hints[i];
    }

    /// `n` bytes left the front: a position ruled out stays ruled out, `n` places earlier.
    pub fn consume(self: *ScanHints, n: usize) void {
        for (&self.hints) |*h| h.* -|= n;
    }

    /// The stream was replaced or is scanned from elsewhere: nothing is known any more.
    pub fn reset(self: *ScanHints) void {
        self.hints = [_]usize{0} ** ways;
    }
};

const testing = std.testing;

test "ScanHints: one hint per codec, consumed bytes shift them, a fifth codec evicts the oldest" {
    var s: ScanHints = .{};
    s.get(7).* = 100;
    s.get(9).* = 5;
    try testing.expectEqual(@as(usize, 100), s.get(7).*);
    try testing.expectEqual(@as(usize, 5), s.get(9).*);
    s.consume(10);
    try testing.expectEqual(@as(usize, 90), s.get(7).*);
    try testing.expectEqual(@as(usize, 0), s.get(9).*);
    for ([_]u64{ 1, 2, 3 }) |k| s.get(k).* = 1;
    // 7 was the oldest way: evicted, it starts again from 0.
    try testing.expectEqual(@as(usize, 0), s.get(7).*);
    s.get(2).* = 3;
    s.reset();
    try testing.expectEqual(@as(usize, 0), s.get(2).*);
}
