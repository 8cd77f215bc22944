//! The reads and writes of one ready connection: one read into the loop's read area, a write
//! of its outbound bytes on writability, the writable records its watches ask for, and the
//! pausing of reads (the host's pauseRead or its inbound high-water mark).
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const socket_io = @import("socket_io.zig");
const records = @import("records.zig");
const lifecycle = @import("lifecycle.zig");
const connection = @import("connection.zig");
const Connection = connection.Connection;
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;
const Poller = @import("poller.zig").Poller;
const tls_io = @import("tls_io.zig");

pub fn writable(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .open);
    if (conn.outbound.isEmpty()) return;
    if (!conn.flushOutbound(&loop.poller, loop.trigger, loop.et_chunk)) return lifecycle.reportFailed(loop, conn);
    checkWatch(loop, conn);
    if (loop.trigger == .edge and !conn.outbound.isEmpty()) {
        conn.write_pending = true;
        loop.pushPending(conn);
    }
}

/// A watch that is satisfied becomes a writable record: now if this drain has room, else
/// from the next one.
pub fn checkWatch(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .open);
    if (!conn.watching() or !conn.watchSatisfied()) return;
    conn.unwatch();
    if (loop.in_drain and loop.recordsLeft() > 0) return records.emitWritable(loop, conn);
    conn.writable_report = true;
    loop.pushPending(conn);
}

/// pauseRead/resumeRead: readability stops being watched, or is watched again.
pub fn setReadPaused(loop: *EventLoop, conn: *Connection, paused: bool) void {
    assert(conn.state == .open);
    // After the peer's FIN there is nothing left to read: readability stays unwatched
    // (an end of stream is readable forever in level-triggered mode).
    if (conn.read_ended) return;
    if (conn.read_paused == paused) return;
    if (conn.hangup_parked) return unparkHangup(loop, conn);
    if (!lifecycle.pollReadPaused(loop, conn, paused)) return lifecycle.reportFailed(loop, conn);
    // Bytes that arrived while paused: edge triggering reports them only on new data, and
    // plaintext a TLS session decrypted already is no socket readiness at all.
    if (!paused and (loop.trigger == .edge or conn.tls != null)) {
        conn.read_pending = true;
        loop.pushPending(conn);
    }
}

/// Both directions shut without an error while reading is paused: the peer's last bytes may
/// still wait in the kernel, unread. epoll reports this hangup whatever the interest (level
/// triggered: on every wait), so the socket leaves the poller until the host resumes reading;
/// then those bytes and the end of stream are read as usual. (Reporting the hangup as a close
/// here would lose them: a proxy half-closed both ways lost the tail of its answer so.)
pub fn parkHangup(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .open);
    assert(conn.read_paused and !conn.read_ended);
    // Nothing waits to be written (else writability is watched and would be lost with it).
    assert(conn.outbound.isEmpty());
    loop.unwatch(conn);
    conn.hangup_parked = true;
    conn.read_pending = false;
    conn.assertInvariants();
}

/// resumeRead on a parked socket: registered again, reading, and read at once (what waits is
/// readable already; edge triggering reports only new data).
fn unparkHangup(loop: *EventLoop, conn: *Connection) void {
    assert(conn.hangup_parked and conn.read_paused);
    loop.poller.addRead(conn.fd, conn.token(), loop.trigger) catch |err| {
        _ = conn.fail(socket.errnoOf(err), Poller.ctl_syscall);
        return lifecycle.reportFailed(loop, conn);
    };
    conn.hangup_parked = false;
    conn.read_paused = false;
    conn.write_armed = false;
    conn.read_pending = true;
    loop.pushPending(conn);
}

/// The peer's FIN: its readability is no longer watched and an end record tells the host,
/// which closes the connection or (half-open) keeps writing to it.
pub fn peerEnded(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .open);
    assert(!conn.read_ended);
    if (!lifecycle.pollReadPaused(loop, conn, true)) return lifecycle.reportFailed(loop, conn);
    conn.read_ended = true;
    conn.read_pending = false;
    records.emitEnd(loop, conn);
    conn.assertInvariants();
}

/// One read into the area (gnet: one read per event in LT, a chunk-bounded one in ET).
pub fn readable(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .open);
    assert(loop.in_drain);
    assert(loop.recordsLeft() > 0);
    if (conn.read_paused) return; // resumeRead watches it again
    const room = loop.readRoom() orelse {
        conn.read_pending = true;
        return loop.pushPending(conn);
    };
    const want = @min(room.len, loop.et_chunk);
    if (conn.tls != null) {
        if (tls_io.readable(loop, conn, room[0..want]) == .peer_ended) peerEnded(loop, conn);
        return;
    }
    const n = socket_io.read(conn.fd, room[0..want]) catch |err| switch (err) {
        error.WouldBlock => return,
        error.ConnectionReset,
        error.TimedOut,
        error.NotConnected,
        error.BadFileDescriptor,
        error.SystemResources,
        error.NoBufferSpace,
        error.Unexpected,
        => |e| {
            _ = conn.fail(socket.errnoOf(e), .read);
            return lifecycle.reportFailed(loop, conn);
        },
    };
    assert(n <= want);
    if (n == 0) return peerEnded(loop, conn);
    if (conn.inbound.isEmpty()) {
        records.emitData(loop, conn, loop.area_used, n, 0);
        loop.area_used += n;
    } else {
        // gnet: with bytes already buffered, new ones join them (Next then copies).
        conn.inbound.write(room[0..n]) catch |err| switch (err) {
            error.OutOfMemory => {
                _ = conn.fail(@intFromEnum(posix.E.NOMEM), .read);
                return lifecycle.reportFailed(loop, conn);
            },
        };
        records.emitData(loop, conn, 0, n, conn.inbound.buffered());
    }
    if (loop.trigger == .edge and n == want) {
        conn.read_pending = true;
        loop.pushPending(conn);
    }
}
