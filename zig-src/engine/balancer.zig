//! The load balancer behind a lock: loops on several threads open and close connections at
//! once, and the accepting loop's thread reads the counts to place the next one. Every loop
//! holds a pointer to the engine's one balancer.
const std = @import("std");
const assert = std.debug.assert;
const core = @import("../core/root.zig");
const LoadBalancer = core.load_balancer.LoadBalancer;

pub const Balancer = struct {
    lb: LoadBalancer,
    /// Guards `lb`.
    mutex: std.Thread.Mutex = .{},

    pub fn init(policy: core.load_balancer.Policy, loops_count: u32) error{InvalidArgument}!Balancer {
        return .{ .lb = try LoadBalancer.init(policy, loops_count) };
    }

    /// The loop the balancer picks, its count already raised: a burst of accepts spreads
    /// before the first of them reaches its loop.
    pub fn placeCounted(balancer: *Balancer, key: []const u8) u32 {
        balancer.mutex.lock();
        defer balancer.mutex.unlock();
        const index = balancer.lb.next(key);
        assert(index < balancer.lb.loops_count);
        balancer.lb.connOpened(index);
        return index;
    }

    pub fn connOpened(balancer: *Balancer, loop_index: u32) void {
        assert(loop_index < balancer.lb.loops_count);
        balancer.mutex.lock();
        defer balancer.mutex.unlock();
        balancer.lb.connOpened(loop_index);
    }

    pub fn connClosed(balancer: *Balancer, loop_index: u32) void {
        assert(loop_index < balancer.lb.loops_count);
        balancer.mutex.lock();
        defer balancer.mutex.unlock();
        assert(balancer.lb.connCount(loop_index) > 0);
        balancer.lb.connClosed(loop_index);
    }

    /// One loop's open connections (the tests read them once the threads are joined).
    pub fn connCount(balancer: *const Balancer, loop_index: u32) u32 {
        assert(loop_index < balancer.lb.loops_count);
        return balancer.lb.connCount(loop_index);
    }
};
