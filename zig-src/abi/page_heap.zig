//! The wasm module's allocator. std.heap.wasm_allocator rounds every large block up to a power
//! of two plus a word, so a 1 GiB ring asked for a 2 GiB class that its class table does not
//! have (a trap, then a corrupt instance), and its freed blocks served only their own class, so
//! memory ratcheted up as rings grew. This one is correct for every size:
//! - small blocks (up to 32 KiB) in power-of-two slots carved from 64 KiB pages, one free list
//!   per size;
//! - large blocks as runs of whole 64 KiB pages from one address-ordered free list, best fit,
//!   split on allocation and merged with both neighbours on free, so an emptied buffer's pages
//!   serve the next allocation of ANY size;
//! - a request the memory cannot hold (4 GiB of wasm32, or whatever the host allows) is refused
//!   with null (`error.OutOfMemory` to the caller) and changes nothing.
//! Linear memory cannot shrink in wasm, so "freed" means reusable here, never returned to the OS.
//! Generic over the memory so that the same code is tested natively against a simulated one.
const std = @import("std");
const assert = std.debug.assert;
const Allocator = std.mem.Allocator;

/// Wasm's page size, and the unit of large blocks.
pub const page_size: usize = 64 * 1024;
/// Smallest slot: room for the free-list link.
const small_min_log2 = 4;
/// Largest small slot: half a page, so that a page holds at least two.
const small_max_log2 = 15;
const small_classes = small_max_log2 - small_min_log2 + 1;

/// `Memory` provides `grow(pages) ?usize` (the first new page's index, or null when refused)
/// and `base() usize` (the address of page 0).
pub fn PageHeap(comptime Memory: type) type {
    return struct {
        const Self = @This();

        memory: Memory,
        /// Per small class: the first free slot's address, 0 when none.
        small_free: [small_classes]usize = [_]usize{0} ** small_classes,
        /// Per small class: the unused tail of the page being carved, as [next, end).
        small_next: [small_classes]usize = [_]usize{0} ** small_classes,
        small_end: [small_classes]usize = [_]usize{0} ** small_classes,
        /// First free run (its page index + 1; 0 when none); runs are ordered by address.
        runs: usize = 0,
        /// Pages handed to this heap so far, and the index just past the last one.
        grown_pages: usize = 0,
        end_page: usize = 0,
        /// Pages given to small classes; they stay there.
        small_pages: usize = 0,

        /// Stored in the first bytes of every free run.
        const Run = struct { pages: usize, next: usize };

        pub const vtable: Allocator.VTable = .{ .alloc = alloc, .resize = resize, .free = free };

        pub fn allocator(self: *Self) Allocator {
            return .{ .ptr = self, .vtable = &vtable };
        }

        fn smallClass(len: usize, log2_align: u8) ?usize {
            const alignment = @as(usize, 1) << @intCast(log2_align);
            const size = @max(len, alignment, @as(usize, 1) << small_min_log2);
            if (size > @as(usize, 1) << small_max_log2) return null;
            const class = std.math.log2_int_ceil(usize, size) - small_min_log2;
            assert(class < small_classes);
            return class;
        }

        /// Pages for `len` bytes, without overflow for any usize.
        fn pagesFor(len: usize) usize {
            return len / page_size + @intFromBool(len % page_size != 0);
        }

        fn address(self: *const Self, page: usize) usize {
            return self.memory.base() + page * page_size;
        }

        fn pageOf(self: *const Self, addr: usize) usize {
            assert((addr - self.memory.base()) % page_size == 0);
            return (addr - self.memory.base()) / page_size;
        }

        /// A free run's header; the run lies within the pages this heap grew (which are
        /// contiguous: `grow` asserts it).
        fn run(self: *const Self, page: usize) *Run {
            assert(page < self.end_page);
            assert(page >= self.end_page - self.grown_pages);
            return @ptrFromInt(self.address(page));
        }

        fn alloc(ctx: *anyopaque, len: usize, log2_align: u8, _: usize) ?[*]u8 {
            const self: *Self = @ptrCast(@alignCast(ctx));
            assert(len > 0);
            if (smallClass(len, log2_align)) |class| return self.allocSmall(class);
            // Large blocks start on a page: any alignment up to a page is met.
            if ((@as(usize, 1) << @intCast(log2_align)) > page_size) return null;
            const page = self.takePages(pagesFor(len)) orelse return null;
            return @ptrFromInt(self.address(page));
        }

        fn allocSmall(self: *Self, class: usize) ?[*]u8 {
            const size = @as(usize, 1) << @intCast(class + small_min_log2);
            if (self.small_free[class] != 0) {
                const addr = self.small_free[class];
                self.small_free[class] = @as(*usize, @ptrFromInt(addr)).*;
                return @ptrFromInt(addr);
            }
            if (self.small_next[class] == self.small_end[class]) {
                const page = self.takePages(1) orelse return null;
                self.small_pages += 1;
                self.small_next[class] = self.address(page);
                self.small_end[class] = self.small_next[class] + page_size;
            }
            const addr = self.small_next[class];
            self.small_next[class] += size;
            assert(self.small_next[class] <= self.small_end[class]);
            return @ptrFromInt(addr);
        }

        /// Best fit from the free runs, else the last free run extended, else fresh pages.
        fn takePages(self: *Self, n: usize) ?usize {
            assert(n >= 1);
            var best: usize = 0;
            var best_prev: usize = 0;
            var last: usize = 0;
            var last_prev: usize = 0;
            var it = self.runs;
            while (it != 0) : (it = self.run(it - 1).next) {
                const r = self.run(it - 1);
                if (r.pages >= n and (best == 0 or r.pages < self.run(best - 1).pages)) {
                    best = it;
                    best_prev = last;
                }
                last_prev = last;
                last = it;
            }
            if (best != 0) return self.carve(best_prev, best - 1, n);
            // The last free run ends where memory ends: grow only by what it lacks.
            if (last != 0 and last - 1 + self.run(last - 1).pages == self.end_page) {
                const r = self.run(last - 1);
                _ = self.grow(n - r.pages) orelse return null;
                r.pages = n;
                return self.carve(last_prev, last - 1, n);
            }
            return self.grow(n);
        }

        /// Takes `n` pages from the front of the free run at `page` (whose predecessor is `prev`).
        fn carve(self: *Self, prev: usize, page: usize, n: usize) usize {
            const r = self.run(page).*;
            assert(r.pages >= n);
            const replacement = if (r.pages == n) r.next else blk: {
                self.run(page + n).* = .{ .pages = r.pages - n, .next = r.next };
                break :blk page + n + 1;
            };
            if (prev == 0) self.runs = replacement else self.run(prev - 1).next = replacement;
            return page;
        }

        fn grow(self: *Self, n: usize) ?usize {
            const first = self.memory.grow(n) orelse return null;
            // Nobody else grows this memory: new pages follow ours.
            assert(self.end_page == 0 or first == self.end_page);
            self.end_page = first + n;
            self.grown_pages += n;
            return first;
        }

        /// Returns pages [page, page + n) to the free runs, merged with adjacent free runs.
        fn givePages(self: *Self, page: usize, n: usize) void {
            assert(n >= 1 and page + n <= self.end_page);
            var prev: usize = 0;
            var next = self.runs;
            while (next != 0 and next - 1 < page) : (next = self.run(next - 1).next) prev = next;
            assert(next == 0 or next - 1 >= page + n);
            const start = page;
            var pages = n;
            var after = next;
            if (next != 0 and next - 1 == page + n) {
                pages += self.run(next - 1).pages;
                after = self.run(next - 1).next;
            }
            if (prev != 0 and prev - 1 + self.run(prev - 1).pages == page) {
                self.run(prev - 1).pages += pages;
                self.run(prev - 1).next = after;
                return;
            }
            assert(prev == 0 or prev - 1 + self.run(prev - 1).pages < start);
            self.run(start).* = .{ .pages = pages, .next = after };
            if (prev == 0) self.runs = start + 1 else self.run(prev - 1).next = start + 1;
        }

        fn resize(ctx: *anyopaque, buf: []u8, log2_align: u8, new_len: usize, _: usize) bool {
            const self: *Self = @ptrCast(@alignCast(ctx));
            if (smallClass(buf.len, log2_align)) |class| return smallClass(new_len, log2_align) == class;
            if (smallClass(new_len, log2_align) != null) return false;
            const page = self.pageOf(@intFromPtr(buf.ptr));
            const old_pages = pagesFor(buf.len);
            const new_pages = pagesFor(new_len);
            assert(old_pages >= 1 and new_pages >= 1); // both sizes are large
            if (new_pages <= old_pages) {
                if (new_pages < old_pages) self.givePages(page + new_pages, old_pages - new_pages);
                return true;
            }
            return self.extend(page + old_pages, new_pages - old_pages);
        }

        /// Claims `n` pages starting at `page` (just past a block) if they are free or past the end.
        fn extend(self: *Self, page: usize, n: usize) bool {
            assert(n >= 1);
            assert(page <= self.end_page);
            if (page == self.end_page) return self.grow(n) != null;
            var prev: usize = 0;
            var it = self.runs;
            while (it != 0 and it - 1 < page) : (it = self.run(it - 1).next) prev = it;
            if (it == 0 or it - 1 != page) return false;
            const r = self.run(page);
            if (r.pages < n) {
                // The free run reaches the end of memory: grow by what it lacks.
                if (page + r.pages != self.end_page) return false;
                _ = self.grow(n - r.pages) orelse return false;
                r.pages = n;
            }
            _ = self.carve(prev, page, n);
            return true;
        }

        fn free(ctx: *anyopaque, buf: []u8, log2_align: u8, _: usize) void {
            const self: *Self = @ptrCast(@alignCast(ctx));
            const addr = @intFromPtr(buf.ptr);
            if (smallClass(buf.len, log2_align)) |class| {
                // Slots are carved from page starts in steps of their size.
                assert(addr % (@as(usize, 1) << @intCast(class + small_min_log2)) == 0);
                @as(*usize, @ptrFromInt(addr)).* = self.small_free[class];
                self.small_free[class] = addr;
                return;
            }
            self.givePages(self.pageOf(addr), pagesFor(buf.len));
        }

        /// Pages in free runs (reusable by any allocation).
        pub fn freePages(self: *const Self) usize {
            var total: usize = 0;
            var it = self.runs;
            while (it != 0) : (it = self.run(it - 1).next) total += self.run(it - 1).pages;
            // Pages given to small classes never come back as runs.
            assert(total <= self.grown_pages - self.small_pages);
            return total;
        }
    };
}

/// The wasm module's own linear memory (memory 0), whose page 0 is at address 0.
pub const WasmMemory = struct {
    pub fn base(_: WasmMemory) usize {
        return 0;
    }
    pub fn grow(_: WasmMemory, pages: usize) ?usize {
        // wasm32 addresses 4 GiB: 65536 pages at most.
        if (pages > (1 << 16)) return null;
        const first = @wasmMemoryGrow(0, pages);
        if (first < 0) return null;
        return @intCast(first);
    }
};

/// A stand-in for wasm memory in native tests and fuzzing: page 0 starts on a page boundary of
/// `bytes`, and growth is refused past `limit_pages`.
pub const SimMemory = struct {
    /// One page more than the limit, so that page 0 can start on a page boundary.
    bytes: []u8,
    limit_pages: usize,
    pages: usize = 1, // page 0 stands for the stack and data a wasm module starts with
    pub fn base(m: *const SimMemory) usize {
        return std.mem.alignForward(usize, @intFromPtr(m.bytes.ptr), page_size);
    }
    pub fn grow(m: *SimMemory, n: usize) ?usize {
        assert(m.pages <= m.limit_pages);
        if (n > m.limit_pages - m.pages) return null;
        defer m.pages += n;
        return m.pages;
    }
    pub fn init(limit_pages: usize) !SimMemory {
        return .{ .bytes = try std.heap.page_allocator.alloc(u8, (limit_pages + 1) * page_size), .limit_pages = limit_pages };
    }
    pub fn deinit(m: *SimMemory) void {
        std.heap.page_allocator.free(m.bytes);
    }
};

// ---------------------------------------------------------------------------------------------
// Tests, against a simulated memory.

const testing = std.testing;
const SimHeap = PageHeap(*SimMemory);
const simulate = SimMemory.init;

test "PageHeap: large blocks of any size, refused cleanly past the limit, the heap still healthy" {
    var memory = try simulate(64);
    defer memory.deinit();
    var heap: SimHeap = .{ .memory = &memory };
    const a = heap.allocator();
    // 48 pages: the old allocator would have rounded this to 64 plus one.
    const big = try a.alloc(u8, 48 * page_size - 100);
    try testing.expectEqual(@as(usize, 48), heap.grown_pages);
    try testing.expectError(error.OutOfMemory, a.alloc(u8, 20 * page_size));
    const small = try a.alloc(u8, 100);
    @memset(big, 1);
    @memset(small, 2);
    try testing.expectEqual(@as(u8, 1), big[big.len - 1]);
    a.free(big);
    a.free(small);
    // Everything freed is one run again: a block of nearly the whole memory fits without growth.
    const grown = heap.grown_pages;
    const again = try a.alloc(u8, (grown - 1) * page_size);
    try testing.expectEqual(grown, heap.grown_pages);
    a.free(again);
    try testing.expectError(error.OutOfMemory, a.alloc(u8, std.math.maxInt(usize)));
}

test "PageHeap: resize in place shrinks by giving pages back and grows into a free neighbour" {
    var memory = try simulate(32);
    defer memory.deinit();
    var heap: SimHeap = .{ .memory = &memory };
    const a = heap.allocator();
    var block = try a.alloc(u8, 8 * page_size);
    const tail = try a.alloc(u8, 4 * page_size);
    try testing.expect(a.resize(block, 3 * page_size));
    block = block[0 .. 3 * page_size];
    try testing.expectEqual(@as(usize, 5), heap.freePages());
    try testing.expect(a.resize(block, 8 * page_size));
    block.len = 8 * page_size;
    try testing.expectEqual(@as(usize, 0), heap.freePages());
    try testing.expect(!a.resize(block, 9 * page_size));
    a.free(tail);
    // Now the block's neighbour is free and reaches the end of memory: grows past it.
    try testing.expect(a.resize(block, 20 * page_size));
    block.len = 20 * page_size;
    @memset(block, 7);
    a.free(block);
    try testing.expectEqual(heap.grown_pages, heap.freePages());
}

test "PageHeap: random allocations never overlap, and freeing everything frees every large page" {
    var memory = try simulate(512);
    defer memory.deinit();
    var heap: SimHeap = .{ .memory = &memory };
    const a = heap.allocator();
    var prng = std.Random.DefaultPrng.init(0x11C0_FFEE);
    const random = prng.random();
    var blocks: [64]?[]u8 = [_]?[]u8{null} ** 64;
    var round: usize = 0;
    while (round < 4000) : (round += 1) {
        const i = random.uintLessThan(usize, blocks.len);
        if (blocks[i]) |b| {
            // The block still holds its own tag: nothing else wrote over it.
            for (b) |x| try testing.expectEqual(@as(u8, @truncate(i)), x);
            if (random.boolean()) {
                a.free(b);
                blocks[i] = null;
            } else {
                const new_len = randomLen(random);
                blocks[i] = a.realloc(b, new_len) catch b;
                @memset(blocks[i].?, @truncate(i));
            }
        } else {
            const b = a.alloc(u8, randomLen(random)) catch continue;
            @memset(b, @truncate(i));
            blocks[i] = b;
        }
    }
    for (&blocks) |*slot| if (slot.*) |b| {
        a.free(b);
        slot.* = null;
    };
    // Small pages stay with their classes; every other page is free again.
    try testing.expectEqual(heap.grown_pages, heap.freePages() + heap.small_pages);
}

fn randomLen(random: std.Random) usize {
    return switch (random.uintLessThan(u8, 3)) {
        0 => random.intRangeAtMost(usize, 1, 300),
        1 => random.intRangeAtMost(usize, 1, 40_000),
        else => random.intRangeAtMost(usize, 1, 3 * page_size),
    };
}
