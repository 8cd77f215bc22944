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
    assert(index < listener_token_flag);
    return listener_token_flag | index;
}

/// Accepts what is pending, at most one record's worth each. An error other than a
/// transient one is reported in the drain's header (`accept_errno`: gnet's ErrAcceptSocket,
/// the host stops the engine).
pub fn acceptReady(loop: *EventLoop, listener: *const Listener) void {
    assert(listener.network != .udp);
    assert(loop.in_drain);
    // Bounded by the records left: every accepted connection may need an open record here.
    while (loop.recordsLeft() > 0) {
        const accepted = socket.accept(listener.fd) catch |err| switch (err) {
            error.WouldBlock => return,
            // The peer gave up before we got to it (gnet retries these).
            error.ConnectionAborted, error.ConnectionReset => continue,
            else => {
                loop.reportAcceptError(socket.errnoOf(err));
                return;
            },
        };
        loop.engine.placeAccepted(loop, accepted.fd, listener.network, accepted.remote);
    }
    loop.setMore();
}

/// Reads datagrams while records and read-area room last; one record each.
pub fn readDatagrams(loop: *EventLoop, listener_index: u32, listener: *const Listener) void {
    assert(listener.network == .udp);
    assert(loop.in_drain);
    while (loop.recordsLeft() > 0) {
        const area = loop.readRoom() orelse break;
        const datagram = socket.recvFrom(listener.fd, area) catch |err| switch (err) {
            error.WouldBlock => return,
            // ICMP errors of earlier sends surface here; they concern nobody now.
            error.ConnectionRefused, error.HostUnreachable, error.NetworkUnreachable, error.ConnectionReset => continue,
            // The listener itself failing (ENOMEM, ...): gnet's readUDP returns the error and
            // keeps the loop; level triggering brings the listener back next drain.
            else => |e| {
                std.log.debug("recvfrom on a udp listener: {s}", .{@errorName(e)});
                return;
            },
        };
        assert(datagram.len <= area.len);
        loop.emitDatagram(listener_index, datagram.len, &datagram.remote);
    }
    loop.setMore();
}
