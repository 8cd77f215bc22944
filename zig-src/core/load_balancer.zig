//! Picks the event loop for a new connection, as gnet's load_balancer.go: round-robin,
//! least-connections or a hash of the peer's address. Pure bookkeeping, no I/O and no
//! allocation, so it lives in the core and runs the same in the wasm module.
//!
//! Not thread-safe: gnet calls `next` only from its single acceptor and reads the loops'
//! connection counts atomically; here the caller must serialise every call, opens and
//! closes included.
const std = @import("std");
const assert = std.debug.assert;

pub const Policy = enum(u8) { round_robin = 0, least_connections = 1, source_addr_hash = 2 };

/// gnet's cap on event loops; the counts are a fixed array of this size.
pub const loops_max: u32 = 256;

pub const LoadBalancer = struct {
    policy: Policy,
    loops_count: u32,
    /// Round-robin position; 64 bits as gnet's, so it never wraps in practice.
    next_index: u64 = 0,
    conns_count: [loops_max]u32 = [_]u32{0} ** loops_max,

    pub fn init(policy: Policy, loops_count: u32) error{InvalidArgument}!LoadBalancer {
        if (loops_count == 0 or loops_count > loops_max) return error.InvalidArgument;
        return .{ .policy = policy, .loops_count = loops_count };
    }

    /// The index of the loop that takes the next connection from `remote_addr`, Go's
    /// `Addr.String()` form ("127.0.0.1:54321", "[::1]:5000"; unix peers usually "").
    pub fn next(self: *LoadBalancer, remote_addr: []const u8) u32 {
        assert(self.loops_count >= 1 and self.loops_count <= loops_max);
        const index: u32 = switch (self.policy) {
            .round_robin => blk: {
                const index: u32 = @intCast(self.next_index % self.loops_count);
                self.next_index +%= 1;
                break :blk index;
            },
            .least_connections => self.leastConnections(),
            // Go's int(crc32) is never negative on 64-bit targets, so gnet's negation is a no-op.
            .source_addr_hash => std.hash.Crc32.hash(remote_addr) % self.loops_count,
        };
        assert(index < self.loops_count);
        return index;
    }

    /// The loop with strictly the fewest connections; ties go to the lowest index.
    fn leastConnections(self: *const LoadBalancer) u32 {
        var best: u32 = 0;
        for (self.conns_count[1..self.loops_count], 1..) |count, i| {
            if (count < self.conns_count[best]) best = @intCast(i);
        }
        return best;
    }

    pub fn connOpened(self: *LoadBalancer, index: u32) void {
        assert(index < self.loops_count);
        assert(self.conns_count[index] < std.math.maxInt(u32));
        self.conns_count[index] += 1;
    }

    pub fn connClosed(self: *LoadBalancer, index: u32) void {
        assert(index < self.loops_count);
        assert(self.conns_count[index] > 0);
        self.conns_count[index] -= 1;
    }

    pub fn connCount(self: *const LoadBalancer, index: u32) u32 {
        assert(index < self.loops_count);
        return self.conns_count[index];
    }
};

const testing = std.testing;

test "LoadBalancer: init accepts 1..=256 loops" {
    try testing.expectError(error.InvalidArgument, LoadBalancer.init(.round_robin, 0));
    try testing.expectError(error.InvalidArgument, LoadBalancer.init(.round_robin, loops_max + 1));
    _ = try LoadBalancer.init(.least_connections, 1);
    _ = try LoadBalancer.init(.source_addr_hash, loops_max);
}

test "LoadBalancer: round-robin cycles through every loop in order" {
    var lb = try LoadBalancer.init(.round_robin, 3);
    const expected = [_]u32{ 0, 1, 2, 0, 1, 2, 0 };
    for (expected) |index| try testing.expectEqual(index, lb.next("ignored"));
    var single = try LoadBalancer.init(.round_robin, 1);
    for (0..5) |_| try testing.expectEqual(@as(u32, 0), single.next(""));
}

test "LoadBalancer: least-connections ties go to the lowest index and follow opens and closes" {
    var lb = try LoadBalancer.init(.least_connections, 4);
    try testing.expectEqual(@as(u32, 0), lb.next(""));
    lb.connOpened(0);
    try testing.expectEqual(@as(u32, 1), lb.next(""));
    lb.connOpened(1);
    lb.connOpened(2);
    try testing.expectEqual(@as(u32, 3), lb.next(""));
    lb.connOpened(3);
    // All equal again: back to loop 0.
    try testing.expectEqual(@as(u32, 0), lb.next(""));
    lb.connOpened(0);
    lb.connClosed(2);
    try testing.expectEqual(@as(u32, 2), lb.next(""));
    try testing.expectEqual(@as(u32, 2), lb.connCount(0));
    try testing.expectEqual(@as(u32, 0), lb.connCount(2));
    // Choosing does not count: only connOpened does.
    try testing.expectEqual(@as(u32, 2), lb.next(""));
}

test "LoadBalancer: source-addr-hash is crc32 IEEE of Go's address string" {
    // Values from Python's zlib.crc32, computed independently of Zig's std.
    const Pin = struct { addr: []const u8, crc: u32 };
    const pins = [_]Pin{
        .{ .addr = "127.0.0.1:54321", .crc = 4293922608 },
        .{ .addr = "[::1]:5000", .crc = 1123610244 },
        .{ .addr = "10.0.0.7:80", .crc = 3038860612 },
        .{ .addr = "192.168.1.100:65535", .crc = 2199023602 },
        .{ .addr = "", .crc = 0 },
    };
    for (pins) |pin| {
        try testing.expectEqual(pin.crc, std.hash.Crc32.hash(pin.addr));
        for ([_]u32{ 1, 4, 7, loops_max }) |n| {
            var lb = try LoadBalancer.init(.source_addr_hash, n);
            // Stable: the same peer always lands on the same loop, whatever the counts.
            try testing.expectEqual(pin.crc % n, lb.next(pin.addr));
            lb.connOpened(pin.crc % n);
            try testing.expectEqual(pin.crc % n, lb.next(pin.addr));
        }
    }
    var lb7 = try LoadBalancer.init(.source_addr_hash, 7);
    try testing.expectEqual(@as(u32, 3), lb7.next("127.0.0.1:54321"));
    try testing.expectEqual(@as(u32, 6), lb7.next("192.168.1.100:65535"));
}

test "LoadBalancer: random operations match a simple model" {
    const seed_base: u64 = 0x10AD_0000;
    var run: u64 = 0;
    while (run < 200) : (run += 1) {
        const seed = seed_base + run;
        errdefer std.debug.print("failing seed = {d}\n", .{seed});
        var prng = std.Random.DefaultPrng.init(seed);
        const random = prng.random();
        const policy = random.enumValue(Policy);
        const n = random.intRangeAtMost(u32, 1, if (random.boolean()) 8 else loops_max);
        var lb = try LoadBalancer.init(policy, n);
        var model = [_]u32{0} ** loops_max;
        var picks: u64 = 0;
        var addr_buf: [32]u8 = undefined;
        for (0..2000) |_| {
            if (random.uintLessThan(u8, 3) != 0) {
                const addr = std.fmt.bufPrint(&addr_buf, "10.0.{d}.{d}:{d}", .{
                    random.int(u8), random.int(u8), random.int(u16),
                }) catch unreachable;
                const expected: u32 = switch (policy) {
                    .round_robin => @intCast(picks % n),
                    .least_connections => blk: {
                        var best: u32 = 0;
                        for (0..n) |i| {
                            if (model[i] < model[best]) best = @intCast(i);
                        }
                        break :blk best;
                    },
                    .source_addr_hash => std.hash.Crc32.hash(addr) % n,
                };
                const index = lb.next(addr);
                try testing.expectEqual(expected, index);
                picks += 1;
                lb.connOpened(index);
                model[index] += 1;
            } else {
                // Close a connection on a random loop that has one.
                const index = random.uintLessThan(u32, n);
                if (model[index] > 0) {
                    lb.connClosed(index);
                    model[index] -= 1;
                }
            }
            const probe = random.uintLessThan(u32, n);
            try testing.expectEqual(model[probe], lb.connCount(probe));
        }
    }
}
