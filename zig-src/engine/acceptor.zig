//! Listeners: what a loop does when one is readable. A stream listener accepts until EAGAIN
//! (bounded by the records left in this drain) and hands each connection to the loop the
//! engine picks; a UDP listener reads datagrams, one record each (gnet's readUDP, but one
//! recvmmsg for many). The loop the connection is placed on adopts it on its own thread (from
//! its inbox when it is another).
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const socket_io = @import("socket_io.zig");
const layout = @import("layout.zig");
const records = @import("records.zig");
const lifecycle = @import("lifecycle.zig");
const tls_io = @import("tls_io.zig");
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;
const Listener = event_loop.Listener;
const Accepted = @import("inbox.zig").Accepted;

/// Accepts what is pending, at most one record's worth each. Accepting never stops the
/// engine (gnet stops with ErrAcceptSocket): out of file descriptors, the loop gives up its
/// reserve fd to accept and close each waiting connection (libuv's and nginx's answer), so the
/// backlog drains, the peers learn at once, and serving goes on once fds free up; any other
/// failure is reported in the drain's header (`accept_errno`) for the host to log, and
/// accepting resumes at the next readiness.
pub fn acceptReady(loop: *EventLoop, listener: *const Listener) void {
    assert(listener.network != .udp);
    assert(loop.in_drain);
    // Bounded by the records left: every accepted connection may need an open record here.
    while (loop.recordsLeft() > 0) {
        const accepted = socket.accept(listener.fd) catch |err| switch (err) {
            error.WouldBlock => return,
            // The peer gave up before we got to it (gnet retries these).
            error.ConnectionAborted, error.ConnectionReset => continue,
            error.ProcessFdQuotaExceeded, error.SystemFdQuotaExceeded => {
                if (shedOne(loop, listener)) continue;
                records.reportAcceptError(loop, socket.errnoOf(err));
                return;
            },
            // The rest is reported (gnet logs accept errors and keeps the listener).
            error.SystemResources,
            error.NoBufferSpace,
            error.AccessDenied,
            error.NetworkDown,
            error.NetworkUnreachable,
            error.HostUnreachable,
            error.TimedOut,
            error.ProtocolOption,
            error.InvalidArgument,
            error.NotSocket,
            error.BadFileDescriptor,
            error.AlreadyConnected,
            error.NoDevice,
            error.Unexpected,
            => |e| {
                records.reportAcceptError(loop, socket.errnoOf(e));
                return;
            },
        };
        placeAccepted(loop, accepted.fd, listener.network, accepted.remote);
    }
    loop.setMore();
}

/// Out of fds: frees the reserve, accepts one waiting connection and closes it, takes the
/// reserve back. False when there is no reserve to give, or nothing was accepted with it.
fn shedOne(loop: *EventLoop, listener: *const Listener) bool {
    if (loop.reserve_fd < 0) return false;
    posix.close(loop.reserve_fd);
    loop.reserve_fd = -1;
    defer loop.reserve_fd = event_loop.openReserve();
    const accepted = socket.accept(listener.fd) catch |err| {
        // Whatever it is, the next readiness tries again; the caller reports it.
        std.log.debug("accept with the reserve fd freed: {s}", .{@errorName(err)});
        return false;
    };
    posix.close(accepted.fd);
    records.countShed(loop);
    return true;
}

/// Reads datagrams while records and datagram slots last, a batch per call (recvmmsg); one
/// record each. A batch that comes back short emptied the socket: no call is spent on
/// hearing EAGAIN, since level triggering brings the listener back when more arrive.
pub fn readDatagrams(loop: *EventLoop, listener_index: u32, listener: *const Listener) void {
    assert(listener.network == .udp);
    assert(loop.in_drain);
    const batch = loop.datagram_batch;
    // Bounded by the slots: every round keeps at least one, or consumes a queued ICMP error.
    while (true) {
        const want = @min(loop.recordsLeft(), loop.datagramSlotsLeft(), socket_io.DatagramBatch.count_max);
        if (want == 0) break;
        var slots: [socket_io.DatagramBatch.count_max][]u8 = undefined;
        for (slots[0..want], loop.datagram_slots_used..) |*slot, index| slot.* = loop.datagramSlot(index);
        const count = socket_io.recvBatch(listener.fd, batch, slots[0..want]) catch |err| switch (err) {
            error.WouldBlock => return,
            // ICMP errors of earlier sends surface here; they concern nobody now.
            error.ConnectionRefused, error.HostUnreachable, error.NetworkUnreachable, error.ConnectionReset => continue,
            // The listener itself failing (ENOMEM, ...): gnet's readUDP returns the error and
            // keeps the loop; level triggering brings the listener back next drain.
            error.NotConnected,
            error.TimedOut,
            error.SystemResources,
            error.NoBufferSpace,
            error.NotSocket,
            error.BadFileDescriptor,
            error.Unexpected,
            => |e| {
                std.log.debug("recvmmsg on a udp listener: {s}", .{@errorName(e)});
                return;
            },
        };
        assert(count > 0 and count <= want);
        for (0..count) |i| {
            const datagram = batch.received(i);
            records.emitDatagram(loop, listener_index, slots[i], datagram.len, &datagram.remote);
        }
        loop.datagram_slots_used += count; // only the filled slots are used
        if (count < want) return;
    }
    loop.setMore();
}

/// A connection `from` accepted: it joins `from` (reuse-port mode) or the loop the load
/// balancer picks, and is announced by that loop's next drain (or this one). Runs on
/// `from`'s thread.
pub fn placeAccepted(from: *EventLoop, fd: socket.fd_t, network: socket.Network, remote: std.net.Address) void {
    assert(fd >= 0);
    assert(network != .udp);
    const config = from.config;
    const target = if (config.reusePortMode() or from.peers.len == 1) blk: {
        from.balancer.connOpened(from.index);
        break :blk from;
    } else blk: {
        var text: [64]u8 = undefined;
        const key = if (config.lb == .source_addr_hash) socket.formatHostPort(&text, remote) else "";
        break :blk &from.peers[from.balancer.placeCounted(key)];
    };
    if (network == .tcp and @import("builtin").os.tag != .linux and config.keep_alive_s > 0) {
        // Linux inherits keep-alive from the listener; other systems need it per socket.
        socket.setKeepAlive(fd, true, config.keep_alive_s, config.keep_interval_s, config.keep_count) catch |err| switch (err) {
            // The peer left already (macOS answers EINVAL then): its first read reports it.
            error.InvalidArgument => {},
            // Keep-alive is advice to the kernel: gnet logs its failure and serves the
            // connection anyway, and so do we.
            error.NotSocket,
            error.BadFileDescriptor,
            error.ProtocolOption,
            error.SystemResources,
            error.NoBufferSpace,
            error.AlreadyConnected,
            error.AccessDenied,
            error.NoDevice,
            error.Unexpected,
            => |e| std.log.debug("keep-alive on an accepted socket: {s}", .{@errorName(e)}),
        };
    }
    const accepted: Accepted = .{ .fd = fd, .network = network, .remote = remote };
    // Another loop may run on another thread: it adopts the connection itself. A loop too
    // far behind to take it leaves it here, where it is served all the same.
    if (target == from) return adoptAccepted(from, accepted);
    if (target.handOff(accepted)) return;
    from.balancer.connClosed(target.index);
    from.balancer.connOpened(from.index);
    adoptAccepted(from, accepted);
}

/// An accepted connection, counted for this loop when placed, joins it (on this loop's thread).
pub fn adoptAccepted(loop: *EventLoop, accepted: Accepted) void {
    assert(accepted.fd >= 0);
    assert(accepted.network != .udp);
    const tls_server = loop.config.tls_server;
    const to: @import("connection.zig").State = if (tls_server == null) .opening else .handshaking;
    const conn = loop.join(accepted.fd, accepted.network, accepted.remote, to) catch |err| {
        // gnet drops a connection it cannot register and keeps accepting: the peer sees
        // the close, the engine goes on (a full fd table shows up as accept's error).
        std.log.debug("accepted socket not registered: {s}", .{@errorName(err)});
        posix.close(accepted.fd);
        loop.balancer.connClosed(loop.index);
        return;
    };
    // TLS: announced once its handshake is done (tls_io.zig).
    if (tls_server) |context| return tls_io.startAccepted(loop, conn, context);
    lifecycle.announce(loop, conn);
}

/// After a wake was consumed (poller.zig's order): adopts what other loops handed over.
pub fn takeInbox(loop: *EventLoop) void {
    assert(loop.in_drain);
    assert(loop.inbox_taken.len == 0);
    loop.inbox.takeAll(loop.inbox_taken);
    for (loop.inbox_taken.slice()) |accepted| adoptAccepted(loop, accepted);
    loop.inbox_taken.len = 0;
}

// ---- tests ---------------------------------------------------------------------------------

const testing = std.testing;
const Syscall = @import("syscall.zig").Syscall;
const TestHost = @import("test_host.zig").TestHost;

test "acceptReady: accepts while records last, the rest waits for the next drain" {
    var t = try TestHost.init(try std.net.Address.parseIp("127.0.0.1", 0));
    defer t.deinit();
    const loop = &t.engine.loops[0];
    const address = t.engine.specs.get(0).address;
    var step: Syscall = .none;
    var clients: [3]socket.fd_t = undefined;
    for (&clients) |*client| client.* = try socket.connect(address, &step);
    defer for (clients) |client| posix.close(client);
    // One record left: one connection is accepted and announced, then `more` is set.
    loop.records_count = layout.records_max - 1;
    loop.in_drain = true;
    var tries: usize = 0;
    while (loop.records_count < layout.records_max) : (tries += 1) {
        try testing.expect(tries < 1000);
        acceptReady(loop, &loop.listeners.items[0]);
        std.time.sleep(std.time.ns_per_ms);
    }
    loop.in_drain = false;
    try testing.expectEqual(@as(i32, 1), t.records[layout.Header.more]);
    // The other two come with later drains (the listener stays readable).
    var opened: usize = 0;
    tries = 0;
    while (opened < 2) : (tries += 1) {
        try testing.expect(tries < 1000);
        const count = @import("drain.zig").drain(loop);
        for (0..count) |i| {
            const kind = t.records[(i + 1) * layout.record_words + layout.Field.kind];
            opened += @intFromBool(kind == @intFromEnum(layout.RecordKind.open));
        }
        std.time.sleep(std.time.ns_per_ms);
    }
    try testing.expectEqual(@as(usize, 2), opened);
}

test "acceptReady: an accept that fails for good is reported in the drain's header" {
    var t = try TestHost.init(try std.net.Address.parseIp("127.0.0.1", 0));
    defer t.deinit();
    const loop = &t.engine.loops[0];
    // A stream socket that never listened: accept answers EINVAL, not a transient error.
    const fd = try socket.socket(posix.AF.INET, posix.SOCK.STREAM);
    defer posix.close(fd);
    const broken: Listener = .{ .fd = fd, .network = .tcp, .spec_index = 0, .loop_owned = false };
    loop.records_count = 0;
    loop.in_drain = true;
    acceptReady(loop, &broken);
    loop.in_drain = false;
    try testing.expectEqual(@as(i32, @intFromEnum(posix.E.INVAL)), t.records[layout.Header.accept_errno]);
    try testing.expectEqual(@as(usize, 0), loop.records_count);
}

test "acceptReady: out of fds, a waiting connection is accepted with the reserve fd, closed, and counted as shed" {
    var t = try TestHost.init(try std.net.Address.parseIp("127.0.0.1", 0));
    defer t.deinit();
    const loop = &t.engine.loops[0];
    try testing.expect(loop.reserve_fd >= 0);
    const address = t.engine.specs.get(0).address;
    var step: Syscall = .none;
    const client = try socket.connect(address, &step);
    defer posix.close(client);
    // The next fd number the process would get: a soft limit there makes accept fail with
    // EMFILE, while the reserve (a lower number) can still be given up and taken back.
    const probe = try posix.dup(client);
    posix.close(probe);
    const saved = try posix.getrlimit(.NOFILE);
    try posix.setrlimit(.NOFILE, .{ .cur = @intCast(probe), .max = saved.max });
    loop.records_count = 0;
    t.records[layout.Header.accept_shed] = 0;
    t.records[layout.Header.accept_errno] = 0;
    loop.in_drain = true;
    var tries: usize = 0;
    // The connection may reach the backlog a little after connect() returned.
    while (t.records[layout.Header.accept_shed] == 0 and tries < 1000) : (tries += 1) {
        acceptReady(loop, &loop.listeners.items[0]);
        std.time.sleep(std.time.ns_per_ms);
    }
    loop.in_drain = false;
    try posix.setrlimit(.NOFILE, saved);
    try testing.expectEqual(@as(i32, 1), t.records[layout.Header.accept_shed]);
    // With the backlog empty, Linux's accept still fails EMFILE (the fd comes first), and
    // shedOne then finds nothing: that is reported, for accepting to resume at the next readiness.
    const errno = t.records[layout.Header.accept_errno];
    try testing.expect(errno == 0 or errno == @intFromEnum(posix.E.MFILE));
    try testing.expectEqual(@as(usize, 0), loop.records_count); // no open record: nobody serves it
    try testing.expect(loop.reserve_fd >= 0); // taken back for the next time
    // The peer learns at once: its connection was closed.
    var byte: [1]u8 = undefined;
    const got = posix.read(client, &byte) catch |err| switch (err) {
        error.ConnectionResetByPeer => 0,
        else => return err,
    };
    try testing.expectEqual(@as(usize, 0), got);
}
