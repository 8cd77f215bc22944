//! Connections the host brings: a dial (gnet's EventLoop.Register, announced once connected)
//! and the adoption of a socket the host already had (gnet's Enroll).
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const layout = @import("layout.zig");
const lifecycle = @import("lifecycle.zig");
const poller_mod = @import("poller.zig");
const Poller = poller_mod.Poller;
const connection = @import("connection.zig");
const Connection = connection.Connection;
const Syscall = @import("syscall.zig").Syscall;
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;

/// Dials `address` (gnet's EventLoop.Register); the connection is announced once connected.
pub const RegisterError = socket.ConnectError || socket.SetOptionError || EventLoop.AddError;

pub fn register(loop: *EventLoop, network: socket.Network, address: std.net.Address, step: *Syscall) RegisterError!*Connection {
    loop.assertOwned();
    const fd = switch (network) {
        .udp => try socket.connectDatagram(address, step),
        .tcp, .unix => try socket.connect(address, step),
    };
    errdefer posix.close(fd);
    try configure(loop, fd, network, step);
    step.* = Poller.ctl_syscall;
    const conn = try loop.addConn(fd, network, address, if (network == .udp) .opening else .connecting);
    if (network == .udp) {
        lifecycle.announce(loop, conn);
    } else if (!conn.armWrite(&loop.poller, loop.trigger)) {
        // Edge-triggered registration already watches writability; a refused arm failed
        // the dial, reported by the next drain.
        lifecycle.reportFailed(loop, conn);
    }
    loop.buffers.?.records[layout.Header.generation] = @bitCast(conn.generation);
    return conn;
}

/// Adopts a copy of a socket the host had (gnet's Enroll: dup, the original is closed).
/// An fd that is not a socket (a FIFO the host wrapped) is `NotSocket`, nothing adopted.
pub const EnrollError = socket.DupError || socket.FcntlError || socket.PeerAddressError || socket.SetOptionError || EventLoop.AddError;

pub fn enroll(loop: *EventLoop, fd: socket.fd_t, network: socket.Network, step: *Syscall) EnrollError!*Connection {
    assert(fd >= 0);
    loop.assertOwned();
    step.* = .fcntl;
    const copy = try socket.dup(fd);
    errdefer posix.close(copy);
    try socket.setNonBlocking(copy);
    step.* = .getpeername;
    const remote = try socket.remoteAddress(copy);
    step.* = .setsockopt;
    try socket.noSigPipe(copy);
    try configure(loop, copy, network, step);
    step.* = Poller.ctl_syscall;
    const conn = try loop.addConn(copy, network, remote, .opening);
    lifecycle.announce(loop, conn);
    loop.buffers.?.records[layout.Header.generation] = @bitCast(conn.generation);
    return conn;
}

/// The engine's socket options on a socket it did not accept (accepted ones inherit them
/// from the listener): gnet's Client.Enroll applies the buffer sizes, and for TCP
/// TCP_NODELAY and keep-alive.
fn configure(loop: *const EventLoop, fd: socket.fd_t, network: socket.Network, step: *Syscall) socket.SetOptionError!void {
    assert(fd >= 0);
    const c = loop.config.*;
    step.* = .setsockopt;
    if (network == .tcp) {
        try socket.setNoDelay(fd, c.no_delay);
        if (c.keep_alive_s > 0) try socket.setKeepAlive(fd, true, c.keep_alive_s, c.keep_interval_s, c.keep_count);
    }
    if (c.recv_buffer > 0) try socket.setRecvBuffer(fd, c.recv_buffer);
    if (c.send_buffer > 0) try socket.setSendBuffer(fd, c.send_buffer);
}
