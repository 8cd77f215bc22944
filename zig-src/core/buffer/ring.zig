//! A growable byte ring: the storage behind a connection's inbound buffer and the static
//! part of its outbound buffer. Growth follows gnet's `ring.Buffer` policy exactly so that
//! capacities (and so memory use) match what a gnet user would see.
const std = @import("std");
const assert = std.debug.assert;
const Allocator = std.mem.Allocator;

pub const RingBuffer = struct {
    /// Capacity the first growth of an empty ring rounds up to (gnet's DefaultBufferSize).
    pub const default_size: usize = 1024;
    /// Below this capacity a growth doubles; above it grows by a quarter at a time, so big
    /// rings do not overshoot by up to 2x (gnet's bufferGrowThreshold).
    pub const grow_threshold: usize = 4096;

    /// Growth by a quarter reaches any target within 2x of the old capacity in at most
    /// four steps, because 1.25^4 > 2.
    const quarter_steps_max = 4;

    allocator: Allocator,
    /// The whole allocation; its length is the capacity (not necessarily a power of two).
    buf: []u8,
    /// Where the oldest buffered byte lives. Zero whenever the ring is empty.
    read_index: usize,
    /// Bytes stored, counted rather than derived from a write index so that full and empty
    /// need no extra flag.
    buffered_bytes: usize,

    /// A size of 0 allocates nothing; the first write then picks the capacity.
    pub fn init(allocator: Allocator, size: usize) Allocator.Error!RingBuffer {
        const buf: []u8 = if (size == 0) &.{} else try allocator.alloc(u8, try ceilToPowerOfTwo(size));
        const ring = RingBuffer{ .allocator = allocator, .buf = buf, .read_index = 0, .buffered_bytes = 0 };
        assert(ring.capacity() >= size);
        return ring;
    }

    pub fn deinit(self: *RingBuffer) void {
        self.assertInvariants();
        if (self.buf.len > 0) self.allocator.free(self.buf);
        self.* = undefined;
    }

    /// Appends all of `bytes`, growing first if they do not fit. On OutOfMemory the ring is
    /// unchanged.
    pub fn write(self: *RingBuffer, bytes: []const u8) Allocator.Error!void {
        try self.reserve(bytes.len);
        const buffered_before = self.buffered_bytes;
        const write_index = self.writeIndex();
        const head_len = @min(bytes.len, self.buf.len - write_index);
        @memcpy(self.buf[write_index..][0..head_len], bytes[0..head_len]);
        @memcpy(self.buf[0 .. bytes.len - head_len], bytes[head_len..]);
        self.buffered_bytes += bytes.len;
        assert(self.buffered_bytes == buffered_before + bytes.len);
        self.assertInvariants();
    }

    /// Makes room for `additional_bytes` more with the same growth policy as `write`, so
    /// that a caller writing several pieces can fail before changing anything.
    pub fn reserve(self: *RingBuffer, additional_bytes: usize) Allocator.Error!void {
        if (additional_bytes <= self.available()) return;
        // A sum past usize cannot be allocated anyway.
        const needed_bytes = std.math.add(usize, self.buffered_bytes, additional_bytes) catch
            return error.OutOfMemory;
        const capacity_bytes = grownCapacity(self.buf.len, needed_bytes);
        if (!self.growInPlace(capacity_bytes)) try self.relocate(capacity_bytes);
        assert(self.available() >= additional_bytes);
    }

    /// Copies and consumes up to `out.len` bytes; returns how many.
    pub fn read(self: *RingBuffer, out: []u8) usize {
        const parts = self.peek(out.len);
        @memcpy(out[0..parts[0].len], parts[0]);
        @memcpy(out[parts[0].len..][0..parts[1].len], parts[1]);
        const read_bytes = parts[0].len + parts[1].len;
        const discarded_bytes = self.discard(read_bytes);
        assert(discarded_bytes == read_bytes);
        return read_bytes;
    }

    /// The first min(max, buffered) bytes without consuming them: `head` runs from the read
    /// index, `tail` is non-empty only when the data wraps past the end of the allocation.
    pub fn peek(self: *const RingBuffer, max: usize) [2][]const u8 {
        const peek_bytes = @min(max, self.buffered_bytes);
        const head_len = @min(peek_bytes, self.buf.len - self.read_index);
        const head = self.buf[self.read_index..][0..head_len];
        const tail = self.buf[0 .. peek_bytes - head_len];
        assert(head.len + tail.len == peek_bytes);
        return .{ head, tail };
    }

    /// Drops up to `n` bytes from the front; returns how many.
    pub fn discard(self: *RingBuffer, n: usize) usize {
        const discarded_bytes = @min(n, self.buffered_bytes);
        self.buffered_bytes -= discarded_bytes;
        if (self.buffered_bytes == 0) {
            // Restarting at 0 keeps the next writes contiguous (one slice for writev).
            self.read_index = 0;
        } else {
            self.read_index = self.wrap(self.read_index + discarded_bytes);
        }
        self.assertInvariants();
        return discarded_bytes;
    }

    pub fn buffered(self: *const RingBuffer) usize {
        return self.buffered_bytes;
    }

    /// Free bytes: how much can be written without growing.
    pub fn available(self: *const RingBuffer) usize {
        assert(self.buffered_bytes <= self.buf.len);
        return self.buf.len - self.buffered_bytes;
    }

    pub fn capacity(self: *const RingBuffer) usize {
        return self.buf.len;
    }

    pub fn isEmpty(self: *const RingBuffer) bool {
        return self.buffered_bytes == 0;
    }

    /// A ring without memory is empty, not full.
    pub fn isFull(self: *const RingBuffer) bool {
        return self.buf.len > 0 and self.buffered_bytes == self.buf.len;
    }

    /// Drops the content but keeps the memory for the next writes.
    pub fn reset(self: *RingBuffer) void {
        self.read_index = 0;
        self.buffered_bytes = 0;
        self.assertInvariants();
    }

    fn writeIndex(self: *const RingBuffer) usize {
        assert(self.buffered_bytes <= self.buf.len);
        if (self.buf.len == 0) return 0;
        return self.wrap(self.read_index + self.buffered_bytes);
    }

    /// Both operands are below the capacity, so one subtraction replaces a modulo (the
    /// capacity need not be a power of two).
    fn wrap(self: *const RingBuffer, index: usize) usize {
        assert(index < 2 * self.buf.len);
        return if (index >= self.buf.len) index - self.buf.len else index;
    }

    /// Grows the allocation without moving it when the allocator can (the wasm heap can when
    /// the ring's pages are followed by free ones or the end of memory), so a big ring needs
    /// its new size, not old + new, at the moment it grows. A wrapped head moves to the end.
    fn growInPlace(self: *RingBuffer, capacity_bytes: usize) bool {
        assert(capacity_bytes > self.buf.len);
        if (self.buf.len == 0 or !self.allocator.resize(self.buf, capacity_bytes)) return false;
        const old_len = self.buf.len;
        self.buf = self.buf.ptr[0..capacity_bytes];
        if (self.read_index + self.buffered_bytes > old_len) {
            const head_len = old_len - self.read_index;
            const new_read_index = capacity_bytes - head_len;
            std.mem.copyBackwards(u8, self.buf[new_read_index..], self.buf[self.read_index..old_len]);
            self.read_index = new_read_index;
        }
        self.assertInvariants();
        return true;
    }

    /// Moves the content, linearised from index 0, into a fresh allocation of
    /// `capacity_bytes`. Allocates before touching anything so a failure changes nothing.
    fn relocate(self: *RingBuffer, capacity_bytes: usize) Allocator.Error!void {
        assert(capacity_bytes >= self.buffered_bytes);
        const new_buf = try self.allocator.alloc(u8, capacity_bytes);
        const parts = self.peek(self.buffered_bytes);
        @memcpy(new_buf[0..parts[0].len], parts[0]);
        @memcpy(new_buf[parts[0].len..][0..parts[1].len], parts[1]);
        if (self.buf.len > 0) self.allocator.free(self.buf);
        self.buf = new_buf;
        self.read_index = 0;
        self.assertInvariants();
    }

    fn assertInvariants(self: *const RingBuffer) void {
        assert(self.buffered_bytes <= self.buf.len);
        if (self.buf.len == 0) assert(self.read_index == 0) else assert(self.read_index < self.buf.len);
        if (self.buffered_bytes == 0) assert(self.read_index == 0);
    }
};

/// gnet's growth policy: the capacity a ring of `capacity_bytes` grows to when it must hold
/// `needed_bytes` in total.
fn grownCapacity(capacity_bytes: usize, needed_bytes: usize) usize {
    assert(needed_bytes > capacity_bytes);
    if (capacity_bytes == 0) {
        if (needed_bytes <= RingBuffer.default_size) return RingBuffer.default_size;
        // Past the largest power of two, exactly what is needed is the best left.
        return ceilToPowerOfTwo(needed_bytes) catch needed_bytes;
    }
    const doubled_bytes = std.math.mul(usize, capacity_bytes, 2) catch return needed_bytes;
    // A write bigger than a doubling gets exactly what it needs.
    if (needed_bytes > doubled_bytes) return needed_bytes;
    if (capacity_bytes < RingBuffer.grow_threshold) return doubled_bytes;
    var size = capacity_bytes;
    var steps: usize = 0;
    while (size < needed_bytes) : (steps += 1) {
        assert(steps < RingBuffer.quarter_steps_max);
        size +|= size / 4;
    }
    assert(size >= needed_bytes);
    return size;
}

/// gnet's CeilToPowerOfTwo for n >= 1, from std so that this file (and the buffers importing
/// it) compiles on its own under `zig test`, whose module root is the file's own directory.
fn ceilToPowerOfTwo(n: usize) Allocator.Error!usize {
    assert(n >= 1);
    return std.math.ceilPowerOfTwo(usize, n) catch error.OutOfMemory;
}

// ---------------------------------------------------------------------------------------
// Tests

const testing = std.testing;

fn expectContent(ring: *const RingBuffer, expected: []const u8) !void {
    const parts = ring.peek(ring.buffered());
    try testing.expectEqual(expected.len, parts[0].len + parts[1].len);
    try testing.expectEqualSlices(u8, expected[0..parts[0].len], parts[0]);
    try testing.expectEqualSlices(u8, expected[parts[0].len..], parts[1]);
}

test "RingBuffer: size 0 allocates nothing, other sizes round up to a power of two" {
    var empty = try RingBuffer.init(testing.allocator, 0);
    defer empty.deinit();
    try testing.expectEqual(@as(usize, 0), empty.capacity());
    try testing.expect(empty.isEmpty());
    try testing.expect(!empty.isFull());

    var ring = try RingBuffer.init(testing.allocator, 1000);
    defer ring.deinit();
    try testing.expectEqual(@as(usize, 1024), ring.capacity());
    try testing.expectEqual(@as(usize, 1024), ring.available());
}

test "RingBuffer: growth policy numbers" {
    try testing.expectEqual(@as(usize, 1024), grownCapacity(0, 1));
    try testing.expectEqual(@as(usize, 1024), grownCapacity(0, 1024));
    try testing.expectEqual(@as(usize, 2048), grownCapacity(0, 1025));
    try testing.expectEqual(@as(usize, 2048), grownCapacity(1024, 1025));
    try testing.expectEqual(@as(usize, 2048), grownCapacity(1024, 2048));
    try testing.expectEqual(@as(usize, 3000), grownCapacity(1024, 3000));
    try testing.expectEqual(@as(usize, 5120), grownCapacity(4096, 4097));
    try testing.expectEqual(@as(usize, 6400), grownCapacity(4096, 6145));
    try testing.expectEqual(@as(usize, 10000), grownCapacity(4096, 10000));
}

test "RingBuffer: 1025 bytes into an empty ring give capacity 2048" {
    var ring = try RingBuffer.init(testing.allocator, 0);
    defer ring.deinit();
    const bytes = [_]u8{7} ** 1025;
    try ring.write(&bytes);
    try testing.expectEqual(@as(usize, 2048), ring.capacity());
    try expectContent(&ring, &bytes);
}

test "RingBuffer: grows 4096 full + 2049 to 6400" {
    var ring = try RingBuffer.init(testing.allocator, 4096);
    defer ring.deinit();
    var bytes: [4096 + 2049]u8 = undefined;
    for (&bytes, 0..) |*b, i| b.* = @truncate(i);
    try ring.write(bytes[0..4096]);
    try testing.expect(ring.isFull());
    try ring.write(bytes[4096..]);
    try testing.expectEqual(@as(usize, 6400), ring.capacity());
    try expectContent(&ring, &bytes);
}

test "RingBuffer: growth linearises wrapped data" {
    var ring = try RingBuffer.init(testing.allocator, 8);
    defer ring.deinit();
    try ring.write("abcdef");
    try testing.expectEqual(@as(usize, 4), ring.discard(4));
    try ring.write("ghijkl"); // wraps: "efgh" at 4..8, "ijkl" at 0..4
    try testing.expect(ring.isFull());
    try ring.write("m");
    try testing.expectEqual(@as(usize, 16), ring.capacity());
    try testing.expectEqual(@as(usize, 0), ring.read_index);
    try expectContent(&ring, "efghijklm");
}

test "RingBuffer: growth in place keeps the allocation and moves a wrapped head to the end" {
    // A fixed-buffer allocator resizes its last allocation in place, as the wasm heap does.
    var storage: [256]u8 = undefined;
    var fixed = std.heap.FixedBufferAllocator.init(&storage);
    var ring = try RingBuffer.init(fixed.allocator(), 8);
    const before = ring.buf.ptr;
    try ring.write("abcdef");
    try testing.expectEqual(@as(usize, 4), ring.discard(4));
    try ring.write("ghijkl"); // wraps: "efgh" at 4..8, "ijkl" at 0..4
    try ring.write("m");
    try testing.expectEqual(@as(usize, 16), ring.capacity());
    try testing.expectEqual(before, ring.buf.ptr);
    try testing.expectEqual(@as(usize, 12), ring.read_index);
    try expectContent(&ring, "efghijklm");
    var out: [9]u8 = undefined;
    try testing.expectEqual(@as(usize, 9), ring.read(&out));
    try testing.expectEqualStrings("efghijklm", &out);
}

test "RingBuffer: wrap-around peek gives two slices" {
    var ring = try RingBuffer.init(testing.allocator, 8);
    defer ring.deinit();
    try ring.write("012345");
    _ = ring.discard(5);
    try ring.write("6789ab");
    const all = ring.peek(ring.buffered());
    try testing.expectEqualStrings("567", all[0]);
    try testing.expectEqualStrings("89ab", all[1]);
    const some = ring.peek(5);
    try testing.expectEqualStrings("567", some[0]);
    try testing.expectEqualStrings("89", some[1]);
    const few = ring.peek(2);
    try testing.expectEqualStrings("56", few[0]);
    try testing.expectEqual(@as(usize, 0), few[1].len);
    try testing.expectEqual(@as(usize, 0), ring.peek(0)[0].len);
}

test "RingBuffer: read and discard reset pointers when emptied" {
    var ring = try RingBuffer.init(testing.allocator, 8);
    defer ring.deinit();
    try ring.write("hello");
    var out: [3]u8 = undefined;
    try testing.expectEqual(@as(usize, 3), ring.read(&out));
    try testing.expectEqualStrings("hel", &out);
    try testing.expectEqual(@as(usize, 3), ring.read_index);
    try testing.expectEqual(@as(usize, 2), ring.read(&out));
    try testing.expectEqualStrings("lo", out[0..2]);
    try testing.expect(ring.isEmpty());
    try testing.expectEqual(@as(usize, 0), ring.read_index);
    try testing.expectEqual(@as(usize, 0), ring.read(&out));

    try ring.write("world");
    try testing.expectEqual(@as(usize, 2), ring.discard(2));
    try testing.expectEqual(@as(usize, 3), ring.discard(100));
    try testing.expectEqual(@as(usize, 0), ring.read_index);
    try testing.expectEqual(@as(usize, 8), ring.available());
}

test "RingBuffer: isFull and reset keeps memory" {
    var ring = try RingBuffer.init(testing.allocator, 4);
    defer ring.deinit();
    try ring.write("ab");
    try testing.expect(!ring.isFull());
    try ring.write("cd");
    try testing.expect(ring.isFull());
    try testing.expectEqual(@as(usize, 0), ring.available());
    ring.reset();
    try testing.expect(ring.isEmpty());
    try testing.expect(!ring.isFull());
    try testing.expectEqual(@as(usize, 4), ring.capacity());
    try ring.write("wxyz");
    try expectContent(&ring, "wxyz");
}

test "RingBuffer: allocation failure in write leaves the ring unchanged and usable" {
    var failing = testing.FailingAllocator.init(testing.allocator, .{ .fail_index = 1 });
    var ring = try RingBuffer.init(failing.allocator(), 8);
    defer ring.deinit();
    try ring.write("abcdef");
    _ = ring.discard(3);
    try ring.write("ghij"); // wraps, still fits
    try testing.expectError(error.OutOfMemory, ring.write("0123456789"));
    try testing.expectEqual(@as(usize, 8), ring.capacity());
    try expectContent(&ring, "defghij");
    try ring.write("k");
    try expectContent(&ring, "defghijk");
    // FailingAllocator keeps failing once it reached fail_index; lift it and grow.
    failing.fail_index = std.math.maxInt(usize);
    try ring.write("lmn");
    try testing.expectEqual(@as(usize, 16), ring.capacity());
    try expectContent(&ring, "defghijklmn");
    failing.fail_index = failing.alloc_index;

    var empty = try RingBuffer.init(failing.allocator(), 0);
    defer empty.deinit();
    try testing.expectError(error.OutOfMemory, empty.write("x"));
    try testing.expectEqual(@as(usize, 0), empty.capacity());
    try testing.expect(empty.isEmpty());
}

test "RingBuffer: seeded random operations match a FIFO model" {
    const seeds = [_]u64{ 0x5EED_0001, 0xC0FFEE, 42 };
    try fifo.forEachSeed(&seeds, randomRun);
}

fn randomRun(allocator: Allocator, seed: u64) !void {
    const ops_count = 20_000;
    const write_bytes_max = 5000;
    var prng = std.Random.DefaultPrng.init(seed);
    const random = prng.random();

    var model = Model.init();
    defer model.deinit();
    var ring = try RingBuffer.init(allocator, random.uintAtMost(usize, 2048));
    defer ring.deinit();
    var scratch: [write_bytes_max + 1024]u8 = undefined;
    // Declared after the defers so it prints before they run (a deinit may assert on a
    // corrupted structure).
    errdefer std.debug.print("RingBuffer random test failed with seed {d}\n", .{seed});

    for (0..ops_count) |_| {
        switch (random.uintLessThan(u8, 100)) {
            0...39 => {
                const bytes = fifo.randomBytes(random, &scratch, write_bytes_max);
                try ring.write(bytes);
                try model.append(bytes);
            },
            40...64 => try fifo.expectRead(&ring, &model, scratch[0..random.uintAtMost(usize, scratch.len)]),
            65...84 => try fifo.expectTwoPartPeek(&ring, &model, random.uintAtMost(usize, model.items().len + 100)),
            85...98 => try fifo.expectDiscard(&ring, &model, random.uintAtMost(usize, 6000)),
            else => {
                ring.reset();
                model.clear();
            },
        }
        try testing.expectEqual(model.items().len, ring.buffered());
        try testing.expectEqual(ring.capacity() - ring.buffered(), ring.available());
        try testing.expectEqual(model.items().len == 0, ring.isEmpty());
    }
    try expectContent(&ring, model.items());
}

const fifo = @import("fifo_model.zig");
const Model = fifo.Model;
