//! The overflow part of a connection's outbound buffer: a FIFO of heap nodes, each owning a
//! copy of one pushed write. Unlike a ring it never moves buffered bytes, so a large backlog
//! costs one copy in and a writev out. There is deliberately no bound on the node count:
//! gnet applies no back-pressure and users watch OutboundBuffered() themselves.
const std = @import("std");
const assert = std.debug.assert;
const Allocator = std.mem.Allocator;

/// A node header with its bytes stored right behind it: one allocation per push, which
/// halves allocator traffic on the spill path and leaves a single point of failure.
const Node = struct {
    next: ?*Node,
    /// Payload length as allocated, kept intact so the allocation can be freed.
    data_bytes: usize,
    /// Payload bytes already discarded (a partial discard trims the node in place).
    start: usize,

    const header_bytes = @sizeOf(Node);

    fn create(allocator: Allocator, bytes: []const u8) Allocator.Error!*Node {
        assert(bytes.len > 0);
        const total_bytes = std.math.add(usize, header_bytes, bytes.len) catch return error.OutOfMemory;
        const memory = try allocator.alignedAlloc(u8, @alignOf(Node), total_bytes);
        const node: *Node = @ptrCast(memory.ptr);
        node.* = .{ .next = null, .data_bytes = bytes.len, .start = 0 };
        @memcpy(memory[header_bytes..], bytes);
        assert(node.unread().len == bytes.len);
        return node;
    }

    fn destroy(self: *Node, allocator: Allocator) void {
        const base: [*]align(@alignOf(Node)) u8 = @ptrCast(self);
        allocator.free(base[0 .. header_bytes + self.data_bytes]);
    }

    fn unread(self: *const Node) []const u8 {
        assert(self.start < self.data_bytes);
        const base: [*]const u8 = @ptrCast(self);
        return base[header_bytes + self.start .. header_bytes + self.data_bytes];
    }
};

pub const LinkedListBuffer = struct {
    allocator: Allocator,
    head: ?*Node,
    tail: ?*Node,
    nodes_count: usize,
    buffered_bytes: usize,

    pub fn init(allocator: Allocator) LinkedListBuffer {
        return .{ .allocator = allocator, .head = null, .tail = null, .nodes_count = 0, .buffered_bytes = 0 };
    }

    pub fn deinit(self: *LinkedListBuffer) void {
        self.reset();
        self.* = undefined;
    }

    /// Appends a copy of `bytes`; empty bytes add no node. On OutOfMemory nothing changes.
    pub fn pushBack(self: *LinkedListBuffer, bytes: []const u8) Allocator.Error!void {
        if (bytes.len == 0) return;
        const node = try Node.create(self.allocator, bytes);
        if (self.tail) |tail| tail.next = node else self.head = node;
        self.tail = node;
        self.accountNode(node);
    }

    /// Prepends a copy of `bytes`; empty bytes add no node. On OutOfMemory nothing changes.
    pub fn pushFront(self: *LinkedListBuffer, bytes: []const u8) Allocator.Error!void {
        if (bytes.len == 0) return;
        const node = try Node.create(self.allocator, bytes);
        node.next = self.head;
        self.head = node;
        if (self.tail == null) self.tail = node;
        self.accountNode(node);
    }

    /// Moves every node of `other` to the back of this list without copying; `other` ends
    /// empty. Lets a caller stage several pushes and commit them only once all allocated.
    pub fn pushBackList(self: *LinkedListBuffer, other: *LinkedListBuffer) void {
        // Moved nodes are later freed with self.allocator, so both must share it.
        assert(self.allocator.ptr == other.allocator.ptr and self.allocator.vtable == other.allocator.vtable);
        const first = other.head orelse return;
        if (self.tail) |tail| tail.next = first else self.head = first;
        self.tail = other.tail;
        self.nodes_count += other.nodes_count;
        self.buffered_bytes += other.buffered_bytes;
        other.* = init(other.allocator);
        self.assertShape();
    }

    /// Fills `out` with slices covering the first min(max, buffered) bytes, in order and
    /// without copying, stopping early when `out` is full. Returns the slices filled.
    pub fn peek(self: *const LinkedListBuffer, max: usize, out: [][]const u8) usize {
        var remaining_bytes = @min(max, self.buffered_bytes);
        var filled: usize = 0;
        var cursor = self.head;
        // Bounded by out.len, and by the node count since no node is empty.
        while (remaining_bytes > 0 and filled < out.len) : (filled += 1) {
            const node = cursor.?;
            const bytes = node.unread();
            const take_bytes = @min(bytes.len, remaining_bytes);
            out[filled] = bytes[0..take_bytes];
            remaining_bytes -= take_bytes;
            cursor = node.next;
        }
        assert(filled <= self.nodes_count);
        return filled;
    }

    /// Drops up to `n` bytes from the front; returns how many.
    pub fn discard(self: *LinkedListBuffer, n: usize) usize {
        const discarded_bytes = @min(n, self.buffered_bytes);
        var remaining_bytes = discarded_bytes;
        while (remaining_bytes > 0) {
            const node = self.head.?;
            const unread_len = node.unread().len;
            assert(unread_len > 0); // no empty node stays in the list
            if (unread_len > remaining_bytes) {
                node.start += remaining_bytes;
                self.buffered_bytes -= remaining_bytes;
                break;
            }
            remaining_bytes -= unread_len;
            self.destroyHead();
        }
        self.assertShape();
        return discarded_bytes;
    }

    /// Copies and consumes up to `out.len` bytes; returns how many.
    pub fn read(self: *LinkedListBuffer, out: []u8) usize {
        var copied_bytes: usize = 0;
        var cursor = self.head;
        while (copied_bytes < out.len) {
            const node = cursor orelse break;
            const bytes = node.unread();
            const take_bytes = @min(bytes.len, out.len - copied_bytes);
            @memcpy(out[copied_bytes..][0..take_bytes], bytes[0..take_bytes]);
            copied_bytes += take_bytes;
            cursor = node.next;
        }
        const discarded_bytes = self.discard(copied_bytes);
        assert(discarded_bytes == copied_bytes);
        return copied_bytes;
    }

    pub fn buffered(self: *const LinkedListBuffer) usize {
        return self.buffered_bytes;
    }

    pub fn nodeCount(self: *const LinkedListBuffer) usize {
        return self.nodes_count;
    }

    pub fn isEmpty(self: *const LinkedListBuffer) bool {
        self.assertShape();
        return self.nodes_count == 0;
    }

    /// Frees every node.
    pub fn reset(self: *LinkedListBuffer) void {
        // The walk below makes this O(nodes) check affordable; it is skipped entirely where
        // asserts compile out, since the optimiser may keep a loop it cannot prove finite.
        if (std.debug.runtime_safety) assert(self.sumNodeBytes() == self.buffered_bytes);
        while (self.head != null) self.destroyHead();
        assert(self.buffered_bytes == 0);
        self.assertShape();
    }

    fn accountNode(self: *LinkedListBuffer, node: *const Node) void {
        assert(node.data_bytes > 0 and node.start == 0);
        self.nodes_count += 1;
        self.buffered_bytes += node.data_bytes;
        self.assertShape();
    }

    fn destroyHead(self: *LinkedListBuffer) void {
        const node = self.head.?;
        assert(self.nodes_count > 0);
        assert(self.buffered_bytes >= node.unread().len);
        self.head = node.next;
        if (self.head == null) self.tail = null;
        self.nodes_count -= 1;
        self.buffered_bytes -= node.unread().len;
        node.destroy(self.allocator);
    }

    /// O(nodes): for reset (which walks them anyway) and tests, not per operation.
    fn sumNodeBytes(self: *const LinkedListBuffer) usize {
        var total_bytes: usize = 0;
        var cursor = self.head;
        while (cursor) |node| : (cursor = node.next) total_bytes += node.unread().len;
        return total_bytes;
    }

    fn assertShape(self: *const LinkedListBuffer) void {
        assert((self.head == null) == (self.tail == null));
        assert((self.head == null) == (self.nodes_count == 0));
        // No node is ever empty, so bytes and nodes vanish together.
        assert((self.nodes_count == 0) == (self.buffered_bytes == 0));
        if (self.tail) |tail| assert(tail.next == null);
    }
};

// ---------------------------------------------------------------------------------------
// Tests

const testing = std.testing;

/// Peeks everything into a generous slice array and compares the concatenation.
fn expectContent(list: *const LinkedListBuffer, expected: []const u8) !void {
    var slices: [64][]const u8 = undefined;
    const filled = list.peek(list.buffered(), &slices);
    var offset: usize = 0;
    for (slices[0..filled]) |slice| {
        try testing.expectEqualSlices(u8, expected[offset..][0..slice.len], slice);
        offset += slice.len;
    }
    try testing.expectEqual(expected.len, offset);
    try testing.expectEqual(list.buffered_bytes, list.sumNodeBytes());
}

test "LinkedListBuffer: pushes copy, keep order, skip empty bytes" {
    var list = LinkedListBuffer.init(testing.allocator);
    defer list.deinit();
    var source = "world".*;
    try list.pushBack(&source);
    source[0] = 'X'; // the list owns a copy
    try list.pushFront("hello ");
    try list.pushBack("");
    try list.pushFront("");
    try list.pushBack("!");
    try testing.expectEqual(@as(usize, 3), list.nodeCount());
    try testing.expectEqual(@as(usize, 12), list.buffered());
    try expectContent(&list, "hello world!");
}

test "LinkedListBuffer: peek respects max and out.len" {
    var list = LinkedListBuffer.init(testing.allocator);
    defer list.deinit();
    try list.pushBack("abc");
    try list.pushBack("de");
    try list.pushBack("fgh");
    var out: [2][]const u8 = undefined;
    try testing.expectEqual(@as(usize, 2), list.peek(100, &out));
    try testing.expectEqualStrings("abc", out[0]);
    try testing.expectEqualStrings("de", out[1]);
    try testing.expectEqual(@as(usize, 2), list.peek(4, &out));
    try testing.expectEqualStrings("d", out[1]);
    try testing.expectEqual(@as(usize, 1), list.peek(2, &out));
    try testing.expectEqualStrings("ab", out[0]);
    try testing.expectEqual(@as(usize, 0), list.peek(0, &out));
    try testing.expectEqual(@as(usize, 0), list.peek(100, out[0..0]));
}

test "LinkedListBuffer: discard trims the head in place and frees finished nodes" {
    var list = LinkedListBuffer.init(testing.allocator);
    defer list.deinit();
    try list.pushBack("abc");
    try list.pushBack("defg");
    try testing.expectEqual(@as(usize, 2), list.discard(2));
    try testing.expectEqual(@as(usize, 2), list.nodeCount());
    try expectContent(&list, "cdefg");
    try testing.expectEqual(@as(usize, 3), list.discard(3));
    try testing.expectEqual(@as(usize, 1), list.nodeCount());
    try expectContent(&list, "fg");
    try testing.expectEqual(@as(usize, 2), list.discard(10));
    try testing.expect(list.isEmpty());
    try testing.expectEqual(@as(usize, 0), list.discard(1));
}

test "LinkedListBuffer: read copies across nodes" {
    var list = LinkedListBuffer.init(testing.allocator);
    defer list.deinit();
    try list.pushBack("ab");
    try list.pushBack("cde");
    var out: [4]u8 = undefined;
    try testing.expectEqual(@as(usize, 4), list.read(&out));
    try testing.expectEqualStrings("abcd", &out);
    try testing.expectEqual(@as(usize, 1), list.read(&out));
    try testing.expectEqualStrings("e", out[0..1]);
    try testing.expect(list.isEmpty());
    try testing.expectEqual(@as(usize, 0), list.read(&out));
}

test "LinkedListBuffer: pushBackList moves nodes without copying" {
    var list = LinkedListBuffer.init(testing.allocator);
    defer list.deinit();
    var staged = LinkedListBuffer.init(testing.allocator);
    defer staged.deinit();
    try list.pushBack("ab");
    try staged.pushBack("cd");
    try staged.pushBack("ef");
    list.pushBackList(&staged);
    try testing.expect(staged.isEmpty());
    try testing.expectEqual(@as(usize, 3), list.nodeCount());
    try expectContent(&list, "abcdef");
    list.pushBackList(&staged);
    try testing.expectEqual(@as(usize, 3), list.nodeCount());
    list.reset();
    try staged.pushBack("gh");
    list.pushBackList(&staged);
    try expectContent(&list, "gh");
}

test "LinkedListBuffer: allocation failure in push leaves the list unchanged and usable" {
    var failing = testing.FailingAllocator.init(testing.allocator, .{ .fail_index = 1 });
    var list = LinkedListBuffer.init(failing.allocator());
    defer list.deinit();
    try list.pushBack("abc");
    try testing.expectError(error.OutOfMemory, list.pushBack("def"));
    try testing.expectError(error.OutOfMemory, list.pushFront("xyz"));
    try testing.expectEqual(@as(usize, 1), list.nodeCount());
    try expectContent(&list, "abc");
    // FailingAllocator keeps failing once it reached fail_index; lift it to show the
    // list is still usable.
    failing.fail_index = std.math.maxInt(usize);
    try list.pushBack("def");
    try list.pushFront("xyz");
    try expectContent(&list, "xyzabcdef");
}

test "LinkedListBuffer: seeded random operations match a FIFO model" {
    const seeds = [_]u64{ 0x5EED_0003, 1, 0xBADC0DE };
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
    var list = LinkedListBuffer.init(allocator);
    defer list.deinit();
    var scratch: [write_bytes_max + 1024]u8 = undefined;
    var slices: [peek_slices_max][]const u8 = undefined;
    // Declared after the defers so it prints before they run (a deinit may assert on a
    // corrupted structure).
    errdefer std.debug.print("LinkedListBuffer random test failed with seed {d}\n", .{seed});

    for (0..ops_count) |_| {
        switch (random.uintLessThan(u8, 100)) {
            0...29 => {
                const bytes = fifo.randomBytes(random, &scratch, write_bytes_max);
                try list.pushBack(bytes);
                try model.append(bytes);
            },
            30...39 => {
                const bytes = fifo.randomBytes(random, &scratch, write_bytes_max);
                try list.pushFront(bytes);
                try model.pushFront(bytes);
            },
            40...64 => try fifo.expectRead(&list, &model, scratch[0..random.uintAtMost(usize, scratch.len)]),
            65...84 => try fifo.expectSlicesPeek(&list, &model, random.uintAtMost(usize, model.items().len + 100), slices[0..random.uintAtMost(usize, peek_slices_max)]),
            85...98 => try fifo.expectDiscard(&list, &model, random.uintAtMost(usize, 6000)),
            else => {
                list.reset();
                model.clear();
            },
        }
        try testing.expectEqual(model.items().len, list.buffered());
        try testing.expectEqual(model.items().len == 0, list.isEmpty());
        try testing.expectEqual(list.buffered_bytes, list.sumNodeBytes());
    }
}

const fifo = @import("fifo_model.zig");
const Model = fifo.Model;
