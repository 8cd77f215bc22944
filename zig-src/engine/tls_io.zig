//! TLS on a loop: the handshake of an accepted or dialled connection (before the host hears
//! of it), the decryption of what an open one reads, and the handshakes that time out.
//! Ciphertext never leaves Zig: the host sees an open record once the handshake is done and
//! plaintext data records after it. An accepted connection whose handshake fails (a plain-text
//! client, a malformed ClientHello, a refused certificate, a stall past the timeout) is closed
//! unreported and counted (`Failures`, which the host logs); a dial's failure is its close
//! record, syscall `tls`, with the OpenSSL error for the host's ERR_TLS_HANDSHAKE.
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const socket_io = @import("socket_io.zig");
const records = @import("records.zig");
const lifecycle = @import("lifecycle.zig");
const poller_mod = @import("poller.zig");
const connection = @import("connection.zig");
const Connection = connection.Connection;
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;
const tls_context = @import("tls_context.zig");
const tls_session = @import("tls_session.zig");
const Session = tls_session.Session;

/// Why a handshake failed when OpenSSL has no error to say it (its codes are all at least
/// 2^23, openssl.err_lib_shift): these small values cannot be mistaken for one.
pub const Failure = enum(u32) {
    none = 0,
    /// The peer closed (or reset) the connection before the handshake finished.
    peer_closed = 1,
    /// No handshake within the server's handshakeTimeoutMs (or a dial's bound).
    timeout = 2,
    out_of_memory = 3,
};

/// Ciphertext read per step of a handshake: a flight of handshake messages fits.
const handshake_read_bytes = 16 * 1024;
/// Reads per handshake event: enough for any certificate chain a peer sends, and a bound on
/// the time one peer holds the loop.
const handshake_reads_max = 8;

/// An accepted connection of a TLS server: its session, and its handshake's deadline.
pub fn startAccepted(loop: *EventLoop, conn: *Connection, context: *const tls_context.Context) void {
    assert(conn.state == .handshaking and conn.tls == null);
    assert(context.flags.server);
    attachSession(loop, conn, context) catch |err| switch (err) {
        // A server session names no peer: only memory can fail it.
        error.OutOfMemory, error.TlsFailed => {
            loop.tls_failures.count +|= 1;
            loop.tls_failures.last = @intFromEnum(Failure.out_of_memory);
            return loop.finalize(conn);
        },
    };
    startTimer(loop, conn);
}

fn attachSession(loop: *EventLoop, conn: *Connection, context: *const tls_context.Context) tls_session.Error!void {
    try conn.attachTls(loop.allocator, try Session.create(context, ""));
}

/// A dial that connected, its session made at register (dial.zig): the ClientHello goes now.
pub fn startDialled(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .handshaking and conn.tls != null);
    assert(conn.dialled);
    startTimer(loop, conn);
    step(loop, conn);
}

fn startTimer(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .handshaking);
    assert(conn.handshake_deadline_ns == 0);
    const timeout_ns = @as(u64, @max(loop.config.tls_handshake_timeout_ms, 1)) * std.time.ns_per_ms;
    conn.handshake_deadline_ns = lifecycle.monotonicNs() + timeout_ns;
    loop.handshaking_count += 1;
}

/// Readiness of a connection in its handshake: ciphertext in, the next flight out.
pub fn handshakeEvent(loop: *EventLoop, conn: *Connection, event: poller_mod.Event) void {
    assert(conn.state == .handshaking and conn.tls != null);
    if (event.writable and !conn.outbound.isEmpty()) {
        const flushed = conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize));
        if (!flushed) return failed(loop, conn, @intFromEnum(Failure.peer_closed));
    }
    if (!(event.readable or event.read_hangup or event.hangup)) return;
    var scratch: [handshake_read_bytes]u8 = undefined;
    for (0..handshake_reads_max) |_| {
        const n = socket_io.read(conn.fd, &scratch) catch |err| switch (err) {
            error.WouldBlock => break,
            else => return failed(loop, conn, @intFromEnum(Failure.peer_closed)),
        };
        if (n == 0) return failed(loop, conn, @intFromEnum(Failure.peer_closed));
        conn.tls.?.feed(scratch[0..n]) catch return failed(loop, conn, @intFromEnum(Failure.out_of_memory));
        step(loop, conn);
        if (conn.state != .handshaking) return;
    } else {
        // More may wait: edge triggering reports only new bytes.
        if (loop.trigger == .edge) conn.read_pending = true;
    }
}

/// One handshake step over what was fed; its output sent; done: announced.
fn step(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .handshaking);
    const session = conn.tls.?;
    const progress = session.handshake() catch |err| {
        // The alert OpenSSL queued is sent if the socket takes it (a plain-text client then
        // reads a TLS alert, not silence), then the connection goes.
        _ = conn.pumpCipher(&loop.poller, loop.trigger);
        const code = session.error_code;
        return failed(loop, conn, switch (err) {
            error.OutOfMemory => @intFromEnum(Failure.out_of_memory),
            error.TlsFailed => if (code != 0) code else @intFromEnum(Failure.peer_closed),
        });
    };
    if (!conn.pumpCipher(&loop.poller, loop.trigger)) return failed(loop, conn, @intFromEnum(Failure.peer_closed));
    if (progress == .more) return;
    loop.endHandshake(conn);
    conn.become(.opening);
    lifecycle.announce(loop, conn);
    // Application data that came with the handshake's last flight is read after the open.
    if (session.readable()) {
        conn.read_pending = true;
        loop.pushPending(conn);
    }
}

/// A handshake that failed: an accepted connection is closed and counted, unreported; a
/// dial's close record tells its host why.
fn failed(loop: *EventLoop, conn: *Connection, reason: u32) void {
    assert(conn.tls != null);
    assert(reason != 0);
    loop.endHandshake(conn);
    if (!conn.dialled) return dropAccepted(loop, conn, reason);
    conn.tls_error = reason;
    _ = conn.fail(@intFromEnum(posix.E.PROTO), .tls);
    lifecycle.reportFailed(loop, conn);
}

fn dropAccepted(loop: *EventLoop, conn: *Connection, reason: u32) void {
    assert(!conn.dialled);
    assert(reason != 0);
    loop.tls_failures.count +|= 1;
    loop.tls_failures.last = reason;
    // Failed by a write of its handshake: already out of the balancer's count.
    if (conn.state == .failed) return lifecycle.failedClosing(loop, conn);
    loop.finalize(conn);
}

/// What `readable` leaves its caller (conn_io.zig) to do.
pub const ReadEnd = enum { done, peer_ended };

/// An open TLS connection is readable: ciphertext from the socket, plaintext into the area.
/// `peer_ended`: the peer's close_notify or FIN came, after the last data record.
pub fn readable(loop: *EventLoop, conn: *Connection, room: []u8) ReadEnd {
    assert(conn.state == .open and conn.tls != null);
    assert(room.len > 0);
    const session = conn.tls.?;
    // What the session holds already (the room was filled last time), then the socket's.
    var plain: Session.Decrypted = .{ .bytes = 0, .closed = false };
    if (session.readable()) plain = session.decrypt(room) catch |err| return readFailed(loop, conn, err);
    var read_bytes: usize = 0;
    if (plain.bytes == 0 and !plain.closed) {
        read_bytes = socket_io.read(conn.fd, room) catch |err| switch (err) {
            error.WouldBlock => return .done,
            else => {
                _ = conn.fail(socket.errnoOf(err), .read);
                lifecycle.reportFailed(loop, conn);
                return .done;
            },
        };
        // The peer's FIN without close_notify ends the stream all the same (as node:tls does).
        if (read_bytes == 0) return .peer_ended;
        session.feed(room[0..read_bytes]) catch |err| return readFailed(loop, conn, err);
        plain = session.decrypt(room) catch |err| return readFailed(loop, conn, err);
        // Records the session answers with (a key update) go out now.
        if (!conn.pumpCipher(&loop.poller, loop.trigger)) {
            lifecycle.reportFailed(loop, conn);
            return .done;
        }
    }
    if (plain.bytes > 0) deliver(loop, conn, room[0..plain.bytes]);
    if (conn.state != .open) return .done;
    if (plain.closed and loop.recordsLeft() > 0) return .peer_ended;
    // The room was filled (the session may hold more), the end waits for a record, or (edge
    // triggered) the kernel may hold more: the next drain goes on.
    const more = plain.closed or plain.bytes == room.len or (loop.trigger == .edge and read_bytes == room.len);
    if (more) {
        conn.read_pending = true;
        loop.pushPending(conn);
    }
    return .done;
}

fn readFailed(loop: *EventLoop, conn: *Connection, err: tls_session.Error) ReadEnd {
    assert(conn.state == .open);
    _ = conn.tlsFailed(err);
    lifecycle.reportFailed(loop, conn);
    return .done;
}

/// Plaintext as a data record: a view of the area, or appended to the inbound ring.
fn deliver(loop: *EventLoop, conn: *Connection, plain: []u8) void {
    assert(plain.len > 0);
    assert(conn.state == .open);
    if (conn.inbound.isEmpty()) {
        records.emitData(loop, conn, loop.area_used, plain.len, 0);
        loop.area_used += plain.len;
        return;
    }
    conn.inbound.write(plain) catch |err| switch (err) {
        error.OutOfMemory => {
            _ = conn.fail(@intFromEnum(posix.E.NOMEM), .read);
            return lifecycle.reportFailed(loop, conn);
        },
    };
    records.emitData(loop, conn, 0, plain.len, conn.inbound.buffered());
}

/// Handshakes past their deadline fail (counted as timeouts); runs with the loop's reap.
pub fn reapHandshakes(loop: *EventLoop, now_ns: u64) void {
    if (loop.handshaking_count == 0) return;
    for (loop.conns.items) |conn| {
        if (conn.state == .handshaking and conn.handshake_deadline_ns <= now_ns) failed(loop, conn, @intFromEnum(Failure.timeout));
    }
    assert(loop.handshaking_count <= loop.conns.items.len);
}
