//! One event loop (gnet's eventloop_unix.go): its state, and the slot table's two ends. The
//! host drives it in two calls per batch, each the job of its own file:
//!   drain.zig     drain(): one non-blocking wait; accept (acceptor.zig), read each ready
//!                 connection once into the loop's read area (reads packed one after
//!                 another), write pending outbound bytes on writability (conn_io.zig); every
//!                 event becomes a fixed-size record for the host (records.zig).
//!   commands.zig  flush(): the host's commands in order: writes (consecutive writes of a
//!                 connection become one writev), unread bytes kept in the inbound ring, closes.
//! Beside them: dial.zig (connections the host dials or brings), lifecycle.zig (announce,
//! report a failure, the host's close, draining, reaping), acceptor.zig (listeners, and placing
//! what they accept on a loop). Each of those files takes the loop (`*EventLoop`) and imports
//! this one; this one imports none of them.
//! Work that arises outside a drain (a write that failed in a flush, a connection accepted
//! for this loop by another one, an edge-triggered read cut short) goes to the pending list
//! and wakes the poller, so it is reported by the next drain: nothing calls the host back.
//! Loops may run on different threads (one each): what one loop hands another — an accepted
//! connection — goes through the target's inbox (inbox.zig), the only state of a loop another
//! thread touches, and the target's poller wake (poller.zig gives the order that loses no wake).
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const socket_io = @import("socket_io.zig");
const layout = @import("layout.zig");
const poller_mod = @import("poller.zig");
const Poller = poller_mod.Poller;
const Trigger = poller_mod.Trigger;
const connection = @import("connection.zig");
const Connection = connection.Connection;
const State = connection.State;
const Syscall = @import("syscall.zig").Syscall;
const token = @import("token.zig");
const Config = @import("config.zig").Config;
const Balancer = @import("balancer.zig").Balancer;
const inbox_mod = @import("inbox.zig");
const Inbox = inbox_mod.Inbox;
const Accepted = inbox_mod.Accepted;
const inbox_max = inbox_mod.inbox_max;

/// The host's memory (layout.zig); its addresses stay valid while the host keeps the arrays.
pub const Buffers = struct {
    records: []i32,
    area: []u8,
    commands: []i32,
    arena: []u8,
};

pub const Listener = struct {
    fd: socket.fd_t,
    network: socket.Network,
    /// The engine's listener this one serves (reuse-port loops open their own copies).
    spec_index: u32,
    /// Loop-owned copies are closed by the loop; the engine closes its originals.
    loop_owned: bool,
};

/// Handshakes of accepted TLS connections that failed since the host last asked, and the
/// last one's reason (an OpenSSL error code or a tls_io.Failure).
pub const TlsFailures = struct {
    count: u32 = 0,
    last: u32 = 0,
};

pub const EventLoop = struct {
    index: u32,
    /// The engine's, shared by every loop: read-only once the engine exists.
    config: *const Config,
    /// The engine's load balancer (its counts are shared by every loop's thread).
    balancer: *Balancer,
    /// The engine's loops, this one at `index`: where the acceptor places connections.
    peers: []EventLoop,
    /// Set by the engine's start(): listeners joined, drains may run.
    started: bool = false,
    /// The thread that attached the loop's memory: the one that drives it. Loops may run on
    /// worker threads (one each); drain, flush and lookup run on the owner only, since only
    /// the inbox is shared with other threads.
    owner: ?std.Thread.Id = null,
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
    /// Bytes of the area's packed part this drain's stream reads used.
    area_used: usize = 0,
    /// Datagram slots (after the packed part) this drain's datagrams used.
    datagram_slots_used: usize = 0,
    /// The scratch of recvmmsg in a drain and of sendmmsg in a flush.
    datagram_batch: *socket_io.DatagramBatch,
    /// Datagram replies the flushes since the last drain dropped (records.reportRefused).
    datagrams_refused: socket_io.Refused = .{},
    in_drain: bool = false,
    draining_count: u32 = 0,
    /// Draining connections closed for lack of progress since the host last asked.
    cut_off_count: u32 = 0,
    /// Given up to accept (and close) connections when the process is out of fds.
    reserve_fd: socket.fd_t = -1,
    /// Filled by the accepting loop's thread, emptied by this loop's (after a wake).
    inbox: *Inbox,
    /// What this loop took from its inbox, adopted outside the lock.
    inbox_taken: *std.BoundedArray(Accepted, inbox_max),
    /// TLS connections in their handshake (`handshaking`), which `reap` times out.
    handshaking_count: u32 = 0,
    /// Accepted TLS handshakes that failed since the host last asked (tls_io.zig).
    tls_failures: TlsFailures = .{},

    /// Joining the loop: the poller's registration, memory, or every slot taken
    /// (SystemResources, as the kernel says when out of fds).
    pub const AddError = poller_mod.CtlError || error{ OutOfMemory, SystemResources };

    /// `step` names the call under way, for the error's `syscall`. `peers` are the engine's
    /// loops, this one among them (at `index`), which the acceptor places connections on.
    pub fn init(
        allocator: std.mem.Allocator,
        config: *const Config,
        balancer: *Balancer,
        peers: []EventLoop,
        index: u32,
        step: *Syscall,
    ) (poller_mod.OpenError || error{OutOfMemory})!EventLoop {
        assert(index < config.loops_count and peers.len == config.loops_count);
        assert(config.read_buffer_cap > 0 and config.write_buffer_cap > 0);
        const inbox = try allocator.create(Inbox);
        errdefer allocator.destroy(inbox);
        inbox.* = .{};
        const inbox_taken = try allocator.create(std.BoundedArray(Accepted, inbox_max));
        errdefer allocator.destroy(inbox_taken);
        inbox_taken.* = .{};
        const datagram_batch = try allocator.create(socket_io.DatagramBatch);
        errdefer allocator.destroy(datagram_batch);
        datagram_batch.* = .{};
        return .{
            .index = index,
            .config = config,
            .balancer = balancer,
            .peers = peers,
            .allocator = allocator,
            .inbox = inbox,
            .inbox_taken = inbox_taken,
            .datagram_batch = datagram_batch,
            .poller = try Poller.open(step),
            .trigger = if (config.edge_triggered) .edge else .level,
            .read_buffer_cap = config.read_buffer_cap,
            .write_buffer_cap = config.write_buffer_cap,
            .et_chunk = if (config.edge_triggered) config.edge_chunk else std.math.maxInt(usize),
            .reserve_fd = openReserve(),
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
        loop.allocator.destroy(loop.datagram_batch);
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
        loop.owner = std.Thread.getCurrentId();
        assert(loop.readRoom() != null);
    }

    /// Drain and flush run on the thread that attached the loop, and nowhere else.
    pub fn assertOwned(loop: *const EventLoop) void {
        assert(loop.buffers != null);
        assert(loop.owner != null);
        loop.assertOwnerThread();
    }

    /// Everything that touches the loop's connections or records (lookup, reap, dial, enroll,
    /// a datagram's sender) runs on its owner; before attach there is no owner yet.
    pub fn assertOwnerThread(loop: *const EventLoop) void {
        // Cheap: std caches the id in a thread-local on Linux.
        if (loop.owner) |owner| assert(owner == std.Thread.getCurrentId());
    }

    pub fn addListener(loop: *EventLoop, listener: Listener) (poller_mod.CtlError || error{OutOfMemory})!void {
        assert(listener.fd >= 0);
        const index: u32 = @intCast(loop.listeners.items.len);
        try loop.listeners.append(loop.allocator, listener);
        errdefer _ = loop.listeners.pop();
        try loop.poller.addRead(listener.fd, token.listener(index), .level);
    }

    /// Registers a new socket with this loop as `to` (`connecting` for a dial in flight,
    /// `opening` otherwise: the host learns of it from an open record), and counts it.
    pub fn addConn(loop: *EventLoop, fd: socket.fd_t, network: socket.Network, remote: std.net.Address, to: State) AddError!*Connection {
        const conn = try loop.join(fd, network, remote, to);
        loop.balancer.connOpened(loop.index);
        return conn;
    }

    /// addConn without the count: accepted connections are counted when placed.
    pub fn join(loop: *EventLoop, fd: socket.fd_t, network: socket.Network, remote: std.net.Address, to: State) AddError!*Connection {
        assert(fd >= 0);
        const conn = if (loop.free_slots.popOrNull()) |slot| loop.conns.items[slot] else blk: {
            const slot: u32 = @intCast(loop.conns.items.len);
            if (slot >= token.slots_max) return error.SystemResources;
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
            conn.release(loop.allocator);
            loop.free_slots.appendAssumeCapacity(conn.slot);
            return err;
        };
        assert(loop.pending.capacity >= 2 * loop.conns.items.len);
        return conn;
    }

    /// From another loop's thread: queues `accepted` for this loop and wakes it. False when
    /// the inbox is full (this loop is far behind): the caller keeps the connection.
    pub fn handOff(loop: *EventLoop, accepted: Accepted) bool {
        assert(accepted.fd >= 0);
        if (!loop.inbox.push(accepted)) return false;
        loop.poller.wake();
        return true;
    }

    /// The connection a host name (slot, generation) refers to, if it still exists.
    pub fn lookup(loop: *EventLoop, slot: u32, generation: u32) ?*Connection {
        // Before attach the loop has no connection, and no owner yet.
        loop.assertOwnerThread();
        if (slot >= loop.conns.items.len) return null;
        const conn = loop.conns.items[slot];
        if (conn.state == .free or conn.generation != generation) return null;
        assert(conn.slot == slot);
        return conn;
    }

    pub fn pushPending(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state != .free);
        if (!conn.pending) {
            conn.pending = true;
            loop.pending.appendAssumeCapacity(conn.slot);
        }
        if (!loop.in_drain) loop.poller.wake();
    }

    /// Stops watching a connection's socket.
    pub fn unwatch(loop: *EventLoop, conn: *Connection) void {
        assert(conn.fd >= 0);
        loop.poller.delete(conn.fd) catch |err| switch (err) {
            // Harmless, whichever it is: either the fd closes right after (which unregisters
            // it), or its later events find a connection that is no longer live and are
            // dropped by `dispatch`. BadFileDescriptor: the host closed our fd behind our back.
            error.BadFileDescriptor,
            error.NotRegistered,
            error.AlreadyRegistered,
            error.SystemResources,
            error.AccessDenied,
            error.Unexpected,
            => {},
        };
        conn.write_armed = false;
    }

    /// A TLS connection's handshake is over (done, failed or abandoned): no longer timed.
    pub fn endHandshake(loop: *EventLoop, conn: *Connection) void {
        if (conn.handshake_deadline_ns == 0) return;
        assert(loop.handshaking_count > 0);
        loop.handshaking_count -= 1;
        conn.handshake_deadline_ns = 0;
    }

    /// Closes the socket and frees the slot.
    pub fn finalize(loop: *EventLoop, conn: *Connection) void {
        assert(conn.state != .free);
        loop.endHandshake(conn);
        switch (conn.state) {
            .connecting, .handshaking, .opening, .open => {
                loop.balancer.connClosed(loop.index);
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
        conn.release(loop.allocator);
        loop.free_slots.appendAssumeCapacity(conn.slot);
    }

    pub fn recordsLeft(loop: *const EventLoop) usize {
        assert(loop.records_count <= layout.records_max);
        return layout.records_max - loop.records_count;
    }

    /// Room for one full read (readBufferCap bytes), or null when the packed part is used up.
    pub fn readRoom(loop: *EventLoop) ?[]u8 {
        const packed_size = layout.packedAreaSize(loop.read_buffer_cap);
        assert(loop.area_used <= packed_size);
        if (packed_size - loop.area_used < loop.read_buffer_cap) return null;
        return loop.buffers.?.area[loop.area_used..][0..loop.read_buffer_cap];
    }

    /// Datagram slots this drain has not used yet.
    pub fn datagramSlotsLeft(loop: *const EventLoop) usize {
        const count = layout.datagramSlotsCount(loop.read_buffer_cap);
        assert(loop.datagram_slots_used <= count);
        return count - loop.datagram_slots_used;
    }

    /// Datagram slot `index` of the area (after the packed part).
    pub fn datagramSlot(loop: *const EventLoop, index: usize) []u8 {
        assert(index < layout.datagramSlotsCount(loop.read_buffer_cap));
        const size = layout.datagramSlotSize(loop.read_buffer_cap);
        const start = layout.packedAreaSize(loop.read_buffer_cap) + index * size;
        return loop.buffers.?.area[start..][0..size];
    }

    pub fn setMore(loop: *EventLoop) void {
        assert(loop.in_drain);
        loop.buffers.?.records[layout.Header.more] = 1;
    }
};

/// The fd a loop keeps to give up when the process runs out of them; -1 if none could be had.
pub fn openReserve() socket.fd_t {
    return posix.open("/dev/null", .{ .CLOEXEC = true }, 0) catch |err| switch (err) {
        // No reserve: out of fds, the loop then reports the accept error instead of shedding.
        else => -1,
    };
}
