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
/// reserve back. False when there is no reserve to give, or nothing was accepted with it.
fn shedOne(loop: *EventLoop, listener: *const Listener) bool {
    if (loop.reserve_fd < 0) return false;
    posix.close(loop.reserve_fd);
    loop.reserve_fd = -1;
    defer loop.reserve_fd = openReserve();
    const accepted = socket.accept(listener.fd) catch |err| switch (err) {
        // Whatever it is, the next readiness tries again; the caller reports it.
        else => return false,
    };
    posix.close(accepted.fd);
    loop.countShed();
    return true;
}

/// The fd a loop keeps to give up when the process runs out of them; -1 if none could be had.
pub fn openReserve() socket.fd_t {
    return posix.open("/dev/null", .{ .CLOEXEC = true }, 0) catch |err| switch (err) {
        // No reserve: out of fds, the loop then reports the accept error instead of shedding.
        else => -1,
    };
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

// ---- tests ---------------------------------------------------------------------------------

const testing = std.testing;
const Syscall = layout.Syscall;
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
        const count = loop.drain();
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
