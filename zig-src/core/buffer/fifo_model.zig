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
