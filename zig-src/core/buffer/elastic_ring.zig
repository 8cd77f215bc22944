//! A connection's inbound buffer: a RingBuffer that exists only while it holds bytes.
//! gnet returns the emptied ring to a pool; we free it, so an idle connection holds no
//! buffer memory at all (most connections are idle most of the time). Even the ring's own
//! bookkeeping is allocated with it: an idle connection holds a null pointer, not an empty ring.
const std = @import("std");
const assert = std.debug.assert;
const Allocator = std.mem.Allocator;
const RingBuffer = @import("ring.zig").RingBuffer;

pub const ElasticRingBuffer = struct {
    allocator: Allocator,
    /// Present exactly when bytes are buffered.
    ring: ?*RingBuffer,

    pub fn init(allocator: Allocator) ElasticRingBuffer {
        return .{ .allocator = allocator, .ring = null };
    }

    pub fn deinit(self: *ElasticRingBuffer) void {
        self.assertInvariants();
        self.reset();
        self.* = undefined;
    }

    /// Appends all of `bytes`. The first write sizes the ring by RingBuffer's growth from
    /// 0, so a small leftover costs 1 KiB and a big one what it needs. On OutOfMemory
    /// nothing changes.
    pub fn write(self: *ElasticRingBuffer, bytes: []const u8) Allocator.Error!void {
        // An empty write must not allocate a ring that would hold nothing.
        if (bytes.len == 0) return;
        if (self.ring) |ring| {
            try ring.write(bytes);
        } else {
            const ring = try self.allocator.create(RingBuffer);
            errdefer self.allocator.destroy(ring);
            // Size 0 allocates nothing, so this cannot fail.
            ring.* = RingBuffer.init(self.allocator, 0) catch unreachable;
            // On OutOfMemory the ring holds no buffer: nothing to free but the box.
            try ring.write(bytes);
            self.ring = ring;
        }
        assert(self.ring != null);
        self.assertInvariants();
    }

    pub fn read(self: *ElasticRingBuffer, out: []u8) usize {
        const ring = if (self.ring) |ring| ring else return 0;
        const read_bytes = ring.read(out);
        assert(read_bytes <= out.len);
        self.releaseIfEmpty();
        return read_bytes;
    }

    pub fn peek(self: *const ElasticRingBuffer, max: usize) [2][]const u8 {
        const ring = if (self.ring) |ring| ring else return .{ &.{}, &.{} };
        const slices = ring.peek(max);
        assert(slices[0].len + slices[1].len <= max);
        return slices;
    }

    pub fn discard(self: *ElasticRingBuffer, n: usize) usize {
        const ring = if (self.ring) |ring| ring else return 0;
        const discarded_bytes = ring.discard(n);
        assert(discarded_bytes <= n);
        self.releaseIfEmpty();
        return discarded_bytes;
    }

    pub fn buffered(self: *const ElasticRingBuffer) usize {
        const ring = if (self.ring) |ring| ring else return 0;
        // The ring exists only while it holds bytes.
        assert(!ring.isEmpty());
        return ring.buffered();
    }

    /// Free bytes in the current ring; 0 when there is none (the next write creates it).
    pub fn available(self: *const ElasticRingBuffer) usize {
        const ring = if (self.ring) |ring| ring else return 0;
        return ring.available();
    }

    pub fn capacity(self: *const ElasticRingBuffer) usize {
        const ring = if (self.ring) |ring| ring else return 0;
        return ring.capacity();
    }

    pub fn isEmpty(self: *const ElasticRingBuffer) bool {
        self.assertInvariants();
        return self.ring == null;
    }

    /// Drops the content and, unlike RingBuffer.reset, the memory too.
    pub fn reset(self: *ElasticRingBuffer) void {
        if (self.ring) |ring| {
            ring.deinit();
            self.allocator.destroy(ring);
        }
        self.ring = null;
    }

    fn releaseIfEmpty(self: *ElasticRingBuffer) void {
        const ring = self.ring.?;
        if (ring.isEmpty()) self.reset();
        self.assertInvariants();
    }

    fn assertInvariants(self: *const ElasticRingBuffer) void {
        if (self.ring) |ring| {
            assert(!ring.isEmpty());
            assert(ring.buffered() <= ring.capacity());
        }
    }
};

// ---------------------------------------------------------------------------------------
// Tests

const testing = std.testing;

fn expectContent(buffer: *const ElasticRingBuffer, expected: []const u8) !void {
    const parts = buffer.peek(buffer.buffered());
    try testing.expectEqual(expected.len, parts[0].len + parts[1].len);
    try testing.expectEqualSlices(u8, expected[0..parts[0].len], parts[0]);
    try testing.expectEqualSlices(u8, expected[parts[0].len..], parts[1]);
}

test "ElasticRingBuffer: no memory until the first write" {
    // testing.allocator fails the test on a leak, and a failing allocator that refuses
    // every allocation proves init and the empty queries allocate nothing.
    var failing = testing.FailingAllocator.init(testing.allocator, .{ .fail_index = 0 });
    var buffer = ElasticRingBuffer.init(failing.allocator());
    defer buffer.deinit();
    try testing.expect(buffer.isEmpty());
    try testing.expectEqual(@as(usize, 0), buffer.buffered());
    try testing.expectEqual(@as(usize, 0), buffer.available());
    try testing.expectEqual(@as(usize, 0), buffer.capacity());
    try testing.expectEqual(@as(usize, 0), buffer.peek(10)[0].len);
    try testing.expectEqual(@as(usize, 0), buffer.discard(10));
    var out: [4]u8 = undefined;
    try testing.expectEqual(@as(usize, 0), buffer.read(&out));
    try buffer.write("");
    buffer.reset();
    try testing.expectEqual(@as(usize, 0), failing.allocations);
}

test "ElasticRingBuffer: first write sizes the ring by growth from 0" {
    var buffer = ElasticRingBuffer.init(testing.allocator);
    defer buffer.deinit();
    try buffer.write("abc");
    try testing.expectEqual(@as(usize, 1024), buffer.capacity());
    try testing.expectEqual(@as(usize, 1021), buffer.available());
    buffer.reset();

    const big = [_]u8{1} ** 1500;
    try buffer.write(&big);
    try testing.expectEqual(@as(usize, 2048), buffer.capacity());
    try expectContent(&buffer, &big);
}

test "ElasticRingBuffer: memory freed when read or discard empties it" {
    var buffer = ElasticRingBuffer.init(testing.allocator);
    defer buffer.deinit();
    try buffer.write("hello");
    var out: [3]u8 = undefined;
    try testing.expectEqual(@as(usize, 3), buffer.read(&out));
    try testing.expect(buffer.ring != null);
    try testing.expectEqual(@as(usize, 2), buffer.read(&out));
    try testing.expectEqualStrings("lo", out[0..2]);
    try testing.expect(buffer.ring == null);
    try testing.expectEqual(@as(usize, 0), buffer.capacity());

    try buffer.write("world");
    try testing.expectEqual(@as(usize, 4), buffer.discard(4));
    try testing.expect(buffer.ring != null);
    try testing.expectEqual(@as(usize, 1), buffer.discard(4));
    try testing.expect(buffer.ring == null);

    try buffer.write("again");
    buffer.reset();
    try testing.expect(buffer.ring == null);
    try testing.expect(buffer.isEmpty());
}

test "ElasticRingBuffer: allocation failure in write leaves the buffer unchanged and usable" {
    // Allocation 0 is the ring's box, 1 its buffer; the growth that follows is refused.
    var failing = testing.FailingAllocator.init(testing.allocator, .{ .fail_index = 2 });
    var buffer = ElasticRingBuffer.init(failing.allocator());
    defer buffer.deinit();
    try buffer.write("abc");
    const big = [_]u8{9} ** 2000;
    try testing.expectError(error.OutOfMemory, buffer.write(&big));
    try expectContent(&buffer, "abc");
    try testing.expectEqual(@as(usize, 1024), buffer.capacity());
    try buffer.write("def");
    try expectContent(&buffer, "abcdef");
    // FailingAllocator keeps failing once it reached fail_index; lift it and grow.
    failing.fail_index = std.math.maxInt(usize);
    try buffer.write(&big);
    try testing.expectEqual(@as(usize, 2048), buffer.capacity());
    try testing.expectEqual(@as(usize, 2006), buffer.buffered());
    failing.fail_index = failing.alloc_index;

    var fresh = ElasticRingBuffer.init(failing.allocator());
    defer fresh.deinit();
    try testing.expectError(error.OutOfMemory, fresh.write("x"));
    try testing.expect(fresh.ring == null);
    // The box allocated, its buffer refused: the box is given back (testing.allocator would
    // report the leak).
    failing.fail_index = std.math.maxInt(usize);
    failing.fail_index = failing.alloc_index + 1;
    try testing.expectError(error.OutOfMemory, fresh.write("x"));
    try testing.expect(fresh.ring == null);
}

test "ElasticRingBuffer: seeded random operations match a FIFO model" {
    const seeds = [_]u64{ 0x5EED_0002, 7, 0xDEADBEEF };
    try fifo.forEachSeed(&seeds, randomRun);
}

fn randomRun(allocator: Allocator, seed: u64) !void {
    const ops_count = 20_000;
    const write_bytes_max = 5000;
    var prng = std.Random.DefaultPrng.init(seed);
    const random = prng.random();

    var model = Model.init();
    defer model.deinit();
    var buffer = ElasticRingBuffer.init(allocator);
    defer buffer.deinit();
    var scratch: [write_bytes_max + 1024]u8 = undefined;
    // Declared after the defers so it prints before they run (a deinit may assert on a
    // corrupted structure).
    errdefer std.debug.print("ElasticRingBuffer random test failed with seed {d}\n", .{seed});

    for (0..ops_count) |_| {
        switch (random.uintLessThan(u8, 100)) {
            0...39 => {
                const bytes = fifo.randomBytes(random, &scratch, write_bytes_max);
                try buffer.write(bytes);
                try model.append(bytes);
            },
            40...64 => try fifo.expectRead(&buffer, &model, scratch[0..random.uintAtMost(usize, scratch.len)]),
            65...84 => try fifo.expectTwoPartPeek(&buffer, &model, random.uintAtMost(usize, model.items().len + 100)),
            85...98 => try fifo.expectDiscard(&buffer, &model, random.uintAtMost(usize, 6000)),
            else => {
                buffer.reset();
                model.clear();
            },
        }
        try testing.expectEqual(model.items().len, buffer.buffered());
        try testing.expectEqual(model.items().len == 0, buffer.isEmpty());
        // The point of the wrapper: an empty buffer owns no memory.
        if (model.items().len == 0) try testing.expectEqual(@as(usize, 0), buffer.capacity());
    }
    try expectContent(&buffer, model.items());
}

const fifo = @import("fifo_model.zig");
const Model = fifo.Model;
