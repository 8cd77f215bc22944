//! The native engine's C ABI (design A, ARCHITECTURE.md 'The batch': a loop is driven from the host
//! thread that polls it). Per loop and per batch the host makes two calls, `zg_loop_drain` and
//! `zg_loop_flush`; everything else is for rarer paths (a connection's inbound bytes once
//! they live in its ring, socket options, big writes, UDP replies).
//! Threads: an engine's loops may each be driven by a thread of their own; every `zg_loop_*`
//! and `zg_conn_*` call on a loop comes from that loop's thread, `zg_engine_*` calls from the
//! thread that made the engine, and `zg_engine_free` only once no loop thread calls any more.
//! Conventions of core_exports.zig: results are isize, negative = status.Code; a system
//! failure carries its errno and syscall in the result itself (syscall.zig's systemResult), so
//! nothing travels through a global.
const std = @import("std");
const assert = std.debug.assert;
const posix = std.posix;
const core = @import("../core/root.zig");
const Code = core.status.Code;
const core_exports = @import("core_exports.zig");
const layout = @import("../engine/layout.zig");
const socket = @import("../engine/socket.zig");
const socket_io = @import("../engine/socket_io.zig");
const engine_mod = @import("../engine/engine.zig");
const Engine = engine_mod.Engine;
const EventLoop = @import("../engine/event_loop.zig").EventLoop;
const loop_drain = @import("../engine/drain.zig");
const loop_commands = @import("../engine/commands.zig");
const loop_dial = @import("../engine/dial.zig");
const loop_lifecycle = @import("../engine/lifecycle.zig");
const loop_records = @import("../engine/records.zig");
const Connection = @import("../engine/connection.zig").Connection;
const boundary = @import("../boundary.zig");
const syscall_mod = @import("../engine/syscall.zig");
const Syscall = syscall_mod.Syscall;

const allocator = std.heap.c_allocator;

/// Engines alive at once in one process (each run()/rotate() is one).
const engines_max = 255;
/// Written under `engines_mutex` (engines made and freed on several threads at once), read
/// without it: a loop's thread looks its engine up on every call.
var engines: [engines_max]?*Engine = [_]?*Engine{null} ** engines_max;
var generations: [engines_max]u16 = [_]u16{0} ** engines_max;
var engines_mutex: std.Thread.Mutex = .{};

fn fail(code: Code) isize {
    assert(code != .ok);
    return @intFromEnum(code);
}

fn failSystem(err: socket.Error, syscall: Syscall) isize {
    assert(err != error.WouldBlock); // retried or absorbed below the ABI, never reported
    const result = syscall_mod.systemResult(socket.errnoOf(err), syscall);
    assert(result <= -syscall_mod.System.base);
    return result;
}

/// A non-negative value as a result (lengths, indices, fds, slots: all well below 2^31).
fn ok(value: usize) isize {
    assert(value <= std.math.maxInt(i32));
    return @intCast(value);
}

pub fn engineOf(handle: i32) ?*Engine {
    if (handle <= 0) return null;
    const raw: u32 = @intCast(handle);
    const index = (raw & 0xff);
    if (index == 0 or index > engines_max) return null;
    if (@atomicLoad(u16, &generations[index - 1], .acquire) != @as(u16, @truncate(raw >> 8))) return null;
    const engine = @atomicLoad(?*Engine, &engines[index - 1], .acquire) orelse return null;
    assert(engine.loops.len >= 1);
    return engine;
}

pub fn loopOf(handle: i32, loop_index: u32) ?*EventLoop {
    const engine = engineOf(handle) orelse return null;
    if (loop_index >= engine.loops.len) return null;
    const loop = &engine.loops[loop_index];
    assert(loop.index == loop_index);
    return loop;
}

pub fn connOf(handle: i32, loop_index: u32, slot: u32, generation: u32) ?*Connection {
    const loop = loopOf(handle, loop_index) orelse return null;
    const conn = loop.lookup(slot, generation) orelse return null;
    assert(conn.state != .free);
    return conn;
}

const bytesIn = core_exports.bytesIn;
const bytesOut = core_exports.bytesOut;

// ---- tables and options ----------------------------------------------------------------

pub const InboundOp = enum(u32) { read = 0, peek = 1, discard = 2, buffered = 3 };
pub const SocketOption = enum(u32) { no_delay = 0, keep_alive = 1, linger = 2, recv_buffer = 3, send_buffer = 4 };

/// The engine's named integers, checked by the host at load (boundary.zig).
pub const items = layout.items ++
    boundary.enumItems("network", socket.Network) ++
    boundary.enumItems("inbound_op", InboundOp) ++
    boundary.enumItems("socket_option", SocketOption);

pub export fn zg_engine_option_name(i: u32) ?[*:0]const u8 {
    if (i >= engine_mod.options_count) return null;
    return @tagName(@as(engine_mod.Option, @enumFromInt(i))).ptr;
}

pub export fn zg_engine_read_area_size(read_buffer_cap: usize) usize {
    const size = layout.readAreaSize(read_buffer_cap);
    assert(size > read_buffer_cap);
    return size;
}

// ---- engine lifecycle ------------------------------------------------------------------

pub export fn zg_engine_new(values_ptr: ?[*]const i32, values_len: usize, device_ptr: ?[*]const u8, device_len: usize) isize {
    const values = (values_ptr orelse return fail(.invalid_argument))[0..values_len];
    var config = engine_mod.Config.fromValues(values) catch return fail(.invalid_argument);
    config.bind_to_device = bytesIn(device_ptr, device_len) orelse return fail(.invalid_argument);
    var step: Syscall = .none;
    const engine = Engine.create(allocator, config, &step) catch |err| return switch (err) {
        error.InvalidArgument => fail(.invalid_argument),
        error.OutOfMemory => fail(.out_of_memory),
        // EMFILE, ENFILE, ENOMEM, ... as the poller met them, with the call that failed.
        error.ProcessFdQuotaExceeded,
        error.SystemFdQuotaExceeded,
        error.SystemResources,
        error.BadFileDescriptor,
        error.AlreadyRegistered,
        error.NotRegistered,
        error.AccessDenied,
        error.Unexpected,
        => |e| failSystem(e, step),
    };
    engines_mutex.lock();
    defer engines_mutex.unlock();
    const index = for (engines, 0..) |e, i| {
        if (e == null) break i;
    } else {
        engine.destroy();
        return fail(.out_of_memory);
    };
    assert(engines[index] == null);
    @atomicStore(?*Engine, &engines[index], engine, .release);
    const handle = (@as(u32, generations[index]) << 8) | @as(u32, @intCast(index + 1));
    assert(engineOf(@intCast(handle)) == engine);
    return @intCast(handle);
}

/// Closes every socket (connections, listeners; unix paths removed) and frees the engine.
pub export fn zg_engine_free(handle: i32) isize {
    engines_mutex.lock();
    defer engines_mutex.unlock();
    const engine = engineOf(handle) orelse return fail(.invalid_handle);
    const index = (@as(u32, @intCast(handle)) & 0xff) - 1;
    assert(engines[index] == engine);
    @atomicStore(?*Engine, &engines[index], null, .release);
    @atomicStore(u16, &generations[index], generations[index] +% 1, .release);
    engine.destroy();
    assert(engineOf(handle) == null);
    return 0;
}

/// `network`: 0 tcp, 1 udp, 2 unix. `host` is an IP literal (wildcards included) or, for
/// unix, the socket path. Returns the listener's index.
pub export fn zg_engine_listen(handle: i32, network: u32, host_ptr: ?[*]const u8, host_len: usize, port: u32, v6_only: u32) isize {
    const engine = engineOf(handle) orelse return fail(.invalid_handle);
    if (engine.started or engine.listenersFull()) return fail(.invalid_argument);
    const net = std.meta.intToEnum(socket.Network, network) catch return fail(.unsupported_protocol);
    const host = bytesIn(host_ptr, host_len) orelse return fail(.invalid_argument);
    if (port > std.math.maxInt(u16)) return fail(.invalid_network_address);
    const address = parseAddress(net, host, @intCast(port)) orelse return fail(.invalid_network_address);
    var step: Syscall = .none;
    const index = engine.listen(net, address, v6_only != 0, &step) catch |err| return failSystem(err, step);
    assert(index < engine.specs.len);
    return ok(index);
}

/// An IP literal with a port, or a unix path; null for anything else (the host's error).
fn parseAddress(network: socket.Network, host: []const u8, port: u16) ?std.net.Address {
    if (network == .unix) {
        if (host.len == 0) return null;
        const address = std.net.Address.initUnix(host) catch |err| switch (err) {
            error.NameTooLong => return null,
        };
        assert(address.any.family == posix.AF.UNIX);
        return address;
    }
    return std.net.Address.resolveIp(host, port) catch |err| switch (err) {
        // Not an IP literal (names are resolved by the host, never here).
        error.InvalidIPAddressFormat, error.Overflow, error.InvalidCharacter, error.InvalidEnd, error.Incomplete => null,
        // A link-local scope (fe80::1%eth9) that names no interface, or its lookup failing.
        else => null,
    };
}

/// An address's text (Go's form) written into the host's `out`; its length as the result.
fn addressText(out: []u8, address: std.net.Address) isize {
    const text = socket.formatHostPort(out, address);
    assert(text.len <= out.len);
    assert(text.len == 0 or text.ptr == out.ptr);
    return ok(text.len);
}

/// The bound address as Go prints it ("127.0.0.1:40123", "[::1]:9000", a unix path).
pub export fn zg_engine_listener_addr(handle: i32, index: u32, out_ptr: ?[*]u8, out_len: usize) isize {
    const engine = engineOf(handle) orelse return fail(.invalid_handle);
    if (index >= engine.specs.len) return fail(.invalid_argument);
    const out = bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument);
    return addressText(out, engine.specs.get(index).address);
}

pub export fn zg_engine_listener_fd(handle: i32, index: u32) isize {
    const engine = engineOf(handle) orelse return fail(.invalid_handle);
    if (index >= engine.specs.len) return fail(.invalid_argument);
    const fd = engine.specs.get(index).fd;
    assert(fd >= 0);
    return fd;
}

pub export fn zg_engine_start(handle: i32) isize {
    const engine = engineOf(handle) orelse return fail(.invalid_handle);
    if (engine.started) return fail(.invalid_argument);
    var step: Syscall = .none;
    engine.start(&step) catch |err| return switch (err) {
        error.InvalidArgument => fail(.invalid_argument),
        error.OutOfMemory => fail(.out_of_memory),
        // epoll_ctl/kevent adding a listener, or socket..listen of a reuse-port copy: a
        // system error, each of them (failSystem takes only those).
        else => |e| failSystem(e, step),
    };
    assert(engine.started);
    return 0;
}

// ---- loops -------------------------------------------------------------------------------

pub export fn zg_loop_attach(
    handle: i32,
    loop_index: u32,
    records_ptr: ?[*]i32,
    records_len: usize,
    area_ptr: ?[*]u8,
    area_len: usize,
    commands_ptr: ?[*]i32,
    commands_len: usize,
    arena_ptr: ?[*]u8,
    arena_len: usize,
) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    loop.attach(.{
        .records = (records_ptr orelse return fail(.invalid_argument))[0..records_len],
        .area = (area_ptr orelse return fail(.invalid_argument))[0..area_len],
        .commands = (commands_ptr orelse return fail(.invalid_argument))[0..commands_len],
        .arena = (arena_ptr orelse return fail(.invalid_argument))[0..arena_len],
    }) catch |err| switch (err) {
        error.InvalidArgument => return fail(.invalid_argument),
    };
    assert(loop.buffers != null);
    return 0;
}

/// The fd the host watches: readable whenever the loop has something to drain.
pub export fn zg_loop_fd(handle: i32, loop_index: u32) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    const fd = loop.poller.pollFd();
    assert(fd >= 0);
    return fd;
}

/// The fd of listener `index` of a loop (reuse-port loops have their own copies).
pub export fn zg_loop_listener_fd(handle: i32, loop_index: u32, index: u32) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    if (index >= loop.listeners.items.len) return fail(.invalid_argument);
    const fd = loop.listeners.items[index].fd;
    assert(fd >= 0);
    return fd;
}

/// Dials host:port (or a unix path) from a loop; returns the slot (generation in the header).
/// The open (or a close with errno and syscall connect) comes from a later drain.
pub export fn zg_loop_register(handle: i32, loop_index: u32, network: u32, host_ptr: ?[*]const u8, host_len: usize, port: u32) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    if (loop.buffers == null) return fail(.invalid_argument);
    const net = std.meta.intToEnum(socket.Network, network) catch return fail(.unsupported_protocol);
    const host = bytesIn(host_ptr, host_len) orelse return fail(.invalid_argument);
    if (port > std.math.maxInt(u16)) return fail(.invalid_network_address);
    const address = parseAddress(net, host, @intCast(port)) orelse return fail(.invalid_network_address);
    var step: Syscall = .none;
    const conn = loop_dial.register(loop, net, address, &step) catch |err| return switch (err) {
        error.OutOfMemory => fail(.out_of_memory),
        // Every other error is a system error (failSystem takes only those).
        else => |e| failSystem(e, step),
    };
    assert(conn.state == .connecting or conn.state == .opening or conn.state == .open or conn.state == .failed);
    return ok(conn.slot);
}

/// Adopts a dup of `fd` (a connected socket of the host's); the original stays the host's to close.
pub export fn zg_loop_enroll(handle: i32, loop_index: u32, fd: i32, network: u32) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    if (loop.buffers == null or fd < 0) return fail(.invalid_argument);
    const net = std.meta.intToEnum(socket.Network, network) catch return fail(.unsupported_protocol);
    var step: Syscall = .none;
    const conn = loop_dial.enroll(loop, fd, net, &step) catch |err| return switch (err) {
        error.OutOfMemory => fail(.out_of_memory),
        // A system error, each of the rest (failSystem takes only those). A FIFO or file
        // wrapped as a socket: ENOTSOCK (getpeername), not a crash.
        else => |e| failSystem(e, step),
    };
    assert(conn.state == .opening or conn.state == .open);
    return ok(conn.slot);
}

pub export fn zg_loop_drain(handle: i32, loop_index: u32) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    if (loop.buffers == null or !loop.started) return fail(.invalid_argument);
    const count = loop_drain.drain(loop);
    assert(count <= layout.records_max);
    return ok(count);
}

/// Runs `count` commands; returns how many closed connections still drain their output.
pub export fn zg_loop_flush(handle: i32, loop_index: u32, count: u32) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    if (loop.buffers == null) return fail(.invalid_argument);
    loop_commands.flush(loop, count) catch |err| switch (err) {
        // A command the host wrote wrong: its own bug, refused whole from that command on.
        error.InvalidCommand => return fail(.invalid_argument),
    };
    assert(loop.draining_count <= loop.conns.items.len);
    return ok(loop.draining_count);
}

pub export fn zg_loop_reap(handle: i32, loop_index: u32) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    @import("../engine/tls_io.zig").reapHandshakes(loop, loop_lifecycle.monotonicNs());
    const draining = loop_lifecycle.reap(loop);
    assert(draining == loop.draining_count);
    return ok(draining);
}

/// How many draining connections were cut off (no progress for the flush bound) since the
/// last call: the host logs them, so that no loss goes unreported.
pub export fn zg_loop_cut_off(handle: i32, loop_index: u32) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    loop.assertOwnerThread();
    const count = loop.cut_off_count;
    loop.cut_off_count = 0;
    return ok(count);
}

// ---- connections -------------------------------------------------------------------------

/// A write too big for the host's arena, now; on a connected UDP conn every write (one
/// datagram, sent or refused now: the errno comes back, the conn stays open).
pub export fn zg_conn_write(handle: i32, loop_index: u32, slot: u32, generation: u32, ptr: ?[*]const u8, len: usize) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    const conn = loop.lookup(slot, generation) orelse return fail(.conn_closed);
    const data = bytesIn(ptr, len) orelse return fail(.invalid_argument);
    if (conn.network == .udp) {
        if (conn.state != .open) return fail(.conn_closed);
        return sentResult(conn.sendDatagram(data), data.len, .write);
    }
    return switch (loop_commands.writeDirect(loop, conn, data)) {
        .sent, .buffered => ok(len),
        .failed => fail(.conn_closed),
    };
}

pub export fn zg_conn_flush(handle: i32, loop_index: u32, slot: u32, generation: u32) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    const conn = loop.lookup(slot, generation) orelse return fail(.conn_closed);
    loop_commands.flushConn(loop, conn);
    return ok(conn.outbound.buffered());
}

pub export fn zg_conn_outbound(handle: i32, loop_index: u32, slot: u32, generation: u32) isize {
    const conn = connOf(handle, loop_index, slot, generation) orelse return 0;
    return ok(conn.outbound.buffered());
}

/// The inbound ring: read (copy and consume), peek (copy), discard (`len` bytes), buffered.
pub export fn zg_conn_inbound(handle: i32, loop_index: u32, slot: u32, generation: u32, op: u32, ptr: ?[*]u8, len: usize) isize {
    const conn = connOf(handle, loop_index, slot, generation) orelse return fail(.conn_closed);
    const which = std.meta.intToEnum(InboundOp, op) catch return fail(.invalid_argument);
    switch (which) {
        .read, .peek => {
            const out = bytesOut(ptr, len) orelse return fail(.invalid_argument);
            if (which == .read) {
                const n = conn.inbound.read(out);
                conn.consumeHints(n);
                assert(n <= out.len);
                return ok(n);
            }
            var copied: usize = 0;
            for (conn.inbound.peek(out.len)) |part| {
                @memcpy(out[copied..][0..part.len], part);
                copied += part.len;
            }
            assert(copied <= out.len);
            return ok(copied);
        },
        .discard => {
            const n = conn.inbound.discard(len);
            conn.consumeHints(n);
            assert(n <= len);
            return ok(n);
        },
        .buffered => return ok(conn.inbound.buffered()),
    }
}

/// A codec's batch scan of the connection's stream (core_exports.scanInto): first
/// `ring_discard` bytes leave the inbound ring (frames the host handed out), then frames are
/// decoded, without consuming them, from the ring followed by `chunk` (the unread part of the
/// bytes just read, still in the loop's area; the host consumes chunk bytes itself).
pub export fn zg_conn_scan(
    handle: i32,
    loop_index: u32,
    slot: u32,
    generation: u32,
    codec_handle: i32,
    ring_discard: usize,
    out_ptr: ?[*]u8,
    out_len: usize,
    out_offset: usize,
    frames_ptr: ?[*]i32,
    frames_len: usize,
    chunk_offset: usize,
    chunk_len: usize,
    reset_hint: u32,
) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    const conn = loop.lookup(slot, generation) orelse return fail(.conn_closed);
    const codec = core_exports.codecByHandle(codec_handle) orelse return fail(.invalid_handle);
    const buffers = loop.buffers orelse return fail(.invalid_argument);
    if (out_offset > out_len or frames_len < core_exports.frame_record_words) return fail(.invalid_argument);
    const out = (bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument))[out_offset..];
    const frames = (frames_ptr orelse return fail(.invalid_argument))[0..frames_len];
    if (chunk_offset > buffers.area.len or chunk_len > buffers.area.len - chunk_offset) return fail(.invalid_argument);
    if (ring_discard > conn.inbound.buffered()) return fail(.invalid_argument);
    const chunk = buffers.area[chunk_offset..][0..chunk_len];
    const hints = conn.hintsForScan(loop.allocator) catch return fail(.out_of_memory);
    if (reset_hint != 0) hints.reset();
    if (ring_discard > 0) {
        assert(conn.inbound.discard(ring_discard) == ring_discard);
        hints.consume(ring_discard);
    }
    const ring = conn.inbound.peek(conn.inbound.buffered());
    const input: core.codec.Input = .{ .parts = .{ ring[0], ring[1], chunk } };
    return core_exports.scanInto(codec, input, hints, out, frames);
}

/// which: 0 local, 1 remote; Go's text form.
pub export fn zg_conn_addr(handle: i32, loop_index: u32, slot: u32, generation: u32, which: u32, out_ptr: ?[*]u8, out_len: usize) isize {
    const conn = connOf(handle, loop_index, slot, generation) orelse return fail(.conn_closed);
    const out = bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument);
    if (which != 1) return addressText(out, socket.localAddress(conn.fd) catch |err| return failSystem(err, .getsockname));
    // A unix peer's path is the socket's to tell.
    const remote = conn.remote.address() orelse socket.remoteAddress(conn.fd) catch |err| return failSystem(err, .getpeername);
    return addressText(out, remote);
}

/// The text form of datagram record `record_index`'s sender.
pub export fn zg_datagram_addr(handle: i32, loop_index: u32, record_index: u32, out_ptr: ?[*]u8, out_len: usize) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    const out = bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument);
    const remote = loop_records.datagramRemote(loop, record_index) orelse return fail(.conn_closed);
    return addressText(out, remote);
}

/// Replies to the sender of datagram record `record_index` (gnet: UDP Write is sendto).
pub export fn zg_datagram_reply(handle: i32, loop_index: u32, record_index: u32, ptr: ?[*]const u8, len: usize) isize {
    const loop = loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    const remote = loop_records.datagramRemote(loop, record_index) orelse return fail(.conn_closed);
    // The record array is the host's memory: re-check what it says before using it.
    const listener_raw = loop.buffers.?.records[record_index * layout.record_words + layout.Field.slot];
    if (listener_raw < 0 or listener_raw >= loop.listeners.items.len) return fail(.invalid_argument);
    const data = bytesIn(ptr, len) orelse return fail(.invalid_argument);
    const fd = loop.listeners.items[@intCast(listener_raw)].fd;
    assert(fd >= 0); // a listener's socket is open while its loop lives
    return sentResult(socket_io.sendTo(fd, data, &remote), data.len, .sendto);
}

/// One datagram's result: the bytes sent (all of them: a datagram is never cut), or the errno.
fn sentResult(result: anytype, len: usize, syscall: Syscall) isize {
    const sent = result catch |err| return failSystem(err, syscall);
    assert(sent <= len);
    return ok(sent);
}

/// sendto from a UDP socket `fd` to host:port.
pub export fn zg_udp_sendto(fd: i32, ptr: ?[*]const u8, len: usize, host_ptr: ?[*]const u8, host_len: usize, port: u32) isize {
    const data = bytesIn(ptr, len) orelse return fail(.invalid_argument);
    const host = bytesIn(host_ptr, host_len) orelse return fail(.invalid_argument);
    if (port > std.math.maxInt(u16) or fd < 0) return fail(.invalid_network_address);
    const remote = parseAddress(.udp, host, @intCast(port)) orelse return fail(.invalid_network_address);
    return sentResult(socket_io.sendTo(fd, data, &remote), data.len, .sendto);
}

/// sendto a raw sockaddr (a datagram's sender kept by the host after its callback).
pub export fn zg_udp_sendto_raw(fd: i32, ptr: ?[*]const u8, len: usize, addr_ptr: ?[*]const u8, addr_len: usize) isize {
    const data = bytesIn(ptr, len) orelse return fail(.invalid_argument);
    const raw = bytesIn(addr_ptr, addr_len) orelse return fail(.invalid_argument);
    if (fd < 0 or raw.len < @sizeOf(posix.sockaddr.in) or raw.len > @sizeOf(std.net.Address)) return fail(.invalid_network_address);
    var remote: std.net.Address = undefined;
    @memcpy(std.mem.asBytes(&remote)[0..raw.len], raw);
    return sentResult(socket_io.sendTo(fd, data, &remote), data.len, .sendto);
}

// ---- sockets by fd (Conn.set*, dup) --------------------------------------------------------

pub export fn zg_socket_setopt(fd: i32, option: u32, a: i32, b: i32, c: i32, d: i32) isize {
    if (fd < 0) return fail(.invalid_argument);
    const which = std.meta.intToEnum(SocketOption, option) catch return fail(.invalid_argument);
    const result = switch (which) {
        .no_delay => socket.setNoDelay(fd, a != 0),
        .keep_alive => socket.setKeepAlive(fd, a != 0, @intCast(@max(b, 0)), @intCast(@max(c, 0)), @intCast(@max(d, 0))),
        .linger => socket.setLinger(fd, a),
        .recv_buffer => socket.setRecvBuffer(fd, @intCast(@max(a, 0))),
        .send_buffer => socket.setSendBuffer(fd, @intCast(@max(a, 0))),
    };
    result catch |err| return failSystem(err, .setsockopt);
    return 0;
}

pub export fn zg_socket_dup(fd: i32) isize {
    if (fd < 0) return fail(.invalid_argument);
    const copy = socket.dup(fd) catch |err| return failSystem(err, .fcntl);
    assert(copy >= 0 and copy != fd);
    return copy;
}

comptime {
    // The handle keeps the engine index in its low byte, the generation above it.
    assert(engines_max <= 255);
}

test "engine exports: a system failure's result carries errno and syscall, apart from statuses" {
    const result = failSystem(error.SystemFdQuotaExceeded, .epoll_create1);
    const code = -result - syscall_mod.System.base;
    try std.testing.expectEqual(@as(isize, @intFromEnum(posix.E.NFILE)), @mod(code, syscall_mod.System.errno_limit));
    try std.testing.expectEqual(@as(isize, @intFromEnum(Syscall.epoll_create1)), @divFloor(code, syscall_mod.System.errno_limit));
    try std.testing.expect(result < Code.last);
    const mfile = failSystem(error.ProcessFdQuotaExceeded, .epoll_create1);
    try std.testing.expect(mfile != result);
}

test "engine exports: enrolling a FIFO answers ENOTSOCK, the engine goes on" {
    var values: [engine_mod.options_count]i32 = .{ 1, 0, 0, 0, 64 * 1024, 64 * 1024, 0, 0, 0, 1, 0, 0, 0, 0, 0 };
    const handle: i32 = @intCast(zg_engine_new(&values, values.len, null, 0));
    defer _ = zg_engine_free(handle);
    const gpa = std.testing.allocator;
    const records = try gpa.alloc(i32, (layout.records_max + 1) * layout.record_words);
    defer gpa.free(records);
    const area = try gpa.alloc(u8, layout.readAreaSize(64 * 1024));
    defer gpa.free(area);
    const commands = try gpa.alloc(i32, layout.commands_max * layout.command_words);
    defer gpa.free(commands);
    var arena: [64]u8 = undefined;
    const attached = zg_loop_attach(handle, 0, records.ptr, records.len, area.ptr, area.len, commands.ptr, commands.len, &arena, arena.len);
    try std.testing.expectEqual(@as(isize, 0), attached);
    try std.testing.expectEqual(@as(isize, 0), zg_engine_start(handle));
    var fds: [2]posix.fd_t = undefined;
    try std.testing.expectEqual(@as(c_int, 0), std.c.pipe(&fds));
    defer posix.close(fds[0]);
    defer posix.close(fds[1]);
    for ([_]socket.Network{ .tcp, .udp, .unix }) |network| {
        const result = zg_loop_enroll(handle, 0, fds[0], @intFromEnum(network));
        try std.testing.expectEqual(syscall_mod.systemResult(@intFromEnum(posix.E.NOTSOCK), .getpeername), result);
    }
    try std.testing.expectEqual(@as(isize, 0), zg_loop_drain(handle, 0));
}

test "engine exports: a poller that cannot open reports EMFILE and the call that failed" {
    const first: Syscall = switch (@import("builtin").os.tag) {
        .linux => .epoll_create1,
        else => .kqueue,
    };
    var values: [engine_mod.options_count]i32 = .{ 1, 0, 0, 0, 64 * 1024, 64 * 1024, 0, 0, 0, 1, 0, 0, 0, 0, 0 };
    const saved = try posix.getrlimit(.NOFILE);
    // The lowest free fd is where the next one would go: a limit there makes it fail.
    const probe = try posix.dup(1);
    posix.close(probe);
    var limit = saved;
    limit.cur = @intCast(probe);
    try posix.setrlimit(.NOFILE, limit);
    const result = zg_engine_new(&values, values.len, null, 0);
    try posix.setrlimit(.NOFILE, saved);
    try std.testing.expectEqual(syscall_mod.systemResult(@intFromEnum(posix.E.MFILE), first), result);
}
