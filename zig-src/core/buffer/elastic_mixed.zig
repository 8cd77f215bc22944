//! A connection's outbound buffer, gnet's "mixed" elastic buffer: a RingBuffer holds the
//! first max_static_bytes (reused memory, cheap for the common small backlog) and a
//! LinkedListBuffer takes the rest (no copying of what is already buffered when a backlog
//! grows large). Bytes always leave in the order they came: ring first, then list, and once
//! the list holds anything every new byte goes behind it.
const std = @import("std");
const assert = std.debug.assert;
const Allocator = std.mem.Allocator;
const RingBuffer = @import("ring.zig").RingBuffer;
const LinkedListBuffer = @import("linked_list.zig").LinkedListBuffer;

pub const ElasticBuffer = struct {
    max_static_bytes: usize,
    ring: RingBuffer,
    list: LinkedListBuffer,

    /// Where a writev splits its chunks: everything before `chunk_index` and the first
    /// `offset_bytes` of that chunk go to the ring (`ring_bytes` in all), the rest to the list.
    const RingSplit = struct {
        chunk_index: usize,
        offset_bytes: usize,
        ring_bytes: usize,
    };

    /// Allocates nothing; memory comes with the first write that needs it.
    pub fn init(allocator: Allocator, max_static_bytes: usize) error{InvalidArgument}!ElasticBuffer {
        if (max_static_bytes == 0) return error.InvalidArgument;
        return .{
            .max_static_bytes = max_static_bytes,
            // Size 0 allocates nothing, so this cannot fail.
            .ring = RingBuffer.init(allocator, 0) catch unreachable,
            .list = LinkedListBuffer.init(allocator),
        };
    }

    pub fn deinit(self: *ElasticBuffer) void {
        self.ring.deinit();
        self.list.deinit();
        self.* = undefined;
    }

    /// Appends all of `bytes` (gnet's placement rule, see below). On OutOfMemory nothing
    /// changes.
    pub fn write(self: *ElasticBuffer, bytes: []const u8) Allocator.Error!void {
        const buffered_before = self.buffered();
        const ring_before = self.ring.buffered();
        const list_was_empty = self.list.isEmpty();
        try self.place(bytes);
        assert(self.buffered() == buffered_before + bytes.len);
        // Order: once the list holds bytes, nothing new may enter the ring.
        if (!list_was_empty) assert(self.ring.buffered() == ring_before);
    }

    fn place(self: *ElasticBuffer, bytes: []const u8) Allocator.Error!void {
        // Behind a non-empty list, or with the static part already full: the list.
        if (!self.list.isEmpty() or self.ring.buffered() >= self.max_static_bytes) {
            return self.list.pushBack(bytes);
        }
        // A ring grown to the limit is not grown further: fill it, spill the rest.
        if (self.ring.capacity() >= self.max_static_bytes) {
            const ring_bytes = @min(bytes.len, self.ring.available());
            // The list push is the only step that can fail, so it goes first; the list is
            // empty here, so the bytes still end up ring first, list second.
            try self.list.pushBack(bytes[ring_bytes..]);
            self.ring.write(bytes[0..ring_bytes]) catch unreachable; // fits: no allocation
            return;
        }
        // A small ring takes the whole write, even past the limit (gnet does the same).
        return self.ring.write(bytes);
    }

    /// Appends the chunks in order with gnet's writev placement: they fill the ring up to
    /// what it may take, the chunk that does not fit is split, later chunks go to the list.
    /// On OutOfMemory nothing changes.
    pub fn writev(self: *ElasticBuffer, chunks: []const []const u8) Allocator.Error!void {
        const buffered_before = self.buffered();
        const split = self.ringSplit(chunks);

        // Stage every allocation before changing anything: the list part in a private
        // list, then room in the ring.
        var spill = LinkedListBuffer.init(self.list.allocator);
        errdefer spill.deinit();
        var spill_bytes: usize = 0;
        for (chunks[split.chunk_index..], split.chunk_index..) |chunk, index| {
            const part = if (index == split.chunk_index) chunk[split.offset_bytes..] else chunk;
            try spill.pushBack(part);
            spill_bytes += part.len;
        }
        try self.ring.reserve(split.ring_bytes);

        for (chunks[0..split.chunk_index]) |chunk| self.ring.write(chunk) catch unreachable;
        if (split.chunk_index < chunks.len) {
            self.ring.write(chunks[split.chunk_index][0..split.offset_bytes]) catch unreachable;
        }
        self.list.pushBackList(&spill);
        assert(self.buffered() == buffered_before + split.ring_bytes + spill_bytes);
    }

    fn ringSplit(self: *const ElasticBuffer, chunks: []const []const u8) RingSplit {
        if (!self.list.isEmpty() or self.ring.buffered() >= self.max_static_bytes) {
            return .{ .chunk_index = 0, .offset_bytes = 0, .ring_bytes = 0 };
        }
        // A ring still below the limit may grow up to it; one at the limit only fills.
        var writable_bytes = if (self.ring.capacity() < self.max_static_bytes)
            self.max_static_bytes - self.ring.buffered()
        else
            self.ring.available();
        var ring_bytes: usize = 0;
        for (chunks, 0..) |chunk, index| {
            if (chunk.len > writable_bytes) {
                return .{ .chunk_index = index, .offset_bytes = writable_bytes, .ring_bytes = ring_bytes + writable_bytes };
            }
            writable_bytes -= chunk.len;
            ring_bytes += chunk.len;
        }
        return .{ .chunk_index = chunks.len, .offset_bytes = 0, .ring_bytes = ring_bytes };
    }

    /// Fills `out` with slices covering the first min(max, buffered) bytes: the ring's head
    /// and tail, then list nodes; empty slices are left out (they would waste iovecs).
    /// Stops early when `out` is full. Returns the slices filled.
    pub fn peek(self: *const ElasticBuffer, max: usize, out: [][]const u8) usize {
        var remaining_bytes = @min(max, self.buffered());
        var filled: usize = 0;
        for (self.ring.peek(remaining_bytes)) |part| {
            if (part.len == 0) continue;
            if (filled == out.len) return filled;
            out[filled] = part;
            filled += 1;
            remaining_bytes -= part.len;
        }
        filled += self.list.peek(remaining_bytes, out[filled..]);
        assert(filled <= out.len);
        return filled;
    }

    /// Drops up to `n` bytes, ring first then list; returns how many.
    pub fn discard(self: *ElasticBuffer, n: usize) usize {
        const expected_bytes = @min(n, self.buffered());
        const ring_bytes = self.ring.discard(n);
        const list_bytes = self.list.discard(n - ring_bytes);
        if (list_bytes > 0) assert(self.ring.isEmpty());
        assert(ring_bytes + list_bytes == expected_bytes);
        return expected_bytes;
    }

    /// Copies and consumes up to `out.len` bytes, ring first then list; returns how many.
    pub fn read(self: *ElasticBuffer, out: []u8) usize {
        const expected_bytes = @min(out.len, self.buffered());
        const ring_bytes = self.ring.read(out);
        const list_bytes = self.list.read(out[ring_bytes..]);
        if (list_bytes > 0) assert(self.ring.isEmpty());
        assert(ring_bytes + list_bytes == expected_bytes);
        return expected_bytes;
    }

    pub fn buffered(self: *const ElasticBuffer) usize {
        assert(self.ring.buffered() <= self.ring.capacity());
        return self.ring.buffered() + self.list.buffered();
    }

    pub fn isEmpty(self: *const ElasticBuffer) bool {
        return self.ring.isEmpty() and self.list.isEmpty();
    }

    /// Drops the content, keeps the ring's memory for reuse and frees the list. A
    /// max_static_bytes of 0 keeps the current limit, as gnet ignores a non-positive one.
    pub fn reset(self: *ElasticBuffer, max_static_bytes: usize) void {
        self.ring.reset();
        self.list.reset();
        if (max_static_bytes > 0) self.max_static_bytes = max_static_bytes;
        assert(self.isEmpty());
        assert(self.max_static_bytes > 0);
    }

    /// Frees all memory; the buffer stays usable and allocates again on the next write.
    pub fn release(self: *ElasticBuffer) void {
        const allocator = self.ring.allocator;
        self.ring.deinit();
        self.ring = RingBuffer.init(allocator, 0) catch unreachable; // size 0: no allocation
        self.list.reset();
        assert(self.isEmpty());
        assert(self.ring.capacity() == 0);
    }
};

// ---------------------------------------------------------------------------------------
// Tests

const testing = std.testing;

/// Peeks everything into a generous slice array and compares the concatenation.
fn expectContent(buffer: *const ElasticBuffer, expected: []const u8) !void {
    var slices: [64][]const u8 = undefined;
    const filled = buffer.peek(buffer.buffered(), &slices);
    var offset: usize = 0;
    for (slices[0..filled]) |slice| {
        try testing.expectEqualSlices(u8, expected[offset..][0..slice.len], slice);
        offset += slice.len;
    }
    try testing.expectEqual(expected.len, offset);
}

fn patternBytes(comptime n: usize, comptime seed: u8) [n]u8 {
    var bytes: [n]u8 = undefined;
    for (&bytes, 0..) |*b, i| b.* = @truncate(i *% 31 +% seed);
    return bytes;
}

test "ElasticBuffer: max 0 is invalid and init allocates nothing" {
    try testing.expectError(error.InvalidArgument, ElasticBuffer.init(testing.allocator, 0));
    var failing = testing.FailingAllocator.init(testing.allocator, .{ .fail_index = 0 });
    var buffer = try ElasticBuffer.init(failing.allocator(), 4096);
    defer buffer.deinit();
    try testing.expect(buffer.isEmpty());
    try testing.expectEqual(@as(usize, 0), failing.allocations);
}

test "ElasticBuffer: a first 5 KiB write with max 4 KiB lands entirely in the ring" {
    var buffer = try ElasticBuffer.init(testing.allocator, 4 * 1024);
    defer buffer.deinit();
    const bytes = patternBytes(5 * 1024, 1);
    try buffer.write(&bytes);
    try testing.expectEqual(@as(usize, 5 * 1024), buffer.ring.buffered());
    try testing.expect(buffer.list.isEmpty());
    // The ring is past the limit now, so the next write goes to the list.
    try buffer.write("tail");
    try testing.expectEqual(@as(usize, 4), buffer.list.buffered());
    try expectContent(&buffer, &bytes ++ "tail");
}

test "ElasticBuffer: spills to the list when the ring is at max" {
    var buffer = try ElasticBuffer.init(testing.allocator, 1024);
    defer buffer.deinit();
    const first = patternBytes(1000, 2);
    const second = patternBytes(100, 3);
    try buffer.write(&first);
    try testing.expectEqual(@as(usize, 1024), buffer.ring.capacity());
    // The ring is at the limit: its 24 free bytes fill, 76 spill to the list.
    try buffer.write(&second);
    try testing.expectEqual(@as(usize, 1024), buffer.ring.buffered());
    try testing.expectEqual(@as(usize, 76), buffer.list.buffered());
    // Freeing ring space does not pull later bytes ahead of the list.
    try testing.expectEqual(@as(usize, 500), buffer.discard(500));
    try buffer.write("xyz");
    try testing.expectEqual(@as(usize, 524), buffer.ring.buffered());
    try testing.expectEqual(@as(usize, 79), buffer.list.buffered());
    try expectContent(&buffer, first[500..] ++ second ++ "xyz");
}

test "ElasticBuffer: writev splits the chunk that does not fit" {
    var buffer = try ElasticBuffer.init(testing.allocator, 10);
    defer buffer.deinit();
    try buffer.writev(&.{ "abcd", "efgh", "ijkl", "mn" });
    // The ring (capacity 0 < max) may take max - buffered = 10 bytes: "abcd", "efgh",
    // then "ij" of the third chunk; "kl" and "mn" go to the list.
    try testing.expectEqual(@as(usize, 10), buffer.ring.buffered());
    try testing.expectEqual(@as(usize, 2), buffer.list.nodeCount());
    try testing.expectEqual(@as(usize, 4), buffer.list.buffered());
    try expectContent(&buffer, "abcdefghijklmn");

    var out: [3][]const u8 = undefined;
    try testing.expectEqual(@as(usize, 2), buffer.peek(11, &out));
    try testing.expectEqualStrings("abcdefghij", out[0]);
    try testing.expectEqualStrings("k", out[1]);

    var bytes: [14]u8 = undefined;
    try testing.expectEqual(@as(usize, 14), buffer.read(&bytes));
    try testing.expectEqualStrings("abcdefghijklmn", &bytes);
    try testing.expect(buffer.isEmpty());
}

test "ElasticBuffer: writev behind a non-empty list goes wholly to the list" {
    var buffer = try ElasticBuffer.init(testing.allocator, 1024);
    defer buffer.deinit();
    try buffer.write(&patternBytes(1024, 4));
    try buffer.write("x");
    try testing.expectEqual(@as(usize, 1), buffer.list.buffered());
    _ = buffer.discard(1000);
    try buffer.writev(&.{ "ab", "", "cd" });
    try testing.expectEqual(@as(usize, 24), buffer.ring.buffered());
    try testing.expectEqual(@as(usize, 3), buffer.list.nodeCount());
    try expectContent(&buffer, patternBytes(1024, 4)[1000..] ++ "xabcd");
}

test "ElasticBuffer: peek skips empty slices and stops when the slice array is full" {
    var buffer = try ElasticBuffer.init(testing.allocator, 4);
    defer buffer.deinit();
    try buffer.write("abcd"); // the ring reaches max, unwrapped: its tail slice is empty
    try buffer.write("ef");
    try buffer.write("gh");
    var out: [2][]const u8 = undefined;
    try testing.expectEqual(@as(usize, 2), buffer.peek(100, &out));
    try testing.expectEqualStrings("abcd", out[0]);
    try testing.expectEqualStrings("ef", out[1]);
    try testing.expectEqual(@as(usize, 1), buffer.peek(100, out[0..1]));
    try testing.expectEqual(@as(usize, 1), buffer.peek(3, &out));
    try testing.expectEqualStrings("abc", out[0]);
    try testing.expectEqual(@as(usize, 0), buffer.peek(100, out[0..0]));
    try testing.expectEqual(@as(usize, 0), buffer.peek(0, &out));
}

test "ElasticBuffer: reset keeps ring memory, release frees everything" {
    var buffer = try ElasticBuffer.init(testing.allocator, 16);
    defer buffer.deinit();
    try buffer.write(&patternBytes(2000, 5));
    try buffer.write("more");
    buffer.reset(0);
    try testing.expect(buffer.isEmpty());
    try testing.expectEqual(@as(usize, 16), buffer.max_static_bytes);
    try testing.expectEqual(@as(usize, 2048), buffer.ring.capacity());
    buffer.reset(4096);
    try testing.expectEqual(@as(usize, 4096), buffer.max_static_bytes);
    try buffer.write("abc");
    try buffer.write("def");
    buffer.release();
    try testing.expect(buffer.isEmpty());
    try testing.expectEqual(@as(usize, 0), buffer.ring.capacity());
    try buffer.write("again");
    try expectContent(&buffer, "again");
}

test "ElasticBuffer: allocation failure in write and writev leaves the buffer unchanged and usable" {
    var failing = testing.FailingAllocator.init(testing.allocator, .{ .fail_index = 1 });
    var buffer = try ElasticBuffer.init(failing.allocator(), 1024);
    defer buffer.deinit();
    const first = patternBytes(1000, 6);
    try buffer.write(&first); // the one allowed allocation: the ring
    // Ring at the limit: 24 bytes would fit, the list push fails, the ring stays as it was.
    try testing.expectError(error.OutOfMemory, buffer.write(&patternBytes(100, 7)));
    try testing.expectError(error.OutOfMemory, buffer.writev(&.{ "ab", &patternBytes(100, 8), "cd" }));
    try testing.expectEqual(@as(usize, 1000), buffer.ring.buffered());
    try testing.expect(buffer.list.isEmpty());
    try expectContent(&buffer, &first);
    try buffer.write("fits"); // no allocation needed
    try buffer.writev(&.{ "in", "ring" });

    // Lift the failure to show the buffer still grows normally afterwards.
    failing.fail_index = std.math.maxInt(usize);
    try buffer.writev(&.{ "ab", &patternBytes(100, 8), "cd" });
    try expectContent(&buffer, first ++ "fitsinringab" ++ patternBytes(100, 8) ++ "cd");

    // A writev whose ring part needs growth fails before writing anything.
    var small = try ElasticBuffer.init(failing.allocator(), 4096);
    defer small.deinit();
    try small.write("abc");
    failing.fail_index = failing.alloc_index;
    try testing.expectError(error.OutOfMemory, small.writev(&.{ &patternBytes(2000, 9), &patternBytes(3000, 10) }));
    try expectContent(&small, "abc");
    try testing.expectEqual(@as(usize, 1024), small.ring.capacity());
}

test "ElasticBuffer: seeded random operations match a FIFO model" {
    const seeds = [_]u64{ 0x5EED_0004, 3, 0xFEEDFACE };
    try fifo.forEachSeed(&seeds, randomRun);
}

fn randomRun(allocator: Allocator, seed: u64) !void {
    const ops_count = 20_000;
    const write_bytes_max = 5000;
    const peek_slices_max = 16;
    var prng = std.Random.DefaultPrng.init(seed);
    const random = prng.random();

    var model = Model.init();
    defer model.deinit();
    var buffer = try ElasticBuffer.init(allocator, random.intRangeAtMost(usize, 1, 8192));
    defer buffer.deinit();
    var scratch: [write_bytes_max + 1024]u8 = undefined;
    var slices: [peek_slices_max][]const u8 = undefined;
    // Declared after the defers so it prints before they run (a deinit may assert on a
    // corrupted structure).
    errdefer std.debug.print("ElasticBuffer random test failed with seed {d}\n", .{seed});

    for (0..ops_count) |_| {
        switch (random.uintLessThan(u8, 100)) {
            0...24 => {
                const bytes = fifo.randomBytes(random, &scratch, write_bytes_max);
                try buffer.write(bytes);
                try model.append(bytes);
            },
            25...39 => try randomWritev(random, &buffer, &model, &scratch),
            40...59 => try fifo.expectRead(&buffer, &model, scratch[0..random.uintAtMost(usize, scratch.len)]),
            60...79 => try fifo.expectSlicesPeek(&buffer, &model, random.uintAtMost(usize, model.items().len + 100), slices[0..random.uintAtMost(usize, peek_slices_max)]),
            80...96 => try fifo.expectDiscard(&buffer, &model, random.uintAtMost(usize, 20_000)), // keeps the backlog from growing without bound
            97 => {
                buffer.reset(random.uintAtMost(usize, 8192));
                model.clear();
            },
            else => {
                buffer.release();
                model.clear();
            },
        }
        try testing.expectEqual(model.items().len, buffer.buffered());
        try testing.expectEqual(model.items().len == 0, buffer.isEmpty());
    }
}

/// One writev of up to `writev_chunks_max` chunks: consecutive pieces of one random block.
fn randomWritev(random: std.Random, buffer: *ElasticBuffer, model: *Model, scratch: []u8) !void {
    const writev_chunks_max = 8;
    var chunks: [writev_chunks_max][]const u8 = undefined;
    const chunks_count = random.uintAtMost(usize, writev_chunks_max);
    var offset: usize = 0;
    for (chunks[0..chunks_count]) |*chunk| {
        const len = random.uintAtMost(usize, (scratch.len - offset) / 2);
        random.bytes(scratch[offset..][0..len]);
        chunk.* = scratch[offset..][0..len];
        offset += len;
    }
    assert(offset <= scratch.len);
    try buffer.writev(chunks[0..chunks_count]);
    try model.append(scratch[0..offset]);
}

const fifo = @import("fifo_model.zig");
const Model = fifo.Model;
