//! Listeners: what a loop does when one is readable. A stream listener accepts until EAGAIN
//! (bounded by the records left in this drain) and hands each connection to the loop the
//! engine picks; a UDP listener reads datagrams, one record each (gnet's readUDP).
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const layout = @import("layout.zig");
const EventLoop = @import("event_loop.zig").EventLoop;

pub const Listener = struct {
    fd: socket.fd_t,
    network: socket.Network,
    /// The engine's listener this one serves (reuse-port loops open their own copies).
    spec_index: u32,
    /// Loop-owned copies are closed by the loop; the engine closes its originals.
    loop_owned: bool,
};

/// Listener tokens have the top bit of the low word set; connection tokens never do
/// (slots stay below 2^31).
pub const listener_token_flag: u64 = 1 << 31;

pub fn token(index: u32) u64 {
    return listener_token_flag | index;
}

/// Accepts what is pending, at most one record's worth each. Accepting never stops the
/// engine (gnet stops with ErrAcceptSocket): out of file descriptors, the loop gives up its
/// reserve fd to accept and close each waiting connection (libuv's and nginx's answer), so the
/// backlog drains, the peers learn at once, and serving goes on once fds free up; any other
/// failure is reported (`accept_errno`) for the host to log, and accepting resumes at the next
/// readiness.
pub fn acceptReady(loop: *EventLoop, listener: *const Listener) void {
    assert(listener.network != .udp);
    // Bounded by the records left: every accepted connection may need an open record here.
    while (loop.recordsLeft() > 0) {
        const accepted = socket.accept(listener.fd) catch |err| switch (err) {
            error.WouldBlock => return,
            // The peer gave up before we got to it (gnet retries these).
            error.ConnectionAborted, error.ConnectionReset => continue,
            error.ProcessFdQuotaExceeded, error.SystemFdQuotaExceeded => {
                if (shedOne(loop, listener)) continue;
                loop.reportAcceptError(socket.errnoOf(err));
                return;
            },
            else => {
                loop.reportAcceptError(socket.errnoOf(err));
                return;
            },
        };
        loop.engine.placeAccepted(loop, accepted.fd, listener.network, accepted.remote);
    }
    loop.setMore();
}

/// Out of fds: frees the reserve, accepts one waiting connection and closes it, takes the
/// reserve back. False when there is no reserve to give (another thread took the fd).
fn shedOne(loop: *EventLoop, listener: *const Listener) bool {
    if (loop.reserve_fd < 0) return false;
    posix.close(loop.reserve_fd);
    loop.reserve_fd = -1;
    defer loop.reserve_fd = openReserve();
    const accepted = socket.accept(listener.fd) catch return false;
    posix.close(accepted.fd);
    loop.countShed();
    return true;
}

/// The fd a loop keeps to give up when the process runs out of them; -1 if none could be had.
pub fn openReserve() socket.fd_t {
    return posix.open("/dev/null", .{ .CLOEXEC = true }, 0) catch -1;
}

/// Reads datagrams while records and read-area room last; one record each.
pub fn readDatagrams(loop: *EventLoop, listener_index: u32, listener: *const Listener) void {
    assert(listener.network == .udp);
    while (loop.recordsLeft() > 0) {
        const area = loop.readRoom() orelse break;
        const datagram = socket.recvFrom(listener.fd, area) catch |err| switch (err) {
            error.WouldBlock => return,
            // ICMP errors of earlier sends surface here; they concern nobody now.
            error.ConnectionRefused, error.HostUnreachable, error.NetworkUnreachable, error.ConnectionReset => continue,
            else => return,
        };
        loop.emitDatagram(listener_index, datagram.len, &datagram.remote);
    }
    loop.setMore();
}
