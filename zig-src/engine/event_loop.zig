//! One event loop (gnet's eventloop_unix.go), driven by the host in two calls per batch:
//!   drain(): one non-blocking wait; accept, read each ready connection once into the
//!            loop's read area (reads packed one after another), write pending outbound
//!            bytes on writability; every event becomes a fixed-size record for the host.
//!   flush(): the host's commands in order: writes (consecutive writes of a connection
//!            become one writev), unread bytes kept in the inbound ring, closes.
//! Work that arises outside a drain (a write that failed in a flush, a connection accepted
//! for this loop by another one, an edge-triggered read cut short) goes to the pending list
//! and wakes the poller, so it is reported by the next drain: nothing calls the host back.
//! Loops may run on different threads (one each): what one loop hands another — an accepted
//! connection — goes through the target's inbox, the only state of a loop another thread
//! touches, and the target's poller wake (poller.zig gives the order that loses no wake).
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const layout = @import("layout.zig");
const poller_mod = @import("poller.zig");
const Poller = poller_mod.Poller;
const Trigger = poller_mod.Trigger;
const connection = @import("connection.zig");
const Connection = connection.Connection;
const State = connection.State;
const Syscall = layout.Syscall;
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

/// A connection accepted by one loop for another (main-reactor mode).
pub const Accepted = struct {
    fd: socket.fd_t,
    network: socket.Network,
    remote: std.net.Address,
};

/// Accepted connections waiting for their loop. One accepting drain hands off at most
/// `records_max` (one open record each): this holds a drain's worth while the target is busy
/// in its handlers; a target further behind than that gets no more (the acceptor keeps them).
pub const inbox_max = layout.records_max;

const Inbox = struct {
    mutex: std.Thread.Mutex = .{},
    items: std.BoundedArray(Accepted, inbox_max) = .{},
};

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
    /// Filled by the accepting loop's thread, emptied by this loop's (after a wake).
    inbox: *Inbox,
    /// What this loop took from its inbox, adopted outside the lock.
    inbox_taken: *std.BoundedArray(Accepted, inbox_max),

    /// `step` names the call under way, for the error's `syscall`.
    pub fn init(engine: *Engine, index: u32, step: *Syscall) (poller_mod.Error || error{OutOfMemory})!EventLoop {
        const config = engine.config;
        assert(index < engine.config.loops_count);
        assert(config.read_buffer_cap > 0 and config.write_buffer_cap > 0);
        const inbox = try engine.allocator.create(Inbox);
        errdefer engine.allocator.destroy(inbox);
        inbox.* = .{};
        const inbox_taken = try engine.allocator.create(std.BoundedArray(Accepted, inbox_max));
        errdefer engine.allocator.destroy(inbox_taken);
        inbox_taken.* = .{};
        return .{
            .index = index,
            .engine = engine,
            .allocator = engine.allocator,
            .inbox = inbox,
            .inbox_taken = inbox_taken,
            .poller = try Poller.open(step),
            .trigger = if (config.edge_triggered) .edge else .level,
            .read_buffer_cap = config.read_buffer_cap,
            .write_buffer_cap = config.write_buffer_cap,
            .et_chunk = if (config.edge_triggered) config.edge_chunk else std.math.maxInt(usize),
            .reserve_fd = acceptor.openReserve(),
        };
    }

    /// Closes every socket it still has and frees everything.
    pub fn deinit(loop: *EventLoop) void {
        assert(!loop.in_drain);
        for (loop.conns.items) |conn| {
            if (conn.state != .free) loop.finalize(conn);
            conn.deinit();
            loop.allocator.destroy(conn);
        }
        assert(loop.draining_count == 0);
        for (loop.listeners.items) |listener| {
            if (listener.loop_owned) posix.close(listener.fd);
        }
        loop.conns.deinit(loop.allocator);
        loop.free_slots.deinit(loop.allocator);
        loop.pending.deinit(loop.allocator);
        loop.listeners.deinit(loop.allocator);
        // Handed over but never adopted: the engine stops, their peers see the close.
        for (loop.inbox.items.slice()) |accepted| posix.close(accepted.fd);
        assert(loop.inbox_taken.len == 0);
        loop.allocator.destroy(loop.inbox);
        loop.allocator.destroy(loop.inbox_taken);
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
        assert(loop.readRoom() != null);
    }

    pub fn addListener(loop: *EventLoop, listener: Listener) (poller_mod.Error || error{OutOfMemory})!void {
        assert(listener.fd >= 0);
        const index: u32 = @intCast(loop.listeners.items.len);
        try loop.listeners.append(loop.allocator, listener);
        errdefer _ = loop.listeners.pop();
        try loop.poller.addRead(listener.fd, acceptor.token(index), .level);
    }

    // ---- connections -----------------------------------------------------------------------

    pub const AddError = socket.Error || error{OutOfMemory};

    /// Registers a new socket with this loop as `to` (`connecting` for a dial in flight,
    /// `opening` otherwise: the host learns of it from an open record), and counts it.
    pub fn addConn(loop: *EventLoop, fd: socket.fd_t, network: socket.Network, remote: std.net.Address, to: State) AddError!*Connection {
        const conn = try loop.join(fd, network, remote, to);
        loop.engine.connOpened(loop.index);
        return conn;
    }

    /// addConn without the count: accepted connections are counted when placed.
    fn join(loop: *EventLoop, fd: socket.fd_t, network: socket.Network, remote: std.net.Address, to: State) AddError!*Connection {
        assert(fd >= 0);
        const conn = if (loop.free_slots.popOrNull()) |slot| loop.conns.items[slot] else blk: {
            const slot: u32 = @intCast(loop.conns.items.len);
            if (slot >= connection.slots_max) return error.SystemResources;
            try loop.conns.ensureUnusedCapacity(loop.allocator, 1);
            try loop.free_slots.ensureTotalCapacity(loop.allocator, slot + 1);
            try loop.pending.ensureTotalCapacity(loop.allocator, 2 * (slot + 1));
            const conn = try loop.allocator.create(Connection);
            conn.* = Connection.init(loop.allocator, slot, loop.write_buffer_cap);
            loop.conns.appendAssumeCapacity(conn);
            break :blk conn;
        };
        conn.adopt(fd, network, remote, to);
        loop.poller.addRead(fd, conn.token(), loop.trigger) catch |err| {
            // Not registered, nothing reported: the slot goes back; the caller closes the fd.
            conn.release();
            loop.free_slots.appendAssumeCapacity(conn.slot);
            return err;
        };
        assert(loop.pending.capacity >= 2 * loop.conns.items.len);
        return conn;
    }

    /// Makes a new connection known to the host: now if this loop is draining with room,
    /// else from its next drain.
    pub fn announce(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state == .opening);
        if (loop.in_drain and loop.recordsLeft() > 0) return loop.emitOpen(conn);
        loop.pushPending(conn);
    }

    /// An accepted connection, counted for this loop when placed, joins it (on this loop's thread).
    pub fn adoptAccepted(loop: *EventLoop, accepted: Accepted) void {
        assert(accepted.fd >= 0);
        assert(accepted.network != .udp);
        const conn = loop.join(accepted.fd, accepted.network, accepted.remote, .opening) catch |err| {
            // gnet drops a connection it cannot register and keeps accepting: the peer sees
            // the close, the engine goes on (a full fd table shows up as accept's error).
            std.log.debug("accepted socket not registered: {s}", .{@errorName(err)});
            posix.close(accepted.fd);
            loop.engine.connClosed(loop.index);
            return;
        };
        loop.announce(conn);
    }

    /// From another loop's thread: queues `accepted` for this loop and wakes it. False when
    /// the inbox is full (this loop is far behind): the caller keeps the connection.
    pub fn handOff(loop: *EventLoop, accepted: Accepted) bool {
        assert(accepted.fd >= 0);
        {
            loop.inbox.mutex.lock();
            defer loop.inbox.mutex.unlock();
            loop.inbox.items.append(accepted) catch |err| switch (err) {
                error.Overflow => return false,
            };
        }
        loop.poller.wake();
        return true;
    }

    /// After a wake was consumed (poller.zig's order): adopts what other loops handed over.
    fn takeInbox(loop: *EventLoop) void {
        assert(loop.in_drain);
        assert(loop.inbox_taken.len == 0);
        {
            loop.inbox.mutex.lock();
            defer loop.inbox.mutex.unlock();
            loop.inbox_taken.appendSliceAssumeCapacity(loop.inbox.items.slice());
            loop.inbox.items.len = 0;
        }
        for (loop.inbox_taken.slice()) |accepted| loop.adoptAccepted(accepted);
        loop.inbox_taken.len = 0;
    }

    /// The connection a host name (slot, generation) refers to, if it still exists.
    pub fn lookup(loop: *EventLoop, slot: u32, generation: u32) ?*Connection {
        if (slot >= loop.conns.items.len) return null;
        const conn = loop.conns.items[slot];
        if (conn.state == .free or conn.generation != generation) return null;
        assert(conn.slot == slot);
        return conn;
    }

    fn pushPending(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state != .free);
        if (!conn.pending) {
            conn.pending = true;
            loop.pending.appendAssumeCapacity(conn.slot);
        }
        if (!loop.in_drain) loop.poller.wake();
    }

    /// Stops watching a connection's socket.
    fn unwatch(loop: *EventLoop, conn: *Connection) void {
        assert(conn.fd >= 0);
        loop.poller.delete(conn.fd) catch |err| switch (err) {
            // Harmless, whichever it is: either the fd closes right after (which unregisters
            // it), or its later events find a connection that is no longer live and are
            // dropped by `dispatch`. BadFileDescriptor: the host closed our fd behind our back.
            error.BadFileDescriptor,
            error.NotRegistered,
            error.AlreadyRegistered,
            error.SystemResources,
            error.ProcessFdQuotaExceeded,
            error.SystemFdQuotaExceeded,
            error.AccessDenied,
            error.Unexpected,
            => {},
        };
        conn.write_armed = false;
    }

    /// The connection just failed (Connection.fail): stop watching it, report the close.
    /// After the peer's end of stream with bytes left it stays watched, for writability only.
    fn reportFailed(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state == .failed or conn.state == .draining);
        if (conn.state == .draining) return loop.finalize(conn);
        if (!conn.drainsAfterEof() or !loop.pollReadPaused(conn, true)) {
            conn.outbound.reset(conn.outbound.max_static_bytes);
            loop.unwatch(conn);
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
            .connecting, .opening, .open => {
                loop.engine.connClosed(loop.index);
                loop.unwatch(conn);
            },
            .draining => {
                assert(loop.draining_count > 0);
                loop.draining_count -= 1;
                loop.unwatch(conn);
            },
            // Uncounted when they failed; unwatched too, unless draining after end of stream.
            .failed, .reported => if (conn.drainsAfterEof()) loop.unwatch(conn),
            .free => unreachable,
        }
        posix.close(conn.fd);
        conn.release();
        loop.free_slots.appendAssumeCapacity(conn.slot);
    }

    /// The host closed the connection (its onClose ran): flush what can go now; a
    /// connection with bytes left drains them (bounded) before its socket closes.
    fn closeByHost(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state != .free);
        switch (conn.state) {
            .open => {
                if (conn.outbound.isEmpty()) return loop.finalize(conn);
                if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) {
                    // It failed while closing: nobody needs to hear about it.
                    assert(conn.state == .failed);
                    loop.engine.connClosed(loop.index);
                    loop.unwatch(conn);
                    return loop.finalize(conn);
                }
                if (conn.outbound.isEmpty()) return loop.finalize(conn);
                loop.engine.connClosed(loop.index);
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
            .connecting, .opening, .failed => loop.finalize(conn),
            // Closed twice: the first close stands.
            .draining => {},
            .free => unreachable,
        }
    }

    /// Closes draining connections past their deadline; returns how many still drain.
    pub fn reap(loop: *EventLoop) u32 {
        if (loop.draining_count == 0) return 0;
        const now = monotonicNs();
        for (loop.conns.items) |conn| {
            if (conn.state == .draining and conn.drain_deadline_ns <= now) loop.finalize(conn);
        }
        assert(loop.draining_count <= loop.conns.items.len);
        return loop.draining_count;
    }

    // ---- drain -----------------------------------------------------------------------------

    /// One batch of readiness as records; returns the record count (header not included).
    pub fn drain(loop: *EventLoop) usize {
        // Nothing here calls the host, so the host cannot drain from inside a drain.
        assert(!loop.in_drain);
        assert(loop.engine.started);
        const buffers = loop.buffers.?;
        loop.records_count = 0;
        loop.area_used = 0;
        loop.in_drain = true;
        @memset(buffers.records[0..layout.record_words], 0);

        loop.processPending();
        const room = loop.recordsLeft();
        if (room > 0) {
            const count = loop.poller.waitMax(@min(room, poller_mod.events_max), 0);
            for (0..count) |i| loop.dispatch(loop.poller.eventAt(i));
        } else {
            loop.setMore();
        }
        loop.in_drain = false;
        // Work queued during this drain (or left for lack of room) is the next drain's.
        if (loop.pending.items.len > 0) loop.poller.wake();
        buffers.records[layout.Header.draining] = @intCast(loop.draining_count);
        assert(loop.records_count <= layout.records_max);
        assert(loop.area_used <= buffers.area.len);
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
                .free, .connecting, .reported, .draining => continue,
            }
            if (loop.recordsLeft() < 2) {
                loop.setMore();
                conn.pending = true;
                loop.pending.appendAssumeCapacity(slot);
                continue;
            }
            if (conn.state == .opening) loop.emitOpen(conn);
            if (conn.state == .failed) {
                loop.emitClose(conn);
                continue;
            }
            assert(conn.state == .open);
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
        assert(loop.pending.items.len <= loop.conns.items.len);
    }

    fn dispatch(loop: *EventLoop, event: poller_mod.Event) void {
        assert(loop.in_drain);
        if (event.token == poller_mod.wake_token) {
            loop.poller.consumeWake();
            return loop.takeInbox();
        }
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
            .connecting => return loop.connected(conn, event),
            .opening => {
                // Its open record is still pending; edge-triggered readiness must not be lost.
                conn.read_pending = conn.read_pending or event.readable or event.read_hangup;
                conn.write_pending = conn.write_pending or event.writable;
                return loop.pushPending(conn);
            },
            .draining => return loop.drainingEvent(conn, event),
            .failed, .reported => return,
            .free => unreachable, // `lookup` finds no free slot
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
        assert(conn.state == .connecting);
        if (!event.writable and !event.hangup) return;
        const errno = socket.pendingErrno(conn.fd);
        if (errno != 0 or (event.hangup and !event.writable)) {
            _ = conn.fail(if (errno != 0) errno else @intFromEnum(posix.E.CONNREFUSED), .connect);
            return loop.reportFailed(conn);
        }
        conn.become(.opening);
        if (conn.remote.any.family != posix.AF.UNIX) {
            conn.remote = socket.remoteAddress(conn.fd) catch |err| switch (err) {
                // The peer left already (its first read reports it): the dialled address stands.
                error.NotConnected, error.ConnectionReset, error.InvalidArgument => conn.remote,
                else => |e| {
                    _ = conn.fail(socket.errnoOf(e), .getpeername);
                    return loop.reportFailed(conn);
                },
            };
        }
        // Writability was watched for the dial: the flush of an empty buffer settles it.
        assert(conn.outbound.isEmpty());
        if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) return loop.reportFailed(conn);
        loop.announce(conn);
    }

    /// Dials `address` (gnet's EventLoop.Register); the connection is announced once connected.
    pub fn register(loop: *EventLoop, network: socket.Network, address: std.net.Address, step: *Syscall) AddError!*Connection {
        assert(loop.buffers != null);
        const fd = switch (network) {
            .udp => try socket.connectDatagram(address, step),
            .tcp, .unix => try socket.connect(address, step),
        };
        errdefer posix.close(fd);
        try loop.configure(fd, network, step);
        step.* = Poller.ctl_syscall;
        const conn = try loop.addConn(fd, network, address, if (network == .udp) .opening else .connecting);
        if (network == .udp) {
            loop.announce(conn);
        } else if (!conn.armWrite(&loop.poller, loop.trigger)) {
            // Edge-triggered registration already watches writability; a refused arm failed
            // the dial, reported by the next drain.
            loop.reportFailed(conn);
        }
        loop.buffers.?.records[layout.Header.generation] = @bitCast(conn.generation);
        return conn;
    }

    /// Adopts a copy of a socket the host had (gnet's Enroll: dup, the original is closed).
    /// An fd that is not a socket (a FIFO the host wrapped) is `NotSocket`, nothing adopted.
    pub fn enroll(loop: *EventLoop, fd: socket.fd_t, network: socket.Network, step: *Syscall) AddError!*Connection {
        assert(fd >= 0);
        assert(loop.buffers != null);
        step.* = .fcntl;
        const copy = try socket.dup(fd);
        errdefer posix.close(copy);
        try socket.setNonBlocking(copy);
        step.* = .getpeername;
        const remote = try socket.remoteAddress(copy);
        step.* = .setsockopt;
        try socket.noSigPipe(copy);
        try loop.configure(copy, network, step);
        step.* = Poller.ctl_syscall;
        const conn = try loop.addConn(copy, network, remote, .opening);
        loop.announce(conn);
        loop.buffers.?.records[layout.Header.generation] = @bitCast(conn.generation);
        return conn;
    }

    /// The engine's socket options on a socket it did not accept (accepted ones inherit them
    /// from the listener): gnet's Client.Enroll applies the buffer sizes, and for TCP
    /// TCP_NODELAY and keep-alive.
    fn configure(loop: *const EventLoop, fd: socket.fd_t, network: socket.Network, step: *Syscall) socket.Error!void {
        assert(fd >= 0);
        const c = loop.engine.config;
        step.* = .setsockopt;
        if (network == .tcp) {
            try socket.setNoDelay(fd, c.no_delay);
            if (c.keep_alive_s > 0) try socket.setKeepAlive(fd, true, c.keep_alive_s, c.keep_interval_s, c.keep_count);
        }
        if (c.recv_buffer > 0) try socket.setRecvBuffer(fd, c.recv_buffer);
        if (c.send_buffer > 0) try socket.setSendBuffer(fd, c.send_buffer);
    }

    fn writable(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state == .open);
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
        assert(conn.state == .open);
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
        if (!loop.pollReadPaused(conn, paused)) return loop.reportFailed(conn);
        // Bytes that arrived while paused: edge triggering reports them only on new data.
        if (!paused and loop.trigger == .edge) {
            conn.read_pending = true;
            loop.pushPending(conn);
        }
    }

    /// Asks the poller to stop (or restart) readability reports; a refusal fails the
    /// connection (false), as a refused write arm does (Connection.armWrite).
    fn pollReadPaused(loop: *EventLoop, conn: *Connection, paused: bool) bool {
        assert(conn.fd >= 0);
        loop.poller.setReadPaused(conn.fd, conn.token(), loop.trigger, paused, conn.write_armed) catch |err| {
            _ = conn.fail(socket.errnoOf(err), Poller.ctl_syscall);
            return false;
        };
        conn.read_paused = paused;
        return true;
    }

    /// One read into the area (gnet: one read per event in LT, a chunk-bounded one in ET).
    fn readable(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state == .open);
        assert(loop.in_drain);
        if (conn.read_paused) return; // resumeRead watches it again
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
        assert(n <= want);
        if (n == 0) {
            _ = conn.fail(0, .read);
            return loop.reportFailed(conn);
        }
        if (conn.inbound.isEmpty()) {
            loop.emitData(conn, loop.area_used, n, 0);
            loop.area_used += n;
        } else {
            // gnet: with bytes already buffered, new ones join them (Next then copies).
            conn.inbound.write(room[0..n]) catch |err| switch (err) {
                error.OutOfMemory => {
                    _ = conn.fail(@intFromEnum(posix.E.NOMEM), .read);
                    return loop.reportFailed(conn);
                },
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
        if ((event.readable or event.read_hangup) and !conn.read_paused) {
            var scratch: [discard_buffer_size]u8 = undefined;
            const n = socket.read(conn.fd, &scratch) catch |err| switch (err) {
                // Nothing to discard now; the connection keeps draining.
                error.WouldBlock => 1,
                // The socket failed: nothing more can be written either.
                else => return loop.finalize(conn),
            };
            // The peer's end of stream: it may still read what we send (a half-close); stop
            // reading (end of stream stays readable) and keep draining.
            if (n == 0 and !loop.pollReadPaused(conn, true)) return loop.finalize(conn);
        }
        if (event.writable) {
            if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) return loop.finalize(conn);
            if (conn.outbound.isEmpty()) return loop.finalize(conn);
        }
    }

    // ---- records ---------------------------------------------------------------------------

    pub fn recordsLeft(loop: *const EventLoop) usize {
        assert(loop.records_count <= layout.records_max);
        return layout.records_max - loop.records_count;
    }

    /// Room for one full read (readBufferCap bytes), or null when the area is used up.
    pub fn readRoom(loop: *EventLoop) ?[]u8 {
        const area = loop.buffers.?.area;
        assert(loop.area_used <= area.len);
        if (area.len - loop.area_used < loop.read_buffer_cap) return null;
        return area[loop.area_used..][0..loop.read_buffer_cap];
    }

    pub fn setMore(loop: *EventLoop) void {
        assert(loop.in_drain);
        loop.buffers.?.records[layout.Header.more] = 1;
    }

    fn nextRecord(loop: *EventLoop) []i32 {
        assert(loop.in_drain);
        assert(loop.records_count < layout.records_max);
        loop.records_count += 1;
        const start = loop.records_count * layout.record_words; // record 0 is the header
        return loop.buffers.?.records[start..][0..layout.record_words];
    }

    /// A record about one connection: kind, slot and generation filled in.
    fn connRecord(loop: *EventLoop, kind: layout.RecordKind, conn: *const Connection) []i32 {
        assert(conn.state != .free);
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
        conn.become(.open);
    }

    fn emitData(loop: *EventLoop, conn: *Connection, offset: usize, length: usize, ring_bytes: usize) void {
        assert(conn.state == .open);
        assert(length > 0 and length <= loop.read_buffer_cap);
        const r = loop.connRecord(.data, conn);
        r[layout.Field.offset] = @intCast(offset);
        r[layout.Field.length] = @intCast(length);
        r[layout.Field.aux] = @intCast(@min(ring_bytes, std.math.maxInt(i32)));
        r[layout.Field.aux2] = @intCast(@min(conn.outbound.buffered(), std.math.maxInt(i32)));
    }

    fn emitWritable(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state == .open);
        const r = loop.connRecord(.writable, conn);
        r[layout.Field.aux] = @intCast(@min(conn.outbound.buffered(), std.math.maxInt(i32)));
        r[layout.Field.aux2] = @bitCast(conn.sent_total);
        conn.writable_report = false;
    }

    fn emitClose(loop: *EventLoop, conn: *Connection) void {
        const r = loop.connRecord(.close, conn);
        r[layout.Field.aux] = conn.close_errno;
        r[layout.Field.aux2] = @intFromEnum(conn.close_syscall);
        conn.become(.reported);
    }

    pub fn emitDatagram(loop: *EventLoop, listener_index: u32, length: usize, remote: *const std.net.Address) void {
        assert(listener_index < loop.listeners.items.len);
        assert(loop.area_used + length <= loop.buffers.?.area.len);
        const r = loop.nextRecord();
        r[layout.Field.kind] = @intFromEnum(layout.RecordKind.datagram);
        r[layout.Field.slot] = @intCast(listener_index);
        r[layout.Field.generation] = 0;
        r[layout.Field.offset] = @intCast(loop.area_used);
        r[layout.Field.length] = @intCast(length);
        const sock_len = remote.getOsSockLen();
        assert(sock_len <= layout.Field.addr_bytes);
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
        assert(errno > 0);
        loop.buffers.?.records[layout.Header.accept_errno] = errno;
    }

    /// A connection accepted and closed at once: the process is out of fds (acceptor.zig).
    pub fn countShed(loop: *EventLoop) void {
        assert(loop.in_drain);
        loop.buffers.?.records[layout.Header.accept_shed] += 1;
    }

    // ---- flush -----------------------------------------------------------------------------

    /// Runs the host's first `count` commands, in order.
    pub fn flush(loop: *EventLoop, count: usize) FlushError!void {
        assert(!loop.in_drain);
        const buffers = loop.buffers.?;
        if (count > layout.commands_max) return error.InvalidCommand;
        const F = layout.CommandField;
        var i: usize = 0;
        // Bounded by `count`: every round consumes at least one command.
        while (i < count) {
            const c = command(buffers, i);
            const kind = std.meta.intToEnum(layout.CommandKind, c[F.kind]) catch return error.InvalidCommand;
            const slot: u32 = @bitCast(c[F.slot]);
            const generation: u32 = @bitCast(c[F.generation]);
            switch (kind) {
                .write => {
                    var parts: [socket.iov_count_max][]const u8 = undefined;
                    var parts_count: usize = 0;
                    var j = i;
                    while (j < count and parts_count < parts.len) : (j += 1) {
                        const w = command(buffers, j);
                        if (w[F.kind] != @intFromEnum(layout.CommandKind.write)) break;
                        if (w[F.slot] != c[F.slot] or w[F.generation] != c[F.generation]) break;
                        parts[parts_count] = try range(try source(buffers, w[F.source]), w[F.offset], w[F.length]);
                        parts_count += 1;
                    }
                    assert(j > i and parts_count == j - i);
                    i = j;
                    const conn = loop.lookup(slot, generation) orelse continue;
                    if (conn.state != .open) continue;
                    if (conn.send(&loop.poller, loop.trigger, parts[0..parts_count]) == .failed) loop.reportFailed(conn);
                },
                .keep => {
                    i += 1;
                    const bytes = try range(try source(buffers, c[F.source]), c[F.offset], c[F.length]);
                    const conn = loop.lookup(slot, generation) orelse continue;
                    if (conn.state != .open) continue;
                    conn.inbound.write(bytes) catch |err| switch (err) {
                        error.OutOfMemory => {
                            _ = conn.fail(@intFromEnum(posix.E.NOMEM), .read);
                            loop.reportFailed(conn);
                        },
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
                    conn.watch_low = if (c[F.offset] >= 0) c[F.offset] else -1;
                    conn.watch_sent = @bitCast(c[F.length]);
                    conn.watch_sent_set = c[F.source] != 0;
                    loop.checkWatch(conn);
                },
            }
        }
        assert(i == count);
    }

    /// A write the host passes directly (too big for its arena, or a datagram reply).
    pub fn writeDirect(loop: *EventLoop, conn: *Connection, data: []const u8) Connection.SendResult {
        assert(!loop.in_drain);
        if (conn.state != .open) return .failed;
        const result = conn.send(&loop.poller, loop.trigger, &.{data});
        if (result == .failed) loop.reportFailed(conn);
        return result;
    }

    /// `Conn.flush()` (host/api.ts): one pass over the outbound buffer now.
    pub fn flushConn(loop: *EventLoop, conn: *Connection) void {
        assert(!loop.in_drain);
        if (conn.state != .open) return;
        if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) return loop.reportFailed(conn);
        loop.checkWatch(conn);
    }
};

fn command(buffers: Buffers, index: usize) []const i32 {
    assert(index < layout.commands_max);
    return buffers.commands[index * layout.command_words ..][0..layout.command_words];
}

/// The bytes a command's source names: host memory, so an unknown source is refused.
fn source(buffers: Buffers, value: i32) FlushError![]u8 {
    const which = std.meta.intToEnum(layout.CommandSource, value) catch return error.InvalidCommand;
    return switch (which) {
        .arena => buffers.arena,
        .area => buffers.area,
    };
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
    posix.clock_gettime(.MONOTONIC, &ts) catch |err| switch (err) {
        // CLOCK_MONOTONIC exists on every system the native engine builds for.
        error.UnsupportedClock, error.Unexpected => unreachable,
    };
    assert(ts.sec >= 0 and ts.nsec >= 0);
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}

// ---- tests ---------------------------------------------------------------------------------

const testing = std.testing;
const TestHost = @import("test_host.zig").TestHost;

/// A connection over one end of a socketpair, announced by a drain (state `open`); returns
/// it and the peer's end.
fn openConn(t: *const TestHost) !struct { conn: *Connection, peer: socket.fd_t } {
    var pair: [2]socket.fd_t = undefined;
    try testing.expectEqual(@as(c_int, 0), std.c.socketpair(posix.AF.UNIX, posix.SOCK.STREAM, 0, &pair));
    try socket.setNonBlocking(pair[0]);
    const conn = try t.loop().addConn(pair[0], .unix, try std.net.Address.initUnix("peer"), .opening);
    t.loop().announce(conn);
    _ = t.loop().drain();
    try testing.expectEqual(State.open, conn.state);
    return .{ .conn = conn, .peer = pair[1] };
}

/// Runs `events` as one batch of a drain (what `drain` does after its wait).
fn dispatchBatch(loop: *EventLoop, events: []const poller_mod.Event) void {
    loop.records_count = 0;
    loop.area_used = 0;
    loop.in_drain = true;
    for (events) |e| loop.dispatch(e);
    loop.in_drain = false;
}

fn testEvent(token: u64, readable: bool, writable: bool) poller_mod.Event {
    return .{ .token = token, .readable = readable, .writable = writable, .hangup = false, .read_hangup = false };
}

test "EventLoop: the stale events of a connection closed mid-batch are dropped" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try openConn(&t);
    const stale = a.conn.token();
    // The peer leaves; one batch holds the conn's read (EOF) and then its write event.
    posix.close(a.peer);
    dispatchBatch(loop, &.{ testEvent(stale, true, false), testEvent(stale, false, true) });
    try testing.expectEqual(@as(usize, 1), loop.records_count);
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.close)), t.record(0)[layout.Field.kind]);
    try testing.expectEqual(@as(i32, 0), t.record(0)[layout.Field.aux]); // end of stream
    try testing.expectEqual(@as(i32, @intFromEnum(Syscall.read)), t.record(0)[layout.Field.aux2]);
    try testing.expectEqual(State.reported, a.conn.state);
    // The host's close frees the slot; a new connection takes it under a new generation.
    loop.closeByHost(a.conn);
    const b = try openConn(&t);
    defer posix.close(b.peer);
    try testing.expect(b.conn == a.conn and b.conn.token() != stale);
    // The old name's events find nothing, and leave the new connection alone.
    dispatchBatch(loop, &.{ testEvent(stale, true, true), testEvent(stale, true, false) });
    try testing.expectEqual(@as(usize, 0), loop.records_count);
    try testing.expectEqual(State.open, b.conn.state);
    try testing.expect(!b.conn.read_pending and !b.conn.write_pending);
}

/// Writes `len` bytes of `fill` to `conn` now; more than its socket takes, so the rest is queued.
/// The caller frees the bytes (testing.allocator).
fn queueBytes(loop: *EventLoop, conn: *Connection, len: usize, fill: u8) ![]u8 {
    const bytes = try testing.allocator.alloc(u8, len);
    @memset(bytes, fill);
    try testing.expectEqual(Connection.SendResult.buffered, loop.writeDirect(conn, bytes));
    return bytes;
}

test "EventLoop: a closed connection with bytes left drains until its deadline" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try openConn(&t);
    defer posix.close(a.peer);
    // Far more than a socketpair holds, with a peer that never reads.
    const big = try queueBytes(loop, a.conn, 4 << 20, 'z');
    defer testing.allocator.free(big);
    loop.closeByHost(a.conn);
    try testing.expectEqual(State.draining, a.conn.state);
    try testing.expectEqual(@as(u32, 1), loop.draining_count);
    // Within the deadline it keeps draining; the drain's header says how many do.
    try testing.expectEqual(@as(u32, 1), loop.reap());
    _ = loop.drain();
    try testing.expectEqual(@as(i32, 1), t.records[layout.Header.draining]);
    try testing.expect(a.conn.drain_deadline_ns > monotonicNs());
    try testing.expect(a.conn.drain_deadline_ns <= monotonicNs() + drain_timeout_ns);
    // At the deadline it is closed, whatever is left.
    a.conn.drain_deadline_ns = monotonicNs();
    try testing.expectEqual(@as(u32, 0), loop.reap());
    try testing.expectEqual(State.free, a.conn.state);
    // A second close command for the old name finds nothing.
    try testing.expect(loop.lookup(a.conn.slot, a.conn.generation -% 1) == null);
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
        loop.announce(conn.*);
        peer.* = pair[1];
    }
    defer for (peers) |peer| posix.close(peer);
    try testing.expectEqual(@as(usize, conns_count), loop.pending.items.len);
    // A batch with three records left: two opens fit (each needs room for a close after it).
    @memset(t.records[0..layout.record_words], 0);
    loop.in_drain = true;
    loop.records_count = layout.records_max - 3;
    loop.processPending();
    loop.in_drain = false;
    try testing.expectEqual(@as(usize, layout.records_max - 1), loop.records_count);
    try testing.expectEqual(@as(i32, 1), t.records[layout.Header.more]);
    try testing.expectEqual(@as(usize, conns_count - 2), loop.pending.items.len);
    for (loop.pending.items) |slot| try testing.expect(loop.conns.items[slot].pending);
    try testing.expect(loop.pending.capacity >= 2 * conns_count);
    // The next drain announces the rest, once each.
    try testing.expectEqual(@as(usize, conns_count - 2), loop.drain());
    try testing.expectEqual(@as(usize, 0), loop.pending.items.len);
    for (conns) |conn| try testing.expectEqual(State.open, conn.state);
}

test "EventLoop: a command with an unknown kind or source, or out of bounds, is refused" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const F = layout.CommandField;
    @memset(t.commands[0..layout.command_words], 0);
    t.commands[F.kind] = 9;
    try testing.expectError(error.InvalidCommand, loop.flush(1));
    t.commands[F.kind] = @intFromEnum(layout.CommandKind.keep);
    t.commands[F.source] = 7;
    try testing.expectError(error.InvalidCommand, loop.flush(1));
    t.commands[F.source] = @intFromEnum(layout.CommandSource.arena);
    t.commands[F.length] = @intCast(t.arena.len + 1);
    try testing.expectError(error.InvalidCommand, loop.flush(1));
    try testing.expectError(error.InvalidCommand, loop.flush(layout.commands_max + 1));
}

/// One command in the host's command array.
fn setCommand(
    t: *const TestHost,
    index: usize,
    kind: layout.CommandKind,
    conn: *const Connection,
    offset: i32,
    length: i32,
    flag: i32,
) void {
    const F = layout.CommandField;
    const c = t.commands[index * layout.command_words ..][0..layout.command_words];
    @memset(c, 0);
    c[F.kind] = @intFromEnum(kind);
    c[F.slot] = @intCast(conn.slot);
    c[F.generation] = @bitCast(conn.generation);
    c[F.offset] = offset;
    c[F.length] = length;
    c[F.source] = flag;
}

test "EventLoop: pause_read stops reads until resume_read, and the bytes wait in the kernel" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try openConn(&t);
    defer posix.close(a.peer);
    setCommand(&t, 0, .pause_read, a.conn, 0, 0, 0);
    try loop.flush(1);
    try testing.expect(a.conn.read_paused);
    _ = try posix.write(a.peer, "held");
    try testing.expectEqual(@as(usize, 0), loop.drain());
    // Even a readiness event (edge-triggered leftovers, a stale batch) reads nothing.
    dispatchBatch(loop, &.{testEvent(a.conn.token(), true, false)});
    try testing.expectEqual(@as(usize, 0), loop.records_count);
    setCommand(&t, 0, .resume_read, a.conn, 0, 0, 0);
    try loop.flush(1);
    try testing.expect(!a.conn.read_paused);
    try testing.expectEqual(@as(usize, 1), loop.drain());
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.data)), t.record(0)[layout.Field.kind]);
    try testing.expectEqual(@as(i32, 4), t.record(0)[layout.Field.length]);
}

test "EventLoop: a watch reports writable once the queue drains to its mark, with the bytes sent" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try openConn(&t);
    defer posix.close(a.peer);
    const big = try queueBytes(loop, a.conn, 1 << 20, 'w');
    defer testing.allocator.free(big);
    const queued = a.conn.outbound.buffered();
    try testing.expect(queued > 0);
    try testing.expectEqual(@as(u32, @intCast(big.len - queued)), a.conn.sent_total);
    // Watch for an empty queue: not yet.
    setCommand(&t, 0, .watch, a.conn, 0, 0, 0);
    try loop.flush(1);
    try testing.expect(a.conn.watching() and !a.conn.writable_report);
    // The peer reads everything; the writes that follow empty the queue and report it.
    try socket.setNonBlocking(a.peer);
    var scratch: [64 * 1024]u8 = undefined;
    var drains: usize = 0;
    while (a.conn.watching() and drains < 1000) : (drains += 1) {
        while (true) {
            const n = posix.read(a.peer, &scratch) catch break;
            if (n == 0) break;
        }
        _ = loop.drain();
    }
    try testing.expect(!a.conn.watching());
    var found = false;
    for (0..loop.records_count) |i| {
        const r = t.record(i);
        if (r[layout.Field.kind] != @intFromEnum(layout.RecordKind.writable)) continue;
        found = true;
        try testing.expectEqual(@as(i32, 0), r[layout.Field.aux]);
        try testing.expectEqual(@as(i32, @intCast(big.len)), r[layout.Field.aux2]);
    }
    try testing.expect(found);
    // A watch for bytes already sent is answered by the next drain.
    setCommand(&t, 0, .watch, a.conn, -1, @intCast(big.len), 1);
    try loop.flush(1);
    try testing.expect(a.conn.writable_report);
    _ = loop.drain();
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.writable)), t.record(0)[layout.Field.kind]);
}

test "EventLoop: a peer that half-closes still gets what was queued for it" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try openConn(&t);
    defer posix.close(a.peer);
    const big = try queueBytes(loop, a.conn, 1 << 20, 'h');
    defer testing.allocator.free(big);
    // The peer shuts its write side: the loop reads end of stream and reports the close...
    try posix.shutdown(a.peer, .send);
    _ = loop.drain();
    try testing.expectEqual(State.reported, a.conn.state);
    try testing.expect(a.conn.drainsAfterEof());
    // ...and after the host's close the queued bytes drain instead of being dropped.
    loop.closeByHost(a.conn);
    try testing.expectEqual(State.draining, a.conn.state);
    try socket.setNonBlocking(a.peer);
    var got: usize = 0;
    var scratch: [64 * 1024]u8 = undefined;
    var rounds: usize = 0;
    while (a.conn.state == .draining and rounds < 10_000) : (rounds += 1) {
        got += posix.read(a.peer, &scratch) catch 0;
        _ = loop.drain();
    }
    while (true) {
        const n = posix.read(a.peer, &scratch) catch break;
        if (n == 0) break;
        got += n;
    }
    try testing.expectEqual(big.len, got);
    try testing.expectEqual(State.free, a.conn.state);
}
