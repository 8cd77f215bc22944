//! One event loop (gnet's eventloop_unix.go), driven by the host in two calls per batch:
//!   drain(): one non-blocking wait; accept, read each ready connection once into the
//!            loop's read area (reads packed one after another), write pending outbound
//!            bytes on writability; every event becomes a fixed-size record for the host.
//!   flush(): the host's commands in order: writes (consecutive writes of a connection
//!            become one writev), unread bytes kept in the inbound ring, closes.
//! Work that arises outside a drain (a write that failed in a flush, a connection accepted
//! for this loop by another one, an edge-triggered read cut short) goes to the pending list
//! and wakes the poller, so it is reported by the next drain: nothing calls the host back.
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const layout = @import("layout.zig");
const poller_mod = @import("poller.zig");
const Poller = poller_mod.Poller;
const Trigger = poller_mod.Trigger;
const Connection = @import("connection.zig").Connection;
const acceptor = @import("acceptor.zig");
const Listener = acceptor.Listener;
const Engine = @import("engine.zig").Engine;

/// How long a connection closed with unsent bytes may keep trying (gnet gives up at once;
/// we let a slow reader finish, within this bound).
pub const drain_timeout_ns: u64 = 5 * std.time.ns_per_s;

/// Scratch for reads of a draining connection, whose bytes nobody wants.
const discard_buffer_size = 4096;

/// The host's memory (layout.zig); its addresses stay valid while the host keeps the arrays.
pub const Buffers = struct {
    records: []i32,
    area: []u8,
    commands: []i32,
    arena: []u8,
};

pub const FlushError = error{InvalidCommand};

pub const EventLoop = struct {
    index: u32,
    engine: *Engine,
    allocator: std.mem.Allocator,
    poller: Poller,
    trigger: Trigger,
    read_buffer_cap: usize,
    write_buffer_cap: usize,
    /// Bytes per connection per event in edge-triggered mode (gnet's edgeTriggeredIOChunk).
    et_chunk: usize,
    conns: std.ArrayListUnmanaged(*Connection) = .{},
    free_slots: std.ArrayListUnmanaged(u32) = .{},
    /// Slots with something to report; each at most once (Connection.pending), plus the
    /// ones re-queued while the list is processed: capacity 2 × conns, reserved up front.
    pending: std.ArrayListUnmanaged(u32) = .{},
    listeners: std.ArrayListUnmanaged(Listener) = .{},
    buffers: ?Buffers = null,
    records_count: usize = 0,
    area_used: usize = 0,
    in_drain: bool = false,
    draining_count: u32 = 0,
    /// Given up to accept (and close) connections when the process is out of fds.
    reserve_fd: socket.fd_t = -1,

    pub fn init(engine: *Engine, index: u32) !EventLoop {
        const config = engine.config;
        return .{
            .index = index,
            .engine = engine,
            .allocator = engine.allocator,
            .poller = try Poller.open(),
            .trigger = if (config.edge_triggered) .edge else .level,
            .read_buffer_cap = config.read_buffer_cap,
            .write_buffer_cap = config.write_buffer_cap,
            .et_chunk = if (config.edge_triggered) config.edge_chunk else std.math.maxInt(usize),
            .reserve_fd = acceptor.openReserve(),
        };
    }

    /// Closes every socket it still has and frees everything.
    pub fn deinit(loop: *EventLoop) void {
        for (loop.conns.items) |conn| {
            if (conn.state != .free) loop.finalize(conn);
            conn.deinit();
            loop.allocator.destroy(conn);
        }
        for (loop.listeners.items) |listener| {
            if (listener.loop_owned) posix.close(listener.fd);
        }
        loop.conns.deinit(loop.allocator);
        loop.free_slots.deinit(loop.allocator);
        loop.pending.deinit(loop.allocator);
        loop.listeners.deinit(loop.allocator);
        if (loop.reserve_fd >= 0) posix.close(loop.reserve_fd);
        loop.poller.close();
        loop.* = undefined;
    }

    pub fn attach(loop: *EventLoop, buffers: Buffers) error{InvalidArgument}!void {
        if (buffers.records.len < (layout.records_max + 1) * layout.record_words) return error.InvalidArgument;
        if (buffers.area.len < layout.readAreaSize(loop.read_buffer_cap)) return error.InvalidArgument;
        if (buffers.commands.len < layout.commands_max * layout.command_words) return error.InvalidArgument;
        if (buffers.arena.len == 0) return error.InvalidArgument;
        loop.buffers = buffers;
    }

    pub fn addListener(loop: *EventLoop, listener: Listener) !void {
        const index: u32 = @intCast(loop.listeners.items.len);
        try loop.listeners.append(loop.allocator, listener);
        errdefer _ = loop.listeners.pop();
        try loop.poller.addRead(listener.fd, acceptor.token(index), .level);
    }

    // ---- connections -----------------------------------------------------------------------

    /// Registers a new socket with this loop; the host learns of it from an open record.
    pub const AddError = socket.Error || error{OutOfMemory};

    pub fn addConn(loop: *EventLoop, fd: socket.fd_t, network: socket.Network, remote: std.net.Address) AddError!*Connection {
        const conn = if (loop.free_slots.popOrNull()) |slot| loop.conns.items[slot] else blk: {
            const slot: u32 = @intCast(loop.conns.items.len);
            if (slot >= acceptor.listener_token_flag) return error.SystemResources;
            try loop.conns.ensureUnusedCapacity(loop.allocator, 1);
            try loop.free_slots.ensureTotalCapacity(loop.allocator, slot + 1);
            try loop.pending.ensureTotalCapacity(loop.allocator, 2 * (slot + 1));
            const conn = try loop.allocator.create(Connection);
            conn.* = Connection.init(loop.allocator, slot, loop.write_buffer_cap);
            loop.conns.appendAssumeCapacity(conn);
            break :blk conn;
        };
        assert(conn.state == .free);
        conn.adopt(fd, network, remote);
        loop.poller.addRead(fd, conn.token(), loop.trigger) catch |err| {
            conn.state = .closing;
            conn.fd = -1;
            conn.release();
            loop.free_slots.appendAssumeCapacity(conn.slot);
            return switch (err) {
                error.ProcessFdQuotaExceeded, error.SystemFdQuotaExceeded, error.SystemResources, error.AccessDenied, error.Unexpected => |e| e,
                error.BadFileDescriptor, error.AlreadyRegistered, error.NotRegistered => error.BadFileDescriptor,
            };
        };
        loop.engine.connOpened(loop.index);
        return conn;
    }

    /// Makes a new connection known to the host: now if this loop is draining with room,
    /// else from its next drain.
    pub fn announce(loop: *EventLoop, conn: *Connection) void {
        if (loop.in_drain and loop.recordsLeft() > 0) return loop.emitOpen(conn);
        loop.pushPending(conn);
    }

    /// The connection a host name (slot, generation) refers to, if it still exists.
    pub fn lookup(loop: *EventLoop, slot: u32, generation: u32) ?*Connection {
        if (slot >= loop.conns.items.len) return null;
        const conn = loop.conns.items[slot];
        if (conn.state == .free or conn.generation != generation) return null;
        return conn;
    }

    fn pushPending(loop: *EventLoop, conn: *Connection) void {
        if (!conn.pending) {
            conn.pending = true;
            loop.pending.appendAssumeCapacity(conn.slot);
        }
        if (!loop.in_drain) loop.poller.wake();
    }

    /// The connection just failed (Connection.fail): stop watching it, report the close.
    fn reportFailed(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state == .closing or conn.state == .draining);
        if (conn.state == .draining) return loop.finalize(conn);
        if (conn.drainsAfterEof()) {
            // Half-closed by the peer: stop reading (end of stream stays readable), keep
            // writability for the drain that follows the host's close.
            conn.read_paused = true;
            loop.poller.setReadPaused(conn.fd, conn.token(), loop.trigger, true, conn.write_armed) catch {
                conn.outbound.reset(conn.outbound.max_static_bytes);
                loop.poller.delete(conn.fd) catch {};
            };
        } else {
            loop.poller.delete(conn.fd) catch {};
        }
        loop.engine.connClosed(loop.index);
        if (loop.in_drain and loop.recordsLeft() > 0) {
            loop.emitClose(conn);
        } else {
            loop.pushPending(conn);
        }
    }

    /// Closes the socket and frees the slot.
    fn finalize(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state != .free);
        switch (conn.state) {
            .open => {
                loop.engine.connClosed(loop.index);
                loop.poller.delete(conn.fd) catch {};
            },
            .draining => {
                loop.draining_count -= 1;
                loop.poller.delete(conn.fd) catch {};
            },
            .closing, .free => {},
        }
        posix.close(conn.fd);
        conn.release();
        loop.free_slots.appendAssumeCapacity(conn.slot);
    }

    /// The host closed the connection (its onClose ran): flush what can go now; a
    /// connection with bytes left drains them (bounded) before its socket closes.
    fn closeByHost(loop: *EventLoop, conn: *Connection) void {
        switch (conn.state) {
            .open => {
                if (!conn.outbound.isEmpty()) {
                    if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) {
                        // It failed while closing: nobody needs to hear about it.
                        conn.close_pending = false;
                        loop.engine.connClosed(loop.index);
                        loop.poller.delete(conn.fd) catch {};
                        return loop.finalize(conn);
                    }
                    if (!conn.outbound.isEmpty()) {
                        loop.engine.connClosed(loop.index);
                        conn.state = .draining;
                        conn.drain_deadline_ns = monotonicNs() + drain_timeout_ns;
                        loop.draining_count += 1;
                        conn.armWrite(&loop.poller, loop.trigger);
                        return;
                    }
                }
                loop.finalize(conn);
            },
            .closing => {
                if (!conn.drainsAfterEof()) return loop.finalize(conn);
                // Counted closed when reported; still registered for writability.
                conn.state = .draining;
                conn.drain_deadline_ns = monotonicNs() + drain_timeout_ns;
                loop.draining_count += 1;
                conn.armWrite(&loop.poller, loop.trigger);
            },
            .draining, .free => {},
        }
    }

    /// Closes draining connections past their deadline; returns how many still drain.
    pub fn reap(loop: *EventLoop) u32 {
        if (loop.draining_count == 0) return 0;
        const now = monotonicNs();
        for (loop.conns.items) |conn| {
            if (conn.state == .draining and conn.drain_deadline_ns <= now) loop.finalize(conn);
        }
        return loop.draining_count;
    }

    // ---- drain -----------------------------------------------------------------------------

    /// One batch of readiness as records; returns the record count (header not included).
    pub fn drain(loop: *EventLoop) usize {
        const buffers = loop.buffers.?;
        loop.records_count = 0;
        loop.area_used = 0;
        loop.in_drain = true;
        defer loop.in_drain = false;
        @memset(buffers.records[0..layout.record_words], 0);

        loop.processPending();
        const room = loop.recordsLeft();
        if (room > 0) {
            const count = loop.poller.waitMax(@min(room, poller_mod.events_max), 0);
            for (0..count) |i| loop.dispatch(loop.poller.eventAt(i));
        } else {
            loop.setMore();
        }
        if (loop.pending.items.len > 0) {
            loop.in_drain = false;
            loop.poller.wake();
        }
        buffers.records[layout.Header.draining] = @intCast(loop.draining_count);
        assert(loop.records_count <= layout.records_max);
        assert(loop.area_used <= buffers.area.len);
        return loop.records_count;
    }

    fn processPending(loop: *EventLoop) void {
        const count = loop.pending.items.len;
        if (count == 0) return;
        // Items re-queued while processing land after `count`; they wait for the next drain.
        for (loop.pending.items[0..count]) |slot| {
            const conn = loop.conns.items[slot];
            conn.pending = false;
            if (conn.state == .free) continue;
            if (loop.recordsLeft() < 2) {
                loop.setMore();
                conn.pending = true;
                loop.pending.appendAssumeCapacity(slot);
                continue;
            }
            // A dial that failed was never open: only its close is reported.
            if (!conn.open_reported and !conn.connecting and conn.close_syscall != .connect) loop.emitOpen(conn);
            if (conn.close_pending) {
                loop.emitClose(conn);
                continue;
            }
            if (conn.state != .open) continue;
            if (conn.writable_report) loop.emitWritable(conn);
            if (conn.write_pending) {
                conn.write_pending = false;
                loop.writable(conn);
            }
            if (conn.state == .open and conn.read_pending) {
                conn.read_pending = false;
                loop.readable(conn);
            }
        }
        std.mem.copyForwards(u32, loop.pending.items[0..], loop.pending.items[count..]);
        loop.pending.shrinkRetainingCapacity(loop.pending.items.len - count);
    }

    fn dispatch(loop: *EventLoop, event: poller_mod.Event) void {
        if (event.token == poller_mod.wake_token) return loop.poller.consumeWake();
        const low: u32 = @truncate(event.token);
        if (low & acceptor.listener_token_flag != 0) {
            const index: u32 = @intCast(low & ~@as(u32, @intCast(acceptor.listener_token_flag)));
            const listener = &loop.listeners.items[index];
            if (listener.network == .udp) return acceptor.readDatagrams(loop, index, listener);
            return acceptor.acceptReady(loop, listener);
        }
        // A connection closed earlier in this batch has a new generation (or is free):
        // its stale events are dropped here.
        const conn = loop.lookup(low, @intCast(event.token >> 32)) orelse return;
        switch (conn.state) {
            .open => {},
            .draining => return loop.drainingEvent(conn, event),
            .closing, .free => return,
        }
        if (conn.connecting) return loop.connected(conn, event);
        if (!conn.open_reported) {
            // Its open record is still pending; edge-triggered readiness must not be lost.
            conn.read_pending = conn.read_pending or event.readable or event.read_hangup;
            conn.write_pending = conn.write_pending or event.writable;
            return loop.pushPending(conn);
        }
        if (loop.recordsLeft() == 0 or loop.readRoom() == null) {
            loop.setMore();
            if (loop.trigger == .edge) {
                conn.read_pending = conn.read_pending or event.readable or event.read_hangup or event.hangup;
                conn.write_pending = conn.write_pending or event.writable;
                loop.pushPending(conn);
            }
            return;
        }
        if (event.hangup and !event.readable and !event.writable) {
            _ = conn.fail(socket.pendingErrno(conn.fd), .read);
            return loop.reportFailed(conn);
        }
        if (event.writable or event.hangup) {
            loop.writable(conn);
            if (conn.state != .open) return;
        }
        if (event.readable or event.read_hangup or event.hangup) loop.readable(conn);
    }

    /// A dial finished (writability or an error): announce it, or report why it failed.
    fn connected(loop: *EventLoop, conn: *Connection, event: poller_mod.Event) void {
        if (!event.writable and !event.hangup) return;
        conn.connecting = false;
        const errno = socket.pendingErrno(conn.fd);
        if (errno != 0 or (event.hangup and !event.writable)) {
            _ = conn.fail(if (errno != 0) errno else @intFromEnum(posix.E.CONNREFUSED), .connect);
            return loop.reportFailed(conn);
        }
        if (conn.remote.any.family != posix.AF.UNIX) conn.remote = socket.remoteAddress(conn.fd) catch conn.remote;
        conn.write_armed = true; // armed for the dial; the flush below settles it
        if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) return loop.reportFailed(conn);
        loop.announce(conn);
    }

    /// Dials `address` (gnet's EventLoop.Register); the connection is announced once connected.
    pub fn register(loop: *EventLoop, network: socket.Network, address: std.net.Address) AddError!*Connection {
        const fd = switch (network) {
            .udp => try socket.connectDatagram(address),
            .tcp, .unix => try socket.connect(address),
        };
        errdefer posix.close(fd);
        try loop.configure(fd, network);
        const conn = try loop.addConn(fd, network, address);
        if (network == .udp) {
            loop.announce(conn);
        } else {
            conn.connecting = true;
            // Edge-triggered registration already watches writability.
            conn.armWrite(&loop.poller, loop.trigger);
        }
        loop.buffers.?.records[layout.Header.generation] = @bitCast(conn.generation);
        return conn;
    }

    /// Adopts a copy of a socket the host had (gnet's Enroll: dup, the original is closed).
    pub fn enroll(loop: *EventLoop, fd: socket.fd_t, network: socket.Network) AddError!*Connection {
        const copy = try socket.dup(fd);
        errdefer posix.close(copy);
        try socket.setNonBlocking(copy);
        try socket.noSigPipe(copy);
        try loop.configure(copy, network);
        const remote = try socket.remoteAddress(copy);
        const conn = try loop.addConn(copy, network, remote);
        loop.announce(conn);
        loop.buffers.?.records[layout.Header.generation] = @bitCast(conn.generation);
        return conn;
    }

    /// The engine's socket options on a socket it did not accept (accepted ones inherit them
    /// from the listener): gnet's Client.Enroll applies the buffer sizes, and for TCP
    /// TCP_NODELAY and keep-alive.
    fn configure(loop: *const EventLoop, fd: socket.fd_t, network: socket.Network) socket.Error!void {
        const c = loop.engine.config;
        if (network == .tcp) {
            try socket.setNoDelay(fd, c.no_delay);
            if (c.keep_alive_s > 0) try socket.setKeepAlive(fd, true, c.keep_alive_s, c.keep_interval_s, c.keep_count);
        }
        if (c.recv_buffer > 0) try socket.setRecvBuffer(fd, c.recv_buffer);
        if (c.send_buffer > 0) try socket.setSendBuffer(fd, c.send_buffer);
    }

    fn writable(loop: *EventLoop, conn: *Connection) void {
        if (conn.outbound.isEmpty()) return;
        if (!conn.flushOutbound(&loop.poller, loop.trigger, loop.et_chunk)) return loop.reportFailed(conn);
        loop.checkWatch(conn);
        if (loop.trigger == .edge and !conn.outbound.isEmpty()) {
            conn.write_pending = true;
            loop.pushPending(conn);
        }
    }

    /// A watch that is satisfied becomes a writable record: now if this drain has room, else
    /// from the next one.
    fn checkWatch(loop: *EventLoop, conn: *Connection) void {
        if (!conn.watching() or !conn.watchSatisfied()) return;
        conn.unwatch();
        if (loop.in_drain and loop.recordsLeft() > 0) return loop.emitWritable(conn);
        conn.writable_report = true;
        loop.pushPending(conn);
    }

    /// pauseRead/resumeRead: readability stops being watched, or is watched again.
    fn setReadPaused(loop: *EventLoop, conn: *Connection, paused: bool) void {
        assert(conn.state == .open);
        if (conn.read_paused == paused) return;
        conn.read_paused = paused;
        loop.poller.setReadPaused(conn.fd, conn.token(), loop.trigger, paused, conn.write_armed) catch |err| switch (err) {
            // The socket is registered and open: only the kernel running out of memory remains.
            error.SystemResources, error.Unexpected, error.BadFileDescriptor, error.NotRegistered,
            error.AlreadyRegistered, error.AccessDenied, error.ProcessFdQuotaExceeded, error.SystemFdQuotaExceeded => {
                _ = conn.fail(@intFromEnum(posix.E.NOMEM), .read);
                return loop.reportFailed(conn);
            },
        };
        // Bytes that arrived while paused: edge triggering reports them only on new data.
        if (!paused and loop.trigger == .edge) {
            conn.read_pending = true;
            loop.pushPending(conn);
        }
    }

    /// One read into the area (gnet: one read per event in LT, a chunk-bounded one in ET).
    fn readable(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state == .open);
        if (conn.read_paused) return; // resumeRead re-arms it
        const room = loop.readRoom() orelse {
            conn.read_pending = true;
            return loop.pushPending(conn);
        };
        const want = @min(room.len, loop.et_chunk);
        const n = socket.read(conn.fd, room[0..want]) catch |err| switch (err) {
            error.WouldBlock => return,
            else => {
                _ = conn.fail(socket.errnoOf(err), .read);
                return loop.reportFailed(conn);
            },
        };
        if (n == 0) {
            _ = conn.fail(0, .read);
            return loop.reportFailed(conn);
        }
        if (conn.inbound.isEmpty()) {
            loop.emitData(conn, loop.area_used, n, 0);
            loop.area_used += n;
        } else {
            // gnet: with bytes already buffered, new ones join them (Next then copies).
            conn.inbound.write(room[0..n]) catch {
                _ = conn.fail(@intFromEnum(posix.E.NOMEM), .read);
                return loop.reportFailed(conn);
            };
            loop.emitData(conn, 0, n, conn.inbound.buffered());
        }
        if (loop.trigger == .edge and n == want) {
            conn.read_pending = true;
            loop.pushPending(conn);
        }
    }

    fn drainingEvent(loop: *EventLoop, conn: *Connection, event: poller_mod.Event) void {
        assert(conn.state == .draining);
        if (event.hangup) return loop.finalize(conn);
        if (event.readable or event.read_hangup) {
            var scratch: [discard_buffer_size]u8 = undefined;
            const n = socket.read(conn.fd, &scratch) catch |err| switch (err) {
                error.WouldBlock => 1,
                else => 0,
            };
            if (n == 0) return loop.finalize(conn);
        }
        if (event.writable) {
            if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) return loop.finalize(conn);
            if (conn.outbound.isEmpty()) return loop.finalize(conn);
        }
    }

    // ---- records ---------------------------------------------------------------------------

    pub fn recordsLeft(loop: *const EventLoop) usize {
        return layout.records_max - loop.records_count;
    }

    /// Room for one full read (readBufferCap bytes), or null when the area is used up.
    pub fn readRoom(loop: *EventLoop) ?[]u8 {
        const area = loop.buffers.?.area;
        if (area.len - loop.area_used < loop.read_buffer_cap) return null;
        return area[loop.area_used..][0..loop.read_buffer_cap];
    }

    pub fn setMore(loop: *EventLoop) void {
        loop.buffers.?.records[layout.Header.more] = 1;
    }

    fn nextRecord(loop: *EventLoop) []i32 {
        assert(loop.records_count < layout.records_max);
        loop.records_count += 1;
        const start = loop.records_count * layout.record_words; // record 0 is the header
        return loop.buffers.?.records[start..][0..layout.record_words];
    }

    /// A record about one connection: kind, slot and generation filled in.
    fn connRecord(loop: *EventLoop, kind: layout.RecordKind, conn: *const Connection) []i32 {
        const r = loop.nextRecord();
        r[layout.Field.kind] = @intFromEnum(kind);
        r[layout.Field.slot] = @intCast(conn.slot);
        r[layout.Field.generation] = @bitCast(conn.generation);
        return r;
    }

    fn emitOpen(loop: *EventLoop, conn: *Connection) void {
        const r = loop.connRecord(.open, conn);
        r[layout.Field.aux] = conn.fd;
        r[layout.Field.aux2] = @intFromEnum(conn.network);
        conn.open_reported = true;
    }

    fn emitData(loop: *EventLoop, conn: *Connection, offset: usize, length: usize, ring_bytes: usize) void {
        const r = loop.connRecord(.data, conn);
        r[layout.Field.offset] = @intCast(offset);
        r[layout.Field.length] = @intCast(length);
        r[layout.Field.aux] = @intCast(@min(ring_bytes, std.math.maxInt(i32)));
        r[layout.Field.aux2] = @intCast(@min(conn.outbound.buffered(), std.math.maxInt(i32)));
    }

    fn emitWritable(loop: *EventLoop, conn: *Connection) void {
        const r = loop.connRecord(.writable, conn);
        r[layout.Field.aux] = @intCast(@min(conn.outbound.buffered(), std.math.maxInt(i32)));
        r[layout.Field.aux2] = @bitCast(conn.sent_total);
        conn.writable_report = false;
    }

    fn emitClose(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state == .closing);
        const r = loop.connRecord(.close, conn);
        r[layout.Field.aux] = conn.close_errno;
        r[layout.Field.aux2] = @intFromEnum(conn.close_syscall);
        conn.close_pending = false;
    }

    pub fn emitDatagram(loop: *EventLoop, listener_index: u32, length: usize, remote: *const std.net.Address) void {
        const r = loop.nextRecord();
        r[layout.Field.kind] = @intFromEnum(layout.RecordKind.datagram);
        r[layout.Field.slot] = @intCast(listener_index);
        r[layout.Field.generation] = 0;
        r[layout.Field.offset] = @intCast(loop.area_used);
        r[layout.Field.length] = @intCast(length);
        const sock_len = remote.getOsSockLen();
        r[layout.Field.aux2] = @intCast(sock_len);
        const addr_bytes = std.mem.sliceAsBytes(r[layout.Field.addr..]);
        @memset(addr_bytes, 0);
        @memcpy(addr_bytes[0..sock_len], std.mem.asBytes(remote)[0..sock_len]);
        loop.area_used += length;
    }

    /// The remote address of datagram record `index` (for a reply).
    pub fn datagramRemote(loop: *EventLoop, index: usize) ?std.net.Address {
        if (index == 0 or index > loop.records_count) return null;
        const r = loop.buffers.?.records[index * layout.record_words ..][0..layout.record_words];
        if (r[layout.Field.kind] != @intFromEnum(layout.RecordKind.datagram)) return null;
        var address: std.net.Address = undefined;
        const bytes = std.mem.sliceAsBytes(r[layout.Field.addr..]);
        @memcpy(std.mem.asBytes(&address)[0..layout.Field.addr_bytes], bytes);
        // Host memory: only an IP family is a sender we may reply to.
        if (address.any.family != posix.AF.INET and address.any.family != posix.AF.INET6) return null;
        return address;
    }

    pub fn reportAcceptError(loop: *EventLoop, errno: i32) void {
        loop.buffers.?.records[layout.Header.accept_errno] = errno;
    }

    pub fn countShed(loop: *EventLoop) void {
        loop.buffers.?.records[layout.Header.accept_shed] += 1;
    }

    // ---- flush -----------------------------------------------------------------------------

    /// Runs the host's first `count` commands, in order.
    pub fn flush(loop: *EventLoop, count: usize) FlushError!void {
        const buffers = loop.buffers.?;
        if (count > layout.commands_max) return error.InvalidCommand;
        var i: usize = 0;
        // Bounded by `count`: every round consumes at least one command.
        while (i < count) {
            const c = command(buffers, i);
            const kind = std.meta.intToEnum(layout.CommandKind, c[0]) catch return error.InvalidCommand;
            const slot: u32 = @bitCast(c[1]);
            const generation: u32 = @bitCast(c[2]);
            switch (kind) {
                .write => {
                    var parts: [socket.iov_count_max][]const u8 = undefined;
                    var parts_count: usize = 0;
                    var j = i;
                    while (j < count and parts_count < parts.len) : (j += 1) {
                        const w = command(buffers, j);
                        if (w[0] != @intFromEnum(layout.CommandKind.write) or w[1] != c[1] or w[2] != c[2]) break;
                        const source = if (w[layout.CommandSource.field] == layout.CommandSource.area) buffers.area else buffers.arena;
                        parts[parts_count] = try range(source, w[3], w[4]);
                        parts_count += 1;
                    }
                    assert(j > i);
                    i = j;
                    const conn = loop.lookup(slot, generation) orelse continue;
                    if (conn.state != .open) continue;
                    if (conn.send(&loop.poller, loop.trigger, parts[0..parts_count]) == .failed) loop.reportFailed(conn);
                },
                .keep => {
                    i += 1;
                    const source = if (c[layout.CommandSource.field] == layout.CommandSource.arena) buffers.arena else buffers.area;
                    const bytes = try range(source, c[3], c[4]);
                    const conn = loop.lookup(slot, generation) orelse continue;
                    if (conn.state != .open) continue;
                    conn.inbound.write(bytes) catch {
                        _ = conn.fail(@intFromEnum(posix.E.NOMEM), .read);
                        loop.reportFailed(conn);
                    };
                },
                .close => {
                    i += 1;
                    const conn = loop.lookup(slot, generation) orelse continue;
                    loop.closeByHost(conn);
                },
                .pause_read, .resume_read => {
                    i += 1;
                    const conn = loop.lookup(slot, generation) orelse continue;
                    if (conn.state != .open) continue;
                    loop.setReadPaused(conn, kind == .pause_read);
                },
                .watch => {
                    i += 1;
                    const conn = loop.lookup(slot, generation) orelse continue;
                    if (conn.state != .open) continue;
                    conn.watch_low = if (c[3] >= 0) c[3] else -1;
                    conn.watch_sent = @bitCast(c[4]);
                    conn.watch_sent_set = c[layout.CommandSource.field] != 0;
                    if (conn.watching()) loop.checkWatch(conn);
                },
            }
        }
    }

    /// A write the host passes directly (too big for its arena, or a datagram reply).
    pub fn writeDirect(loop: *EventLoop, conn: *Connection, data: []const u8) Connection.SendResult {
        if (conn.state != .open) return .failed;
        const result = conn.send(&loop.poller, loop.trigger, &.{data});
        if (result == .failed) loop.reportFailed(conn);
        return result;
    }

    /// `flush()` of API.md: one pass over the outbound buffer now.
    pub fn flushConn(loop: *EventLoop, conn: *Connection) void {
        if (conn.state != .open) return;
        if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) return loop.reportFailed(conn);
        loop.checkWatch(conn);
    }
};

fn command(buffers: Buffers, index: usize) []const i32 {
    return buffers.commands[index * layout.command_words ..][0..layout.command_words];
}

fn range(bytes: []u8, offset: i32, length: i32) FlushError![]u8 {
    if (offset < 0 or length < 0) return error.InvalidCommand;
    const start: usize = @intCast(offset);
    const len: usize = @intCast(length);
    if (start > bytes.len or len > bytes.len - start) return error.InvalidCommand;
    return bytes[start..][0..len];
}

pub fn monotonicNs() u64 {
    var ts: posix.timespec = undefined;
    posix.clock_gettime(.MONOTONIC, &ts) catch unreachable; // MONOTONIC always exists
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}
