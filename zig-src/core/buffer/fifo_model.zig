//! Test support shared by the buffers' randomized tests (not compiled into the artifacts).
const std = @import("std");
const testing = std.testing;
const assert = std.debug.assert;

/// The FIFO reference model the buffers' randomized tests check against: a plain byte array
/// whose consumed front is dropped lazily, so the check stays cheap however large the backlog
/// grows.
pub const Model = struct {
    bytes: std.ArrayList(u8),
    head: usize,

    pub fn init() Model {
        return .{ .bytes = std.ArrayList(u8).init(testing.allocator), .head = 0 };
    }

    pub fn deinit(self: *Model) void {
        self.bytes.deinit();
    }

    pub fn items(self: *const Model) []const u8 {
        assert(self.head <= self.bytes.items.len);
        return self.bytes.items[self.head..];
    }

    pub fn append(self: *Model, bytes: []const u8) !void {
        try self.bytes.appendSlice(bytes);
    }

    pub fn consume(self: *Model, n: usize) void {
        // The buffers under test never give back more than they hold.
        assert(n <= self.items().len);
        self.head += n;
        // Compact once the dead front outweighs the live bytes: the two do not overlap then.
        if (self.head * 2 >= self.bytes.items.len) self.compact();
    }

    pub fn compact(self: *Model) void {
        const live_bytes = self.bytes.items.len - self.head;
        @memcpy(self.bytes.items[0..live_bytes], self.bytes.items[self.head..]);
        self.bytes.shrinkRetainingCapacity(live_bytes);
        self.head = 0;
    }

    pub fn clear(self: *Model) void {
        self.bytes.clearRetainingCapacity();
        self.head = 0;
    }

    pub fn pushFront(self: *Model, bytes: []const u8) !void {
        if (bytes.len <= self.head) {
            self.head -= bytes.len;
            @memcpy(self.bytes.items[self.head..][0..bytes.len], bytes);
        } else {
            try self.bytes.insertSlice(self.head, bytes);
        }
        assert(std.mem.eql(u8, self.items()[0..bytes.len], bytes));
    }
};

/// Runs a randomized test once per seed, each under its own leak-checking allocator: like
/// testing.allocator, minus its per-allocation stack capture, which would dominate a run of
/// this many allocations.
pub fn forEachSeed(seeds: []const u64, comptime run: fn (std.mem.Allocator, u64) anyerror!void) !void {
    assert(seeds.len > 0);
    for (seeds) |seed| {
        var gpa = std.heap.GeneralPurposeAllocator(.{ .stack_trace_frames = 0 }){};
        try run(gpa.allocator(), seed);
        try testing.expect(gpa.deinit() == .ok);
    }
}

/// Random bytes, at most `bytes_max` of them, in the front of `scratch`.
pub fn randomBytes(random: std.Random, scratch: []u8, bytes_max: usize) []u8 {
    assert(bytes_max <= scratch.len);
    const bytes = scratch[0..random.uintAtMost(usize, bytes_max)];
    random.bytes(bytes);
    return bytes;
}

/// A read into `out` gives the model's front, as much as fits; the model drops it too.
pub fn expectRead(buffer: anytype, model: *Model, out: []u8) !void {
    const n = buffer.read(out);
    try testing.expectEqual(@min(out.len, model.items().len), n);
    try testing.expectEqualSlices(u8, model.items()[0..n], out[0..n]);
    model.consume(n);
}

/// A discard of `n` drops what the model drops.
pub fn expectDiscard(buffer: anytype, model: *Model, n: usize) !void {
    const dropped = @min(n, model.items().len);
    try testing.expectEqual(dropped, buffer.discard(n));
    model.consume(dropped);
}

/// A ring's peek: two slices that together are the model's first `max` bytes (or all of them).
pub fn expectTwoPartPeek(buffer: anytype, model: *const Model, max: usize) !void {
    const parts = buffer.peek(max);
    const n = @min(max, model.items().len);
    try testing.expectEqual(n, parts[0].len + parts[1].len);
    try testing.expectEqualSlices(u8, model.items()[0..parts[0].len], parts[0]);
    try testing.expectEqualSlices(u8, model.items()[parts[0].len..n], parts[1]);
}

/// A peek into a slice array: the slices are the model's front, in order, none empty; short of
/// `max` only when the array ran out.
pub fn expectSlicesPeek(buffer: anytype, model: *const Model, max: usize, out: [][]const u8) !void {
    const filled = buffer.peek(max, out);
    assert(filled <= out.len);
    var offset: usize = 0;
    for (out[0..filled]) |slice| {
        try testing.expect(slice.len > 0);
        try testing.expectEqualSlices(u8, model.items()[offset..][0..slice.len], slice);
        offset += slice.len;
    }
    if (filled < out.len) try testing.expectEqual(@min(max, model.items().len), offset);
}
