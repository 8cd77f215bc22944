//! One stream connection of an event loop: its socket, its inbound ring (bytes the handler
//! left unread) and its outbound buffer (bytes the socket did not take yet), gnet's
//! connection_unix.go. The host names it by (slot, generation); a stale name finds nothing.
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const core = @import("../core/root.zig");
const socket = @import("socket.zig");
const poller_mod = @import("poller.zig");
const Poller = poller_mod.Poller;
const Trigger = poller_mod.Trigger;
const Syscall = @import("layout.zig").Syscall;

pub const State = enum(u8) {
    free,
    /// Registered with the poller; the host has it (or will, once its open record is out).
    open,
    /// The peer is gone or the socket failed: unregistered, close record due or out; waiting
    /// for the host's close command (its onClose ran) to close the fd.
    closing,
    /// Closed by the host with outbound bytes left: still writing them, bounded by
    /// `drain_deadline_ns`, then closed.
    draining,
};

pub const Connection = struct {
    fd: socket.fd_t = -1,
    slot: u32,
    generation: u32 = 0,
    state: State = .free,
    network: socket.Network = .tcp,
    inbound: core.ElasticRingBuffer,
    outbound: core.ElasticBuffer,
    remote: std.net.Address = undefined,
    /// EPOLLOUT (EVFILT_WRITE) is armed: outbound holds bytes (level-triggered mode).
    write_armed: bool = false,
    /// In the loop's pending list; what is pending is in the flags below.
    pending: bool = false,
    open_reported: bool = false,
    /// A dial in progress (EventLoop.register): its open record waits for writability.
    connecting: bool = false,
    close_pending: bool = false,
    read_pending: bool = false,
    write_pending: bool = false,
    close_errno: i32 = 0,
    close_syscall: Syscall = .none,
    drain_deadline_ns: u64 = 0,
    /// Codec state: per codec, leading stream bytes known to hold no frame end.
    scan_hints: core.codec.ScanHints = .{},

    pub fn init(allocator: std.mem.Allocator, slot: u32, write_buffer_cap: usize) Connection {
        assert(write_buffer_cap > 0);
        return .{
            .slot = slot,
            .inbound = core.ElasticRingBuffer.init(allocator),
            .outbound = core.ElasticBuffer.init(allocator, write_buffer_cap) catch unreachable,
        };
    }

    pub fn deinit(conn: *Connection) void {
        assert(conn.state == .free);
        conn.inbound.deinit();
        conn.outbound.deinit();
    }

    pub fn token(conn: *const Connection) u64 {
        return (@as(u64, conn.generation) << 32) | conn.slot;
    }

    /// Takes a freshly accepted (or connected) socket.
    pub fn adopt(conn: *Connection, fd: socket.fd_t, network: socket.Network, remote: std.net.Address) void {
        assert(conn.state == .free);
        assert(conn.inbound.isEmpty() and conn.outbound.isEmpty());
        conn.fd = fd;
        conn.network = network;
        conn.remote = remote;
        conn.state = .open;
        conn.write_armed = false;
        conn.open_reported = false;
        conn.connecting = false;
        conn.close_pending = false;
        conn.read_pending = false;
        conn.write_pending = false;
        conn.close_errno = 0;
        conn.close_syscall = .none;
        conn.scan_hints = .{};
    }

    /// Returns the slot to the free state: buffers emptied (their memory freed), generation
    /// bumped so every name the host still holds goes stale. The fd is already closed.
    pub fn release(conn: *Connection) void {
        assert(conn.state != .free);
        conn.inbound.reset();
        conn.outbound.release();
        conn.state = .free;
        conn.fd = -1;
        conn.generation +%= 1;
        assert(conn.inbound.isEmpty() and conn.outbound.isEmpty());
    }

    pub const SendResult = enum { sent, buffered, failed };

    /// Writes `parts` in order after whatever is already queued (gnet's c.write / c.writev):
    /// behind a non-empty outbound buffer they are appended; otherwise one writev, and what
    /// the socket does not take is buffered with writability armed.
    pub fn send(conn: *Connection, poller: *Poller, trigger: Trigger, parts: []const []const u8) SendResult {
        assert(conn.state == .open);
        assert(parts.len <= socket.iov_count_max);
        if (conn.network == .udp) {
            // Datagram boundaries are the writes: one send each, never merged or buffered.
            for (parts) |part| _ = conn.sendDatagram(part) catch {};
            return .sent;
        }
        if (!conn.outbound.isEmpty()) {
            conn.outbound.writev(parts) catch return conn.fail(@intFromEnum(posix.E.NOMEM), .write);
            return .buffered;
        }
        var iov: [socket.iov_count_max]posix.iovec_const = undefined;
        var total: usize = 0;
        for (parts, 0..) |part, i| {
            iov[i] = .{ .base = part.ptr, .len = part.len };
            total += part.len;
        }
        if (total == 0) return .sent;
        const written = socket.writev(conn.fd, iov[0..parts.len]) catch |err| switch (err) {
            error.WouldBlock => 0,
            else => return conn.fail(socket.errnoOf(err), if (parts.len > 1) .writev else .write),
        };
        if (written == total) return .sent;
        // Buffer the rest: skip the parts written whole, then the written prefix of one part.
        var skip = written;
        var first: usize = 0;
        while (skip >= parts[first].len) : (first += 1) skip -= parts[first].len;
        var rest: [socket.iov_count_max][]const u8 = undefined;
        for (parts[first..], 0..) |part, i| rest[i] = part;
        rest[0] = rest[0][skip..];
        conn.outbound.writev(rest[0 .. parts.len - first]) catch return conn.fail(@intFromEnum(posix.E.NOMEM), .write);
        conn.armWrite(poller, trigger);
        return .buffered;
    }

    /// A connected UDP socket's write (gnet: `send()` at once, no outbound buffer). A datagram
    /// the socket refuses (EAGAIN, ENOBUFS, EMSGSIZE, ECONNREFUSED) is dropped and the error
    /// returned; the connection stays open, as gnet's UDP `Write` leaves it.
    pub fn sendDatagram(conn: *Connection, data: []const u8) socket.Error!usize {
        assert(conn.network == .udp);
        assert(conn.state == .open);
        const iov = [1]posix.iovec_const{.{ .base = data.ptr, .len = data.len }};
        return socket.writev(conn.fd, &iov);
    }

    /// One writev pass over the outbound buffer (EPOLLOUT, `flush()`, closing). Returns false
    /// when the socket failed (the connection is then `closing`). `budget` bounds the bytes
    /// in edge-triggered mode (gnet's edgeTriggeredIOChunk); more remains when it is hit.
    pub fn flushOutbound(conn: *Connection, poller: *Poller, trigger: Trigger, budget: usize) bool {
        assert(conn.state == .open or conn.state == .draining);
        var sent: usize = 0;
        // Bounded: every round either empties the buffer, hits EAGAIN/the budget, or fails.
        while (!conn.outbound.isEmpty() and sent < budget) {
            var parts: [socket.iov_count_max][]const u8 = undefined;
            const count = conn.outbound.peek(budget - sent, &parts);
            assert(count > 0);
            var iov: [socket.iov_count_max]posix.iovec_const = undefined;
            for (parts[0..count], 0..) |part, i| iov[i] = .{ .base = part.ptr, .len = part.len };
            const written = socket.writev(conn.fd, iov[0..count]) catch |err| switch (err) {
                error.WouldBlock => break,
                else => {
                    _ = conn.fail(socket.errnoOf(err), .writev);
                    return false;
                },
            };
            assert(conn.outbound.discard(written) == written);
            sent += written;
            if (trigger == .level) break; // level triggering reports writability again
        }
        if (conn.outbound.isEmpty()) {
            conn.disarmWrite(poller, trigger);
        } else {
            conn.armWrite(poller, trigger);
        }
        return true;
    }

    pub fn armWrite(conn: *Connection, poller: *Poller, trigger: Trigger) void {
        if (conn.write_armed or trigger == .edge) return;
        poller.modReadWrite(conn.fd, conn.token(), trigger) catch {
            _ = conn.fail(@intFromEnum(posix.E.NOMEM), .write);
            return;
        };
        conn.write_armed = true;
    }

    fn disarmWrite(conn: *Connection, poller: *Poller, trigger: Trigger) void {
        if (!conn.write_armed) return;
        poller.modRead(conn.fd, conn.token(), trigger) catch {};
        conn.write_armed = false;
    }

    /// The socket failed (or the peer left): from now on it is `closing`; the caller
    /// unregisters it and reports the close. Outbound bytes are dropped, as gnet does.
    pub fn fail(conn: *Connection, errno: i32, syscall: Syscall) SendResult {
        if (conn.state == .open) {
            conn.state = .closing;
            conn.close_errno = errno;
            conn.close_syscall = syscall;
            conn.close_pending = true;
        }
        conn.outbound.reset(conn.outbound.max_static_bytes);
        return .failed;
    }
};
