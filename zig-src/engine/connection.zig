//! One stream connection of an event loop: its socket, its inbound ring (bytes the handler
//! left unread) and its outbound buffer (bytes the socket did not take yet), gnet's
//! connection_unix.go. The host names it by (slot, generation); a stale name finds nothing.
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const core = @import("../core/root.zig");
const socket = @import("socket.zig");
const socket_io = @import("socket_io.zig");
const poller_mod = @import("poller.zig");
const Poller = poller_mod.Poller;
const Trigger = poller_mod.Trigger;
const Syscall = @import("syscall.zig").Syscall;
const tls_session = @import("tls_session.zig");

/// A connection's lifecycle, in one place. Every change goes through `Connection.become`,
/// which asserts that the step is one of these:
///
///   free ──register──▶ connecting ──connected──▶ opening ──open record──▶ open
///     └──accept/enroll──────────────────────────▲                          │
///   free (accepted), connecting (a dial) ──TLS──▶ handshaking ──done──▶ opening
///   handshaking ──failed, timed out──▶ free (accepted: never reported) or failed (a dial)
///   connecting/opening/open ──socket failed, peer left──▶ failed           │
///   failed ──close record──▶ reported ──host's close command──▶ free       │
///   open ──host's close command, bytes left──▶ draining ──written/deadline──▶ free
///   reported (the peer's end of stream, bytes left) ──host's close command──▶ draining
///   any ──host's close command (nothing left to write), engine freed──▶ free
///
/// (On the host's side "closing" means its onClose is running; no Zig state is called that.)
pub const State = enum(u8) {
    free,
    /// A dial in flight (dial.zig's register): watched for writability, nothing reported.
    connecting,
    /// Ready; its open record is due (it waits in the loop's pending list).
    opening,
    /// TLS: the socket is watched and its handshake under way (tls_io.zig); the host knows
    /// nothing of it until it is `opening`, and an accepted one that fails is freed unreported.
    handshaking,
    /// The host has it: reads are reported, its commands run.
    open,
    /// The peer left or the socket failed: unwatched, outbound dropped; its close record is
    /// due. A dial that never connected reports only this close (its errno, syscall connect).
    /// After the peer's end of stream (errno 0) the outbound bytes are kept and writability
    /// stays watched (`drainsAfterEof`): the peer may only have shut its write side.
    failed,
    /// The close record is out: waiting for the host's close command (its onClose ran) to
    /// close the fd.
    reported,
    /// Closed by the host with outbound bytes left: still writing them, bounded by
    /// `drain_deadline_ns`, then closed.
    draining,

    /// Whether `from -> to` is a step of the diagram above.
    pub fn canBecome(from: State, to: State) bool {
        return switch (to) {
            .free => from != .free,
            .connecting => from == .free,
            .handshaking => from == .free or from == .connecting,
            .opening => from == .free or from == .connecting or from == .handshaking,
            .open => from == .opening,
            .failed => from.live(),
            .reported => from == .failed,
            .draining => from == .open or from == .reported,
        };
    }

    /// Registered with the poller and counted by the load balancer.
    pub fn live(state: State) bool {
        return state == .connecting or state == .handshaking or state == .opening or state == .open;
    }
};

pub const Connection = struct {
    fd: socket.fd_t = -1,
    slot: u32,
    generation: u32 = 0,
    state: State = .free,
    network: socket.Network = .tcp,
    inbound: core.ElasticRingBuffer,
    outbound: core.ElasticBuffer,
    remote: socket.Peer = .{},
    /// EPOLLOUT (EVFILT_WRITE) is armed: outbound holds bytes (level-triggered mode), or a
    /// dial waits for writability. Poller interest, not lifecycle: see `assertInvariants`.
    write_armed: bool = false,
    /// In the loop's pending list (at most once).
    pending: bool = false,
    /// Readiness deferred to the next drain (edge-triggered mode, or no room in this one);
    /// only an `opening` or `open` connection has any.
    read_pending: bool = false,
    write_pending: bool = false,
    close_errno: i32 = 0,
    close_syscall: Syscall = .none,
    drain_deadline_ns: u64 = 0,
    /// Codec state: per codec, leading stream bytes known to hold no frame end. Made by the
    /// first codec scan (most connections never scan); none means every hint is 0.
    scan_hints: ?*core.codec.ScanHints = null,
    /// The host paused reading (pauseRead, or its inbound high-water mark).
    read_paused: bool = false,
    /// Bytes handed to the kernel so far, mod 2^32 (what asyncWrite waits for).
    sent_total: u32 = 0,
    /// A watch command: report once outbound holds at most `watch_low` bytes (-1: no mark)...
    watch_low: i64 = -1,
    /// ...or once `sent_total` reached `watch_sent` (when `watch_sent_set`).
    watch_sent: u32 = 0,
    watch_sent_set: bool = false,
    /// A writable record is due (the watch was satisfied).
    writable_report: bool = false,
    /// The peer's FIN arrived and was reported (an end record): reading it is over, its
    /// readability is no longer watched; it stays writable.
    read_ended: bool = false,
    /// The host's end command: the write side is shut once the outbound buffer is empty.
    end_pending: bool = false,
    /// shutdown(SHUT_WR) was done: FIN sent after every queued byte.
    write_shut: bool = false,
    /// Out of the poller while reading is paused: both directions were shut without an error
    /// (epoll reports that hangup whatever the interest), and the peer's last bytes may still
    /// wait in the kernel. Resuming registers the socket again and reads them.
    hangup_parked: bool = false,
    /// A TLS connection's session: the outbound buffer then holds ciphertext, reads are
    /// decrypted before the host sees them (tls_io.zig). Boxed: most connections have none,
    /// and a null pointer is all they pay.
    tls: ?*tls_session.Session = null,
    /// TLS: plaintext bytes encrypted so far, mod 2^32. `sent_total` counts plaintext too, and
    /// catches up with this only once the outbound buffer is empty: a watch on it is never
    /// satisfied before its bytes left (ciphertext is longer than the plaintext).
    tls_plain_total: u32 = 0,
    /// TLS: when an unfinished handshake is dropped; 0 once it is over (or there is none).
    handshake_deadline_ns: u64 = 0,
    /// Made by a dial (its failures are reported), not accepted.
    dialled: bool = false,
    /// TLS: the failure a close record reports (an OpenSSL error code, or a tls_io.Failure).
    tls_error: u32 = 0,

    pub fn init(allocator: std.mem.Allocator, slot: u32, write_buffer_cap: usize) Connection {
        assert(write_buffer_cap > 0);
        assert(slot < slots_max);
        const outbound = core.ElasticBuffer.init(allocator, write_buffer_cap) catch |err| switch (err) {
            // Its only error is a zero capacity, refused by Config.fromValues and asserted above.
            error.InvalidArgument => unreachable,
        };
        return .{ .slot = slot, .inbound = core.ElasticRingBuffer.init(allocator), .outbound = outbound };
    }

    pub fn deinit(conn: *Connection) void {
        assert(conn.state == .free);
        assert(conn.fd == -1);
        conn.inbound.deinit();
        conn.outbound.deinit();
    }

    /// The poller token: generation above, slot below, so a stale event names no live conn.
    pub fn token(conn: *const Connection) u64 {
        assert(conn.slot < slots_max);
        return (@as(u64, conn.generation) << 32) | conn.slot;
    }

    /// The one way the state changes; asserts the step is in the diagram of `State`.
    pub fn become(conn: *Connection, to: State) void {
        assert(conn.state.canBecome(to));
        conn.state = to;
        conn.assertInvariants();
    }

    /// What each state implies for the flags beside it.
    pub fn assertInvariants(conn: *const Connection) void {
        if (conn.state == .free) assert(conn.fd == -1) else assert(conn.fd >= 0);
        if (conn.read_pending or conn.write_pending) assert(conn.state == .opening or conn.state == .open);
        if (conn.state == .connecting) assert(conn.network != .udp);
        if (conn.state == .failed or conn.state == .reported) assert(conn.outbound.isEmpty() or conn.close_errno == 0);
        if (conn.writable_report) assert(conn.state == .open);
        if (conn.write_shut) assert(conn.end_pending);
        if (conn.read_ended) assert(conn.read_paused);
        if (conn.hangup_parked) assert(conn.read_paused and !conn.read_ended);
        if (conn.tls_plain_total != 0) assert(conn.tls != null);
    }

    /// Takes a freshly accepted, dialled or enrolled socket; `to` is `connecting` for a dial
    /// still in flight, `opening` otherwise.
    pub fn adopt(conn: *Connection, fd: socket.fd_t, network: socket.Network, remote: std.net.Address, to: State) void {
        assert(fd >= 0);
        assert(to == .connecting or to == .opening or to == .handshaking);
        assert(conn.inbound.isEmpty() and conn.outbound.isEmpty());
        conn.fd = fd;
        conn.network = network;
        conn.remote = socket.Peer.of(remote);
        conn.write_armed = false;
        conn.read_pending = false;
        conn.write_pending = false;
        conn.close_errno = 0;
        conn.close_syscall = .none;
        assert(conn.scan_hints == null);
        conn.read_paused = false;
        conn.sent_total = 0;
        conn.unwatch();
        conn.writable_report = false;
        conn.read_ended = false;
        conn.end_pending = false;
        conn.write_shut = false;
        conn.hangup_parked = false;
        assert(conn.tls == null);
        assert(conn.handshake_deadline_ns == 0);
        conn.dialled = to == .connecting;
        conn.tls_plain_total = 0;
        conn.tls_error = 0;
        conn.become(to);
    }

    pub fn unwatch(conn: *Connection) void {
        conn.watch_low = -1;
        conn.watch_sent_set = false;
    }

    pub fn watching(conn: *const Connection) bool {
        return conn.watch_low >= 0 or conn.watch_sent_set;
    }

    /// What the watch waited for happened: the buffer is at its mark, or the bytes left.
    pub fn watchSatisfied(conn: *const Connection) bool {
        assert(conn.watching());
        if (conn.watch_low >= 0 and conn.outbound.buffered() <= conn.watch_low) return true;
        // Modular: `sent_total` reached `watch_sent` when it is at most 2^31 ahead of it.
        return conn.watch_sent_set and conn.sent_total -% conn.watch_sent < (1 << 31);
    }

    /// Failed by the peer's end of stream with bytes still to send: it stays watched for
    /// writability so that the host's close drains them (bounded), as for a local close.
    pub fn drainsAfterEof(conn: *const Connection) bool {
        return (conn.state == .failed or conn.state == .reported) and conn.close_errno == 0 and !conn.outbound.isEmpty();
    }

    /// Returns the slot to the free state: buffers emptied (their memory freed), generation
    /// bumped so every name the host still holds goes stale. The fd is already closed.
    pub fn release(conn: *Connection, allocator: std.mem.Allocator) void {
        assert(conn.state != .free);
        assert(conn.handshake_deadline_ns == 0); // EventLoop.endHandshake ran
        if (conn.tls) |session| {
            session.destroy();
            allocator.destroy(session);
        }
        conn.tls = null;
        if (conn.scan_hints) |hints| allocator.destroy(hints);
        conn.scan_hints = null;
        conn.tls_plain_total = 0;
        conn.inbound.reset();
        conn.outbound.release();
        conn.fd = -1;
        conn.write_armed = false;
        conn.read_pending = false;
        conn.write_pending = false;
        conn.writable_report = false;
        conn.generation +%= 1;
        conn.become(.free);
        assert(conn.inbound.isEmpty() and conn.outbound.isEmpty());
    }

    /// `n` bytes left the inbound stream: every codec's hint moves back by them.
    pub fn consumeHints(conn: *Connection, n: usize) void {
        if (conn.scan_hints) |hints| hints.consume(n);
    }

    /// The codec state a scan reads and advances, made at the first scan.
    pub fn hintsForScan(conn: *Connection, allocator: std.mem.Allocator) error{OutOfMemory}!*core.codec.ScanHints {
        if (conn.scan_hints) |hints| return hints;
        const hints = try allocator.create(core.codec.ScanHints);
        hints.* = .{};
        conn.scan_hints = hints;
        return hints;
    }

    /// Gives the connection its TLS session, boxed; on OutOfMemory the session is destroyed.
    pub fn attachTls(conn: *Connection, allocator: std.mem.Allocator, session: tls_session.Session) error{OutOfMemory}!void {
        assert(conn.tls == null);
        const box = allocator.create(tls_session.Session) catch {
            var unwanted = session;
            unwanted.destroy();
            return error.OutOfMemory;
        };
        box.* = session;
        conn.tls = box;
        assert(conn.tls != null);
    }

    pub const SendResult = enum { sent, buffered, failed };

    /// Writes `parts` in order after whatever is already queued (gnet's c.write / c.writev):
    /// behind a non-empty outbound buffer they are appended; otherwise one writev, and what
    /// the socket does not take is buffered with writability armed.
    pub fn send(conn: *Connection, poller: *Poller, trigger: Trigger, parts: []const []const u8) SendResult {
        assert(conn.state == .open);
        assert(parts.len <= socket_io.iov_count_max);
        if (conn.network == .udp) {
            // Datagram boundaries are the writes: one send each, never merged or buffered.
            for (parts) |part| {
                _ = conn.sendDatagram(part) catch |err| switch (err) {
                    // gnet's UDP Write keeps the connection whatever one datagram meets: a
                    // refused datagram (full buffer, too big, ICMP refusal, no route) is dropped.
                    error.WouldBlock,
                    error.NoBufferSpace,
                    error.MessageTooBig,
                    error.ConnectionRefused,
                    error.HostUnreachable,
                    error.NetworkUnreachable,
                    error.NetworkDown,
                    error.AccessDenied,
                    => 0,
                    // Anything else is the socket itself failing: the connection goes.
                    error.BrokenPipe,
                    error.ConnectionReset,
                    error.NotConnected,
                    error.TimedOut,
                    error.SystemResources,
                    error.NotSocket,
                    error.BadFileDescriptor,
                    error.Unexpected,
                    => |e| return conn.fail(socket.errnoOf(e), .write),
                };
            }
            return .sent;
        }
        if (conn.tls != null) return conn.sendTls(poller, trigger, parts);
        return conn.sendStream(poller, trigger, parts);
    }

    /// Bytes (plaintext, or a TLS connection's ciphertext) after whatever is queued.
    fn sendStream(conn: *Connection, poller: *Poller, trigger: Trigger, parts: []const []const u8) SendResult {
        assert(conn.state == .open or conn.state == .handshaking or conn.state == .opening);
        assert(parts.len <= socket_io.iov_count_max);
        if (!conn.outbound.isEmpty()) {
            conn.outbound.writev(parts) catch |err| switch (err) {
                error.OutOfMemory => return conn.fail(@intFromEnum(posix.E.NOMEM), .write),
            };
            return .buffered;
        }
        var iov: [socket_io.iov_count_max]posix.iovec_const = undefined;
        var total: usize = 0;
        for (parts, 0..) |part, i| {
            iov[i] = .{ .base = part.ptr, .len = part.len };
            total += part.len;
        }
        if (total == 0) return .sent;
        const written = conn.writeSome(iov[0..parts.len], if (parts.len > 1) .writev else .write) orelse return .failed;
        assert(written <= total);
        if (written == total) {
            conn.countSent(written);
            return .sent;
        }
        // Buffer the rest: skip the parts written whole, then the written prefix of one part.
        var skip = written;
        var first: usize = 0;
        while (skip >= parts[first].len) : (first += 1) skip -= parts[first].len;
        assert(first < parts.len and skip < parts[first].len);
        var rest: [socket_io.iov_count_max][]const u8 = undefined;
        for (parts[first..], 0..) |part, i| rest[i] = part;
        rest[0] = rest[0][skip..];
        conn.outbound.writev(rest[0 .. parts.len - first]) catch |err| switch (err) {
            error.OutOfMemory => return conn.fail(@intFromEnum(posix.E.NOMEM), .write),
        };
        assert(conn.outbound.buffered() == total - written);
        conn.countSent(written);
        return if (conn.armWrite(poller, trigger)) .buffered else .failed;
    }

    /// TLS: each part encrypted (in records of at most `tls_slice_bytes`, so that the write
    /// BIO never holds more than one), the ciphertext sent or queued as plain bytes are.
    fn sendTls(conn: *Connection, poller: *Poller, trigger: Trigger, parts: []const []const u8) SendResult {
        assert(conn.state == .open);
        const session = conn.tls.?;
        for (parts) |part| {
            var at: usize = 0;
            // Bounded: every round encrypts up to one slice of the part.
            while (at < part.len) {
                const slice = part[at..@min(part.len, at + tls_slice_bytes)];
                session.encrypt(slice) catch |err| return conn.tlsFailed(err);
                at += slice.len;
                conn.tls_plain_total +%= @truncate(slice.len);
                if (!conn.pumpCipher(poller, trigger)) return .failed;
            }
        }
        return if (conn.outbound.isEmpty()) .sent else .buffered;
    }

    /// Moves the session's ciphertext (records, alerts, close_notify) to the socket, or behind
    /// what the outbound buffer holds. False when the connection failed.
    pub fn pumpCipher(conn: *Connection, poller: *Poller, trigger: Trigger) bool {
        assert(conn.tls != null);
        var chunk: [tls_chunk_bytes]u8 = undefined;
        // Bounded: the write BIO holds what the last call encrypted; each round takes a chunk.
        while (true) {
            const n = conn.tls.?.takeCipher(&chunk);
            if (n == 0) return true;
            if (conn.sendStream(poller, trigger, &.{chunk[0..n]}) == .failed) return false;
            if (n < chunk.len) return true; // the BIO is empty: no need to ask it again
        }
    }

    /// The session failed (a bad record, an alert, out of memory): the connection goes, with
    /// the failure for the host (its close record names `tls`).
    pub fn tlsFailed(conn: *Connection, err: tls_session.Error) SendResult {
        assert(conn.tls != null);
        const errno: posix.E = switch (err) {
            error.OutOfMemory => .NOMEM,
            error.TlsFailed => .PROTO,
        };
        if (conn.tls_error == 0) conn.tls_error = conn.tls.?.error_code;
        return conn.fail(@intFromEnum(errno), .tls);
    }

    /// Bytes handed to the kernel: plaintext bytes on a plain connection; on a TLS one, the
    /// plaintext encrypted so far once every ciphertext byte left (see `tls_plain_total`).
    fn countSent(conn: *Connection, written: usize) void {
        if (conn.tls == null) {
            conn.sent_total +%= @truncate(written);
        } else if (conn.outbound.isEmpty()) {
            conn.sent_total = conn.tls_plain_total;
        }
    }

    /// A connected UDP socket's write (gnet: `send()` at once, no outbound buffer). A datagram
    /// the socket refuses (EAGAIN, ENOBUFS, EMSGSIZE, ECONNREFUSED) is dropped and the error
    /// returned; the connection stays open, as gnet's UDP `Write` leaves it.
    pub fn sendDatagram(conn: *Connection, data: []const u8) socket_io.WriteError!usize {
        assert(conn.network == .udp);
        assert(conn.state == .open);
        const iov = [1]posix.iovec_const{.{ .base = data.ptr, .len = data.len }};
        return socket_io.writev(conn.fd, &iov);
    }

    /// One writev of a stream: the bytes the socket took, 0 when it takes none now; null when
    /// the socket failed (the connection is then failed, with the errno and `syscall`).
    fn writeSome(conn: *Connection, iov: []const posix.iovec_const, syscall: Syscall) ?usize {
        assert(conn.network != .udp);
        assert(iov.len > 0);
        return socket_io.writev(conn.fd, iov) catch |err| switch (err) {
            error.WouldBlock => 0,
            error.BrokenPipe,
            error.ConnectionReset,
            error.NotConnected,
            error.TimedOut,
            error.MessageTooBig,
            error.NoBufferSpace,
            error.SystemResources,
            error.AccessDenied,
            error.ConnectionRefused,
            error.HostUnreachable,
            error.NetworkUnreachable,
            error.NetworkDown,
            error.NotSocket,
            error.BadFileDescriptor,
            error.Unexpected,
            => |e| {
                _ = conn.fail(socket.errnoOf(e), syscall);
                return null;
            },
        };
    }

    /// One writev pass over the outbound buffer (EPOLLOUT, `flush()`, closing). Returns false
    /// when the socket or the poller failed (the connection is then `failed`, or still
    /// `draining` for the caller to close). `budget` bounds the bytes in edge-triggered mode (gnet's
    /// edgeTriggeredIOChunk); more remains when it is hit.
    pub fn flushOutbound(conn: *Connection, poller: *Poller, trigger: Trigger, budget: usize) bool {
        assert(conn.state == .open or conn.state == .opening or conn.state == .draining or conn.state == .handshaking);
        assert(budget > 0);
        var sent: usize = 0;
        // Bounded: every round either empties the buffer, hits EAGAIN/the budget, or fails.
        while (!conn.outbound.isEmpty() and sent < budget) {
            var parts: [socket_io.iov_count_max][]const u8 = undefined;
            const count = conn.outbound.peek(budget - sent, &parts);
            assert(count > 0);
            var iov: [socket_io.iov_count_max]posix.iovec_const = undefined;
            for (parts[0..count], 0..) |part, i| iov[i] = .{ .base = part.ptr, .len = part.len };
            const written = conn.writeSome(iov[0..count], .writev) orelse return false;
            if (written == 0) break; // the socket takes no more now
            assert(conn.outbound.discard(written) == written);
            conn.countSent(written);
            sent += written;
            if (trigger == .level) break; // level triggering reports writability again
        }
        if (!conn.outbound.isEmpty()) return conn.armWrite(poller, trigger);
        conn.shutWriteIfEnded();
        return conn.disarmWrite(poller, trigger);
    }

    /// The host's end(): FIN now if nothing is queued, else once the queue is written
    /// (`flushOutbound`). Writability stays armed while bytes remain.
    pub fn requestEnd(conn: *Connection, poller: *Poller, trigger: Trigger) SendResult {
        assert(conn.state == .open);
        assert(conn.network != .udp);
        // TLS: close_notify goes first, after every record queued; FIN follows it.
        if (conn.tls != null and !conn.end_pending and !conn.sendCloseNotify(poller, trigger)) return .failed;
        conn.end_pending = true;
        if (conn.outbound.isEmpty()) conn.shutWriteIfEnded();
        return if (conn.outbound.isEmpty()) .sent else .buffered;
    }

    /// TLS: queues close_notify and sends what it can of it. False when the connection failed.
    pub fn sendCloseNotify(conn: *Connection, poller: *Poller, trigger: Trigger) bool {
        assert(conn.tls != null);
        assert(conn.state == .open);
        conn.tls.?.shutdown();
        return conn.pumpCipher(poller, trigger);
    }

    /// Sends FIN once the host ended the stream and every queued byte left. A refusal
    /// (NotConnected: the peer reset first) changes nothing here: the reset is the socket's
    /// next event, reported as usual.
    fn shutWriteIfEnded(conn: *Connection) void {
        if (!conn.end_pending or conn.write_shut) return;
        assert(conn.outbound.isEmpty());
        conn.write_shut = true;
        socket_io.shutdownWrite(conn.fd) catch |err| switch (err) {
            error.NotConnected, error.Unexpected => {},
        };
    }

    /// Watches writability (level-triggered mode; edge-triggered sockets always watch it).
    /// A poller that refuses fails the connection (false): without the event its bytes would
    /// stall.
    pub fn armWrite(conn: *Connection, poller: *Poller, trigger: Trigger) bool {
        assert(conn.state != .free and conn.fd >= 0);
        if (conn.write_armed or trigger == .edge) return true;
        poller.modReadWrite(conn.fd, conn.token(), trigger, conn.read_paused) catch |err| {
            _ = conn.fail(socket.errnoOf(err), Poller.ctl_syscall);
            return false;
        };
        conn.write_armed = true;
        return true;
    }

    /// Stops watching writability. A poller that refuses fails the connection too: its fd
    /// is no longer what we registered (the host closed it behind our back) or the kernel is
    /// out of memory; either way the socket cannot be served.
    fn disarmWrite(conn: *Connection, poller: *Poller, trigger: Trigger) bool {
        assert(conn.state != .free and conn.fd >= 0);
        if (!conn.write_armed) return true;
        poller.modRead(conn.fd, conn.token(), trigger, conn.read_paused) catch |err| {
            _ = conn.fail(socket.errnoOf(err), Poller.ctl_syscall);
            return false;
        };
        conn.write_armed = false;
        return true;
    }

    /// The socket failed (or the peer left): from now on it is `failed`; the caller
    /// unregisters it and reports the close. A failed socket's outbound bytes are dropped, as
    /// gnet does; after the peer's end of stream (errno 0) they are kept (`drainsAfterEof`).
    /// A draining connection stays `draining` (its caller closes it: nobody awaits a record).
    pub fn fail(conn: *Connection, errno: i32, syscall: Syscall) SendResult {
        assert(errno >= 0);
        assert(conn.state != .free);
        const eof = errno == 0 and syscall == .read and conn.state == .open;
        if (!eof) conn.outbound.reset(conn.outbound.max_static_bytes);
        if (conn.state.live()) {
            conn.close_errno = errno;
            conn.close_syscall = syscall;
            conn.read_pending = false;
            conn.write_pending = false;
            conn.writable_report = false;
            conn.unwatch();
            conn.become(.failed);
        }
        return .failed;
    }
};

/// Plaintext per TLS record written (TLS's own record limit, 16 KiB).
const tls_slice_bytes = 16 * 1024;
/// Ciphertext moved from the session per round: a full record with its overhead.
const tls_chunk_bytes = tls_slice_bytes + 512;

/// Slots stay below the listener token flag (token.zig).
pub const slots_max = @import("token.zig").slots_max;

// ---- tests ---------------------------------------------------------------------------------

const testing = std.testing;

test "State: the diagram's steps are allowed, others are not" {
    const allowed = [_][2]State{
        .{ .free, .connecting },     .{ .free, .opening },       .{ .connecting, .opening },
        .{ .opening, .open },        .{ .connecting, .failed },  .{ .opening, .failed },
        .{ .open, .failed },         .{ .failed, .reported },    .{ .open, .draining },
        .{ .reported, .draining },   .{ .reported, .free },      .{ .draining, .free },
        .{ .open, .free },           .{ .failed, .free },        .{ .connecting, .free },
        .{ .opening, .free },        .{ .free, .handshaking },   .{ .connecting, .handshaking },
        .{ .handshaking, .opening }, .{ .handshaking, .failed }, .{ .handshaking, .free },
    };
    const states = std.enums.values(State);
    var allowed_count: usize = 0;
    for (states) |from| for (states) |to| {
        var listed = false;
        for (allowed) |step| listed = listed or (step[0] == from and step[1] == to);
        try testing.expectEqual(listed, from.canBecome(to));
        allowed_count += @intFromBool(listed);
    };
    try testing.expectEqual(allowed.len, allowed_count);
}

fn testPair() ![2]socket.fd_t {
    var pair: [2]socket.fd_t = undefined;
    try testing.expectEqual(@as(c_int, 0), std.c.socketpair(posix.AF.UNIX, posix.SOCK.STREAM, 0, &pair));
    try socket.setNonBlocking(pair[0]);
    return pair;
}

test "Connection: send buffers what the socket refuses, flush drains it, fail drops it" {
    var step: Syscall = .none;
    var poller = try Poller.open(&step);
    defer poller.close();
    const pair = try testPair();
    var conn = Connection.init(testing.allocator, 3, 4096);
    conn.adopt(pair[0], .unix, undefined, .opening);
    try poller.addRead(pair[0], conn.token(), .level);
    conn.become(.open);
    // Far more than a socketpair's buffer: the rest is buffered and writability armed.
    const big = try testing.allocator.alloc(u8, 4 << 20);
    defer testing.allocator.free(big);
    @memset(big, 'x');
    try testing.expectEqual(Connection.SendResult.buffered, conn.send(&poller, .level, &.{ "head", big }));
    try testing.expect(conn.write_armed and !conn.outbound.isEmpty());
    // Behind buffered bytes a send is appended, in order.
    const before = conn.outbound.buffered();
    try testing.expectEqual(Connection.SendResult.buffered, conn.send(&poller, .level, &.{"tail"}));
    try testing.expectEqual(before + 4, conn.outbound.buffered());
    // The peer leaves: the next flush fails, the bytes are dropped, the state says so.
    posix.close(pair[1]);
    try testing.expect(!conn.flushOutbound(&poller, .level, std.math.maxInt(usize)));
    try testing.expectEqual(State.failed, conn.state);
    try testing.expect(conn.outbound.isEmpty());
    try testing.expectEqual(Syscall.writev, conn.close_syscall);
    const errno: posix.E = @enumFromInt(conn.close_errno);
    try testing.expect(errno == .PIPE or errno == .CONNRESET);
    // A failed connection takes no second failure: the first errno is the one reported.
    _ = conn.fail(@intFromEnum(posix.E.IO), .read);
    try testing.expectEqual(Syscall.writev, conn.close_syscall);
    try poller.delete(conn.fd);
    posix.close(conn.fd);
    conn.release(testing.allocator);
    try testing.expectEqual(State.free, conn.state);
    try testing.expectEqual(@as(u32, 1), conn.generation);
    conn.deinit();
}

test "Connection: an idle one holds its name, its state and null pointers: nothing more" {
    // Every held connection costs this much in Zig (a 10,000-connection server holds 10,000);
    // buffers, codec state and TLS come only with use. Was 488 bytes with them inline.
    try testing.expect(@sizeOf(Connection) <= 192);
}
