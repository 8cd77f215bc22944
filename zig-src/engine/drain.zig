//! drain(): one batch of readiness as records. Pending work first (what arose outside a drain),
//! then one non-blocking wait, each event dispatched to the listener or connection it names.
//! Nothing here calls the host, so the host cannot drain from inside a drain.
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const socket_io = @import("socket_io.zig");
const layout = @import("layout.zig");
const poller_mod = @import("poller.zig");
const records = @import("records.zig");
const lifecycle = @import("lifecycle.zig");
const conn_io = @import("conn_io.zig");
const acceptor = @import("acceptor.zig");
const tls_io = @import("tls_io.zig");
const connection = @import("connection.zig");
const Connection = connection.Connection;
const State = connection.State;
const Syscall = @import("syscall.zig").Syscall;
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;
const token = @import("token.zig");

/// Scratch for reads of a draining connection, whose bytes nobody wants.
const discard_buffer_size = 4096;

comptime {
    // Each ready connection of one wait gets its record.
    assert(layout.records_max >= poller_mod.events_max);
}

/// One batch of readiness as records; returns the record count (header not included).
pub fn drain(loop: *EventLoop) usize {
    // Nothing here calls the host, so the host cannot drain from inside a drain.
    assert(!loop.in_drain);
    assert(loop.started);
    loop.assertOwned();
    const buffers = loop.buffers.?;
    loop.records_count = 0;
    loop.area_used = 0;
    loop.datagram_slots_used = 0;
    loop.in_drain = true;
    @memset(buffers.records[0..layout.record_words], 0);

    processPending(loop);
    const room = loop.recordsLeft();
    if (room > 0) {
        const count = loop.poller.waitMax(@min(room, poller_mod.events_max), 0);
        for (0..count) |i| dispatch(loop, loop.poller.eventAt(i));
    } else {
        loop.setMore();
    }
    // Work queued during this drain (or left for lack of room) is the next drain's.
    if (loop.pending.items.len > 0) loop.poller.wake();
    buffers.records[layout.Header.draining] = @intCast(loop.draining_count);
    records.reportRefused(loop);
    loop.in_drain = false;
    assert(loop.records_count <= layout.records_max);
    assert(loop.area_used <= layout.packedAreaSize(loop.read_buffer_cap));
    return loop.records_count;
}

fn processPending(loop: *EventLoop) void {
    assert(loop.in_drain);
    const count = loop.pending.items.len;
    if (count == 0) return;
    // Items re-queued while processing land after `count`; they wait for the next drain.
    for (loop.pending.items[0..count]) |slot| {
        const conn = loop.conns.items[slot];
        conn.pending = false;
        switch (conn.state) {
            .opening, .open, .failed => {},
            // Freed, or reported/closed since it was queued: nothing left to say.
            .free, .connecting, .handshaking, .reported, .draining => continue,
        }
        if (loop.recordsLeft() < 2) {
            loop.setMore();
            conn.pending = true;
            loop.pending.appendAssumeCapacity(slot);
            continue;
        }
        if (conn.state == .opening) records.emitOpen(loop, conn);
        if (conn.state == .failed) {
            records.emitClose(loop, conn);
            continue;
        }
        assert(conn.state == .open);
        if (conn.writable_report) records.emitWritable(loop, conn);
        if (conn.write_pending) {
            conn.write_pending = false;
            conn_io.writable(loop, conn);
        }
        if (conn.state == .open and conn.read_pending) {
            conn.read_pending = false;
            conn_io.readable(loop, conn);
        }
    }
    std.mem.copyForwards(u32, loop.pending.items[0..], loop.pending.items[count..]);
    loop.pending.shrinkRetainingCapacity(loop.pending.items.len - count);
    assert(loop.pending.items.len <= loop.conns.items.len);
}

pub fn dispatch(loop: *EventLoop, event: poller_mod.Event) void {
    assert(loop.in_drain);
    if (event.token == poller_mod.wake_token) {
        loop.poller.consumeWake();
        return acceptor.takeInbox(loop);
    }
    const low: u32 = @truncate(event.token);
    if (token.listenerIndex(low)) |index| {
        const listener = &loop.listeners.items[index];
        if (listener.network == .udp) return acceptor.readDatagrams(loop, index, listener);
        return acceptor.acceptReady(loop, listener);
    }
    // A connection closed earlier in this batch has a new generation (or is free):
    // its stale events are dropped here.
    const conn = loop.lookup(low, @intCast(event.token >> 32)) orelse return;
    switch (conn.state) {
        // Queued for the next drain already (a TLS session with more to decrypt, a read cut
        // short): this readiness joins it there.
        .open => if (conn.pending) return deferEvent(loop, conn, event),
        .connecting => return connected(loop, conn, event),
        .handshaking => return tls_io.handshakeEvent(loop, conn, event),
        .opening => return deferEvent(loop, conn, event), // its open record is still pending
        .draining => return drainingEvent(loop, conn, event),
        .failed, .reported => return,
        .free => unreachable, // `lookup` finds no free slot
    }
    if (loop.recordsLeft() == 0 or loop.readRoom() == null) {
        loop.setMore();
        // Level-triggered readiness is reported again; an edge must be kept.
        if (loop.trigger == .edge) deferEvent(loop, conn, event);
        return;
    }
    if (event.hangup and !event.readable and !event.writable) {
        const errno = socket.pendingErrno(conn.fd);
        if (errno == 0 and conn.read_paused and !conn.read_ended and conn.outbound.isEmpty()) return conn_io.parkHangup(loop, conn);
        _ = conn.fail(errno, .read);
        return lifecycle.reportFailed(loop, conn);
    }
    if (event.writable or event.hangup) {
        conn_io.writable(loop, conn);
        if (conn.state != .open) return;
    }
    if (!(event.readable or event.read_hangup or event.hangup)) return;
    if (loop.recordsLeft() == 0) {
        // The writable record took the last one: the read waits for the next drain.
        loop.setMore();
        conn.read_pending = true;
        return loop.pushPending(conn);
    }
    conn_io.readable(loop, conn);
}

/// Readiness of a connection that the next drain serves (it is in the pending list, or goes
/// there): kept on the connection for then. Nothing edge-triggered is lost, and a connection is
/// read at most once per batch, so the host's pauseRead and its writable record come before
/// any further read.
fn deferEvent(loop: *EventLoop, conn: *Connection, event: poller_mod.Event) void {
    assert(conn.state == .opening or conn.state == .open);
    conn.read_pending = conn.read_pending or event.readable or event.read_hangup or event.hangup;
    conn.write_pending = conn.write_pending or event.writable;
    loop.pushPending(conn);
    assert(conn.pending);
}

/// A dial finished (writability or an error): announce it, or report why it failed.
fn connected(loop: *EventLoop, conn: *Connection, event: poller_mod.Event) void {
    assert(conn.state == .connecting);
    if (!event.writable and !event.hangup) return;
    const errno = socket.pendingErrno(conn.fd);
    if (errno != 0 or (event.hangup and !event.writable)) {
        _ = conn.fail(if (errno != 0) errno else @intFromEnum(posix.E.CONNREFUSED), .connect);
        return lifecycle.reportFailed(loop, conn);
    }
    // A TLS dial's handshake comes first (tls_io.zig).
    conn.become(if (conn.tls != null) .handshaking else .opening);
    if (conn.network != .unix) {
        const peer: ?std.net.Address = socket.remoteAddress(conn.fd) catch |err| switch (err) {
            // The peer left already (its first read reports it): the dialled address stands.
            error.NotConnected, error.ConnectionReset, error.InvalidArgument => null,
            error.NotSocket, error.BadFileDescriptor, error.SystemResources, error.NoBufferSpace, error.Unexpected => |e| {
                _ = conn.fail(socket.errnoOf(e), .getpeername);
                return lifecycle.reportFailed(loop, conn);
            },
        };
        if (peer) |address| conn.remote = socket.Peer.of(address);
    }
    // Writability was watched for the dial: the flush of an empty buffer settles it.
    assert(conn.outbound.isEmpty());
    if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) return lifecycle.reportFailed(loop, conn);
    // A TLS dial is announced once its handshake is done.
    if (conn.tls != null) return tls_io.startDialled(loop, conn);
    lifecycle.announce(loop, conn);
}

fn drainingEvent(loop: *EventLoop, conn: *Connection, event: poller_mod.Event) void {
    assert(conn.state == .draining);
    if (event.hangup) return loop.finalize(conn);
    if ((event.readable or event.read_hangup) and !conn.read_paused) {
        var scratch: [discard_buffer_size]u8 = undefined;
        // A failed socket takes nothing more either: the connection goes.
        const got = socket_io.readNow(conn.fd, &scratch) catch return loop.finalize(conn);
        const n = got orelse 1; // nothing to discard now; the connection keeps draining
        // The peer's end of stream: it may still read what we send (a half-close); stop
        // reading (end of stream stays readable) and keep draining.
        if (n == 0 and !lifecycle.pollReadPaused(loop, conn, true)) return loop.finalize(conn);
    }
    if (event.writable) {
        const sent_before = conn.sent_total;
        if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) return loop.finalize(conn);
        if (conn.outbound.isEmpty()) return loop.finalize(conn);
        // The peer is still taking bytes: the bound counts from its last progress.
        if (conn.sent_total != sent_before) conn.drain_deadline_ns = lifecycle.monotonicNs() + lifecycle.drain_timeout_ns;
    }
}

// ---- tests ---------------------------------------------------------------------------------

const testing = std.testing;
const test_host = @import("test_host.zig");
const TestHost = test_host.TestHost;

test "EventLoop: the stale events of a connection closed mid-batch are dropped" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try test_host.openConn(&t);
    const stale = a.conn.token();
    // The peer leaves; one batch holds the conn's read (EOF) and then its write event.
    posix.close(a.peer);
    test_host.dispatchBatch(loop, &.{ test_host.testEvent(stale, true, false), test_host.testEvent(stale, false, true) });
    try testing.expectEqual(@as(usize, 1), loop.records_count);
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.end)), t.record(0)[layout.Field.kind]);
    try testing.expectEqual(State.open, a.conn.state);
    try testing.expect(a.conn.read_ended and a.conn.read_paused);
    // The host's close frees the slot; a new connection takes it under a new generation.
    lifecycle.closeByHost(loop, a.conn);
    const b = try test_host.openConn(&t);
    defer posix.close(b.peer);
    try testing.expect(b.conn == a.conn and b.conn.token() != stale);
    // The old name's events find nothing, and leave the new connection alone.
    test_host.dispatchBatch(loop, &.{ test_host.testEvent(stale, true, true), test_host.testEvent(stale, true, false) });
    try testing.expectEqual(@as(usize, 0), loop.records_count);
    try testing.expectEqual(State.open, b.conn.state);
    try testing.expect(!b.conn.read_pending and !b.conn.write_pending);
}

test "EventLoop: a pending list larger than the records left waits, whole, for the next drain" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const conns_count = 6;
    var peers: [conns_count]socket.fd_t = undefined;
    var conns: [conns_count]*Connection = undefined;
    for (&peers, &conns) |*peer, *conn| {
        var pair: [2]socket.fd_t = undefined;
        try testing.expectEqual(@as(c_int, 0), std.c.socketpair(posix.AF.UNIX, posix.SOCK.STREAM, 0, &pair));
        conn.* = try loop.addConn(pair[0], .unix, try std.net.Address.initUnix("peer"), .opening);
        lifecycle.announce(loop, conn.*);
        peer.* = pair[1];
    }
    defer for (peers) |peer| posix.close(peer);
    try testing.expectEqual(@as(usize, conns_count), loop.pending.items.len);
    // A batch with three records left: two opens fit (each needs room for a close after it).
    @memset(t.records[0..layout.record_words], 0);
    loop.in_drain = true;
    loop.records_count = layout.records_max - 3;
    processPending(loop);
    loop.in_drain = false;
    try testing.expectEqual(@as(usize, layout.records_max - 1), loop.records_count);
    try testing.expectEqual(@as(i32, 1), t.records[layout.Header.more]);
    try testing.expectEqual(@as(usize, conns_count - 2), loop.pending.items.len);
    for (loop.pending.items) |slot| try testing.expect(loop.conns.items[slot].pending);
    try testing.expect(loop.pending.capacity >= 2 * conns_count);
    // The next drain announces the rest, once each.
    try testing.expectEqual(@as(usize, conns_count - 2), drain(loop));
    try testing.expectEqual(@as(usize, 0), loop.pending.items.len);
    for (conns) |conn| try testing.expectEqual(State.open, conn.state);
}
