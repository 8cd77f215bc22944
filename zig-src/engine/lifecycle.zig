//! A connection's life on its loop after it joined (event_loop.zig's `join`): announced to the
//! host, failed and reported, closed by the host (flushing what it can, then draining within a
//! bound), reaped at its deadline. The slot itself is freed by `EventLoop.finalize`.
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const layout = @import("layout.zig");
const records = @import("records.zig");
const poller_mod = @import("poller.zig");
const Poller = poller_mod.Poller;
const connection = @import("connection.zig");
const Connection = connection.Connection;
const State = connection.State;
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;

/// How long a connection closed with unsent bytes may keep trying (gnet gives up at once;
/// we let a slow reader finish, within this bound): layout.zig's close_flush_ms.
pub const drain_timeout_ns: u64 = layout.close_flush_ms * std.time.ns_per_ms;

/// Makes a new connection known to the host: now if this loop is draining with room,
/// else from its next drain.
pub fn announce(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .opening);
    if (loop.in_drain and loop.recordsLeft() > 0) return records.emitOpen(loop, conn);
    loop.pushPending(conn);
}

/// The connection just failed (Connection.fail): stop watching it, report the close.
/// After the peer's end of stream with bytes left it stays watched, for writability only.
pub fn reportFailed(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .failed or conn.state == .draining);
    if (conn.state == .draining) return loop.finalize(conn);
    if (!conn.drainsAfterEof() or !pollReadPaused(loop, conn, true)) {
        conn.outbound.reset(conn.outbound.max_static_bytes);
        loop.unwatch(conn);
    }
    loop.balancer.connClosed(loop.index);
    if (loop.in_drain and loop.recordsLeft() > 0) {
        records.emitClose(loop, conn);
    } else {
        loop.pushPending(conn);
    }
}

/// The host closed the connection (its onClose ran): flush what can go now; a
/// connection with bytes left drains them (bounded) before its socket closes.
pub fn closeByHost(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state != .free);
    switch (conn.state) {
        .open => {
            // TLS: close_notify after everything queued (unless end() sent it already).
            const notify = conn.tls != null and !conn.end_pending;
            if (notify and !conn.sendCloseNotify(&loop.poller, loop.trigger)) return failedClosing(loop, conn);
            if (conn.outbound.isEmpty()) return loop.finalize(conn);
            if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) return failedClosing(loop, conn);
            if (conn.outbound.isEmpty()) return loop.finalize(conn);
            loop.balancer.connClosed(loop.index);
            conn.read_pending = false;
            conn.write_pending = false;
            // Nobody is left to hear of writability.
            conn.writable_report = false;
            conn.unwatch();
            conn.become(.draining);
            conn.drain_deadline_ns = monotonicNs() + drain_timeout_ns;
            loop.draining_count += 1;
            if (!conn.armWrite(&loop.poller, loop.trigger)) loop.finalize(conn);
        },
        .reported => {
            if (!conn.drainsAfterEof()) return loop.finalize(conn);
            // The peer half-closed with bytes left for it: they drain (counted closed
            // when reported; still watched for writability).
            conn.become(.draining);
            conn.drain_deadline_ns = monotonicNs() + drain_timeout_ns;
            loop.draining_count += 1;
            if (!conn.armWrite(&loop.poller, loop.trigger)) loop.finalize(conn);
        },
        .connecting, .handshaking, .opening, .failed => loop.finalize(conn),
        // Closed twice: the first close stands.
        .draining => {},
        .free => unreachable,
    }
}

/// It failed while the host closed it: nobody needs to hear about it.
pub fn failedClosing(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .failed);
    loop.balancer.connClosed(loop.index);
    loop.unwatch(conn);
    loop.finalize(conn);
}

/// Closes draining connections whose peer took nothing for `drain_timeout_ns` (their
/// deadline moves on with every write that makes progress); returns how many still drain.
pub fn reap(loop: *EventLoop) u32 {
    loop.assertOwnerThread();
    if (loop.draining_count == 0) return 0;
    const now = monotonicNs();
    for (loop.conns.items) |conn| {
        if (conn.state == .draining and conn.drain_deadline_ns <= now) {
            loop.cut_off_count +|= 1;
            loop.finalize(conn);
        }
    }
    assert(loop.draining_count <= loop.conns.items.len);
    return loop.draining_count;
}

/// Asks the poller to stop (or restart) readability reports; a refusal fails the
/// connection (false), as a refused write arm does (Connection.armWrite).
pub fn pollReadPaused(loop: *EventLoop, conn: *Connection, paused: bool) bool {
    assert(conn.fd >= 0);
    loop.poller.setReadPaused(conn.fd, conn.token(), loop.trigger, paused, conn.write_armed) catch |err| {
        _ = conn.fail(socket.errnoOf(err), Poller.ctl_syscall);
        return false;
    };
    conn.read_paused = paused;
    return true;
}

pub fn monotonicNs() u64 {
    var ts: posix.timespec = undefined;
    posix.clock_gettime(.MONOTONIC, &ts) catch |err| switch (err) {
        // CLOCK_MONOTONIC exists on every system the native engine builds for.
        error.UnsupportedClock, error.Unexpected => unreachable,
    };
    assert(ts.sec >= 0 and ts.nsec >= 0);
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}

// ---- tests ---------------------------------------------------------------------------------

const testing = std.testing;
const test_host = @import("test_host.zig");
const drain = @import("drain.zig");
const commands = @import("commands.zig");
const TestHost = test_host.TestHost;

test "EventLoop: attach makes the calling thread the loop's owner; attaching on another takes it over" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    try testing.expectEqual(std.Thread.getCurrentId(), loop.owner.?);
    const Attach = struct {
        /// A failed attach leaves `id` unset, and the test's comparison fails.
        fn run(l: *EventLoop, buffers: event_loop.Buffers, id: *?std.Thread.Id) !void {
            try l.attach(buffers);
            id.* = std.Thread.getCurrentId();
        }
    };
    var other: ?std.Thread.Id = null;
    const thread = try std.Thread.spawn(.{}, Attach.run, .{ loop, loop.buffers.?, &other });
    thread.join();
    try testing.expect(other.? != std.Thread.getCurrentId());
    try testing.expectEqual(other.?, loop.owner.?);
}

test "EventLoop: a closed connection with bytes left drains until its deadline" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try test_host.openConn(&t);
    defer posix.close(a.peer);
    // Far more than a socketpair holds, with a peer that never reads.
    const big = try test_host.queueBytes(loop, a.conn, 4 << 20, 'z');
    defer testing.allocator.free(big);
    closeByHost(loop, a.conn);
    try testing.expectEqual(State.draining, a.conn.state);
    try testing.expectEqual(@as(u32, 1), loop.draining_count);
    // Within the deadline it keeps draining; the drain's header says how many do.
    try testing.expectEqual(@as(u32, 1), reap(loop));
    _ = drain.drain(loop);
    try testing.expectEqual(@as(i32, 1), t.records[layout.Header.draining]);
    try testing.expect(a.conn.drain_deadline_ns > monotonicNs());
    try testing.expect(a.conn.drain_deadline_ns <= monotonicNs() + drain_timeout_ns);
    // At the deadline it is closed, whatever is left.
    a.conn.drain_deadline_ns = monotonicNs();
    try testing.expectEqual(@as(u32, 0), reap(loop));
    try testing.expectEqual(State.free, a.conn.state);
    // A second close command for the old name finds nothing.
    try testing.expect(loop.lookup(a.conn.slot, a.conn.generation -% 1) == null);
}

test "EventLoop: a peer that half-closes still gets what was queued for it" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try test_host.openConn(&t);
    defer posix.close(a.peer);
    const big = try test_host.queueBytes(loop, a.conn, 1 << 20, 'h');
    defer testing.allocator.free(big);
    // The peer shuts its write side: the loop reads end of stream and reports it; the
    // connection stays open (the host decides: close, or go on writing half-open)...
    try posix.shutdown(a.peer, .send);
    _ = drain.drain(loop);
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.end)), t.record(0)[layout.Field.kind]);
    try testing.expectEqual(State.open, a.conn.state);
    try testing.expect(a.conn.read_ended);
    // ...and after the host's close the queued bytes drain instead of being dropped.
    closeByHost(loop, a.conn);
    try testing.expectEqual(State.draining, a.conn.state);
    try socket.setNonBlocking(a.peer);
    var got: usize = 0;
    var scratch: [64 * 1024]u8 = undefined;
    var rounds: usize = 0;
    while (a.conn.state == .draining and rounds < 10_000) : (rounds += 1) {
        got += posix.read(a.peer, &scratch) catch 0;
        _ = drain.drain(loop);
    }
    while (true) {
        const n = posix.read(a.peer, &scratch) catch break;
        if (n == 0) break;
        got += n;
    }
    try testing.expectEqual(big.len, got);
    try testing.expectEqual(State.free, a.conn.state);
}

test "EventLoop: end sends FIN after every queued byte; the connection still reads" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try test_host.openConn(&t);
    defer posix.close(a.peer);
    const big = try test_host.queueBytes(loop, a.conn, 1 << 20, 'e');
    defer testing.allocator.free(big);
    test_host.setCommand(&t, 0, .end, a.conn, 0, 0, 0);
    try commands.flush(loop, 1);
    // Bytes remain: no FIN yet.
    try testing.expect(a.conn.end_pending and !a.conn.write_shut);
    try socket.setNonBlocking(a.peer);
    var got: usize = 0;
    var scratch: [64 * 1024]u8 = undefined;
    var rounds: usize = 0;
    var eof = false;
    while (!eof and rounds < 10_000) : (rounds += 1) {
        const n = posix.read(a.peer, &scratch) catch |err| switch (err) {
            error.WouldBlock => {
                _ = drain.drain(loop);
                continue;
            },
            else => return err,
        };
        if (n == 0) eof = true;
        got += n;
    }
    try testing.expect(eof);
    try testing.expectEqual(big.len, got);
    try testing.expect(a.conn.write_shut and a.conn.outbound.isEmpty());
    // Half-closed by us, the connection still reads what the peer sends.
    try testing.expectEqual(@as(usize, 5), try posix.write(a.peer, "after"));
    _ = drain.drain(loop);
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.data)), t.record(0)[layout.Field.kind]);
    try testing.expectEqual(@as(i32, 5), t.record(0)[layout.Field.length]);
    try testing.expectEqual(State.open, a.conn.state);
}

test "EventLoop: a paused reader shut both ways keeps the peer's last bytes; resuming reads them, then the end" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try test_host.openConn(&t);
    defer posix.close(a.peer);
    test_host.setCommand(&t, 0, .pause_read, a.conn, 0, 0, 0);
    test_host.setCommand(&t, 1, .end, a.conn, 0, 0, 0);
    try commands.flush(loop, 2);
    try testing.expect(a.conn.write_shut);
    // The peer answers and shuts its side too: the kernel reports a hangup, the bytes wait.
    try testing.expectEqual(@as(usize, 4), try posix.write(a.peer, "tail"));
    try posix.shutdown(a.peer, .send);
    for (0..3) |_| try testing.expectEqual(@as(usize, 0), drain.drain(loop));
    try testing.expectEqual(State.open, a.conn.state);
    try testing.expect(a.conn.hangup_parked);
    test_host.setCommand(&t, 0, .resume_read, a.conn, 0, 0, 0);
    try commands.flush(loop, 1);
    try testing.expect(!a.conn.hangup_parked and !a.conn.read_paused);
    var kinds: [4]i32 = undefined;
    var count: usize = 0;
    var length: i32 = 0;
    for (0..4) |_| {
        const n = drain.drain(loop);
        for (0..n) |i| {
            if (count < kinds.len) kinds[count] = t.record(i)[layout.Field.kind];
            if (t.record(i)[layout.Field.kind] == @intFromEnum(layout.RecordKind.data)) length += t.record(i)[layout.Field.length];
            count += 1;
        }
    }
    // Then, both directions over, the hangup is the close (an end of stream, no error).
    try testing.expectEqual(@as(usize, 3), count);
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.data)), kinds[0]);
    try testing.expectEqual(@as(i32, 4), length);
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.end)), kinds[1]);
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.close)), kinds[2]);
    try testing.expectEqual(@as(i32, 0), a.conn.close_errno);
}

test "EventLoop: a closing connection is cut off only after the flush bound without progress" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try test_host.openConn(&t);
    defer posix.close(a.peer);
    const big = try test_host.queueBytes(loop, a.conn, 4 << 20, 'p');
    defer testing.allocator.free(big);
    closeByHost(loop, a.conn);
    try testing.expectEqual(State.draining, a.conn.state);
    // Its deadline has passed, but the peer reads: the write that follows moves it on.
    a.conn.drain_deadline_ns = monotonicNs();
    try socket.setNonBlocking(a.peer);
    var scratch: [64 * 1024]u8 = undefined;
    // The peer takes what the socket holds (bounded: the kernel's buffer is finite).
    var read_total: usize = 0;
    while (posix.read(a.peer, &scratch)) |n| read_total += n else |_| {}
    try testing.expect(read_total > 0);
    const sent_before = a.conn.sent_total;
    _ = drain.drain(loop);
    try testing.expect(a.conn.sent_total != sent_before);
    try testing.expectEqual(@as(u32, 1), reap(loop));
    try testing.expectEqual(State.draining, a.conn.state);
    try testing.expectEqual(@as(u32, 0), loop.cut_off_count);
    // Now the peer takes nothing: past the deadline it is cut off, and counted.
    a.conn.drain_deadline_ns = monotonicNs();
    try testing.expectEqual(@as(u32, 0), reap(loop));
    try testing.expectEqual(State.free, a.conn.state);
    try testing.expectEqual(@as(u32, 1), loop.cut_off_count);
}
