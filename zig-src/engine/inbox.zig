//! The one state of a loop that another loop's thread touches: connections accepted for it by
//! the accepting loop (main-reactor mode), waiting for the owning loop's thread to adopt them
//! (acceptor.zig's takeInbox, after the wake that EventLoop.handOff sends).
const std = @import("std");
const assert = std.debug.assert;
const socket = @import("socket.zig");
const layout = @import("layout.zig");

/// A connection accepted by one loop for another.
pub const Accepted = struct {
    fd: socket.fd_t,
    network: socket.Network,
    remote: std.net.Address,
};

/// Accepted connections waiting for their loop. One accepting drain hands off at most
/// `records_max` (one open record each): this holds a drain's worth while the target is busy
/// in its handlers; a target further behind than that gets no more (the acceptor keeps them).
pub const inbox_max = layout.records_max;

pub const Inbox = struct {
    mutex: std.Thread.Mutex = .{},
    items: std.BoundedArray(Accepted, inbox_max) = .{},

    /// From the accepting loop's thread. False when full: the caller keeps the connection.
    pub fn push(inbox: *Inbox, accepted: Accepted) bool {
        assert(accepted.fd >= 0);
        inbox.mutex.lock();
        defer inbox.mutex.unlock();
        inbox.items.append(accepted) catch |err| switch (err) {
            error.Overflow => return false,
        };
        return true;
    }

    /// From the owning loop's thread: moves everything waiting into `taken` (empty).
    pub fn takeAll(inbox: *Inbox, taken: *std.BoundedArray(Accepted, inbox_max)) void {
        assert(taken.len == 0);
        inbox.mutex.lock();
        defer inbox.mutex.unlock();
        taken.appendSliceAssumeCapacity(inbox.items.slice());
        inbox.items.len = 0;
    }
};
