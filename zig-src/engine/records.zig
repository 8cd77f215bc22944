//! The records a drain writes for the host (layout.zig): one per event, in the host's records
//! array after the header record. Every function here runs inside a drain, on the loop's
//! thread, and only writes host memory; none of them touches a socket.
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const layout = @import("layout.zig");
const socket = @import("socket.zig");
const connection = @import("connection.zig");
const Connection = connection.Connection;
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;

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
    const r = nextRecord(loop);
    r[layout.Field.kind] = @intFromEnum(kind);
    r[layout.Field.slot] = @intCast(conn.slot);
    r[layout.Field.generation] = @bitCast(conn.generation);
    return r;
}

pub fn emitOpen(loop: *EventLoop, conn: *Connection) void {
    const r = connRecord(loop, .open, conn);
    r[layout.Field.aux] = conn.fd;
    r[layout.Field.aux2] = @intFromEnum(conn.network);
    conn.become(.open);
}

pub fn emitData(loop: *EventLoop, conn: *Connection, offset: usize, length: usize, ring_bytes: usize) void {
    assert(conn.state == .open);
    assert(length > 0 and length <= loop.read_buffer_cap);
    const r = connRecord(loop, .data, conn);
    r[layout.Field.offset] = @intCast(offset);
    r[layout.Field.length] = @intCast(length);
    r[layout.Field.aux] = @intCast(@min(ring_bytes, std.math.maxInt(i32)));
    r[layout.Field.aux2] = @intCast(@min(conn.outbound.buffered(), std.math.maxInt(i32)));
}

pub fn emitWritable(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .open);
    const r = connRecord(loop, .writable, conn);
    r[layout.Field.aux] = @intCast(@min(conn.outbound.buffered(), std.math.maxInt(i32)));
    r[layout.Field.aux2] = @bitCast(conn.sent_total);
    conn.writable_report = false;
}

/// The peer's FIN (after its last data record); aux2 = bytes in the outbound buffer.
pub fn emitEnd(loop: *EventLoop, conn: *Connection) void {
    assert(conn.state == .open);
    assert(conn.read_ended);
    const r = connRecord(loop, .end, conn);
    r[layout.Field.aux2] = @intCast(@min(conn.outbound.buffered(), std.math.maxInt(i32)));
}

pub fn emitClose(loop: *EventLoop, conn: *Connection) void {
    const r = connRecord(loop, .close, conn);
    r[layout.Field.aux] = conn.close_errno;
    r[layout.Field.aux2] = @intFromEnum(conn.close_syscall);
    // Syscall `tls`: why (an OpenSSL error code or a tls_io.Failure).
    r[layout.Field.length] = @bitCast(conn.tls_error);
    conn.become(.reported);
}

/// A datagram received into `slot`, one of the area's datagram slots.
pub fn emitDatagram(loop: *EventLoop, listener_index: u32, slot: []const u8, length: usize, remote: *const std.net.Address) void {
    assert(listener_index < loop.listeners.items.len);
    assert(length <= slot.len);
    const area = loop.buffers.?.area;
    assert(@intFromPtr(slot.ptr) >= @intFromPtr(area.ptr) and @intFromPtr(slot.ptr + slot.len) <= @intFromPtr(area.ptr + area.len));
    const r = nextRecord(loop);
    r[layout.Field.kind] = @intFromEnum(layout.RecordKind.datagram);
    r[layout.Field.slot] = @intCast(listener_index);
    r[layout.Field.generation] = 0;
    r[layout.Field.offset] = @intCast(@intFromPtr(slot.ptr) - @intFromPtr(area.ptr));
    r[layout.Field.length] = @intCast(length);
    const sock_len = remote.getOsSockLen();
    assert(sock_len <= layout.Field.addr_bytes);
    r[layout.Field.aux2] = @intCast(sock_len);
    const addr_bytes = std.mem.sliceAsBytes(r[layout.Field.addr..]);
    @memset(addr_bytes, 0);
    @memcpy(addr_bytes[0..sock_len], std.mem.asBytes(remote)[0..sock_len]);
}

/// Datagram replies a flush dropped, told in the next drain's header (the host logs them).
pub fn reportRefused(loop: *EventLoop) void {
    assert(loop.in_drain);
    const refused = loop.datagrams_refused;
    if (refused.count == 0) return;
    const header = loop.buffers.?.records[0..layout.record_words];
    header[layout.Header.datagrams_refused] = @intCast(@min(refused.count, std.math.maxInt(i32)));
    header[layout.Header.datagrams_refused_errno] = socket.errnoOf(refused.last.?);
    loop.datagrams_refused = .{};
}

/// The remote address of datagram record `index` (for a reply).
pub fn datagramRemote(loop: *EventLoop, index: usize) ?std.net.Address {
    loop.assertOwnerThread();
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
