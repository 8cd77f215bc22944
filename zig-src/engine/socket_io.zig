//! Socket I/O: one read, a writev that never raises SIGPIPE, and datagrams in and out. Every
//! call is non-blocking; WouldBlock is how "not now" comes back.
const std = @import("std");
const builtin = @import("builtin");
const posix = std.posix;
const assert = std.debug.assert;
const E = posix.E;
const Address = std.net.Address;
const socket = @import("socket.zig");
const fd_t = socket.fd_t;
const Network = socket.Network;
const errorIn = socket.errorIn;
const setKeepAlive = socket.setKeepAlive;
const addressFrom = socket.addressFrom;
const is_linux = socket.is_linux;
const is_darwin = socket.is_darwin;
const SO = socket.SO;
const SOL = socket.SOL;
const IPPROTO = socket.IPPROTO;
const Syscall = @import("syscall.zig").Syscall;

/// read(2) on a stream socket (std.posix.ReadError's errnos that a socket can answer).
pub const ReadError = error{
    WouldBlock,
    ConnectionReset,
    TimedOut,
    NotConnected,
    BadFileDescriptor,
    SystemResources,
    NoBufferSpace,
    Unexpected,
};
/// send/sendmsg/writev on a connected socket; a connected UDP socket reports the ICMP errors
/// of earlier datagrams here too (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH), and a firewall's
/// drop as EPERM (AccessDenied).
pub const WriteError = error{
    WouldBlock,
    BrokenPipe,
    ConnectionReset,
    NotConnected,
    TimedOut,
    MessageTooBig,
    NoBufferSpace,
    SystemResources,
    AccessDenied,
    ConnectionRefused,
    HostUnreachable,
    NetworkUnreachable,
    NetworkDown,
    NotSocket,
    BadFileDescriptor,
    Unexpected,
};
/// recvfrom(2) on a UDP socket: the ICMP errors of earlier sends surface here.
pub const RecvError = error{
    WouldBlock,
    ConnectionRefused,
    HostUnreachable,
    NetworkUnreachable,
    ConnectionReset,
    NotConnected,
    TimedOut,
    SystemResources,
    NoBufferSpace,
    NotSocket,
    BadFileDescriptor,
    Unexpected,
};
/// sendto(2) of one datagram (std.posix.SendToError's errnos; EINVAL: an address the socket
/// cannot send to).
pub const SendToError = error{
    WouldBlock,
    AccessDenied,
    AddressNotAvailable,
    AddressFamilyNotSupported,
    ConnectionRefused,
    ConnectionReset,
    MessageTooBig,
    NoBufferSpace,
    SystemResources,
    BrokenPipe,
    NetworkUnreachable,
    HostUnreachable,
    NetworkDown,
    NotConnected,
    InvalidArgument,
    NotSocket,
    BadFileDescriptor,
    Unexpected,
};

/// One read; 0 means end of stream.
pub fn read(fd: fd_t, buf: []u8) ReadError!usize {
    assert(fd >= 0);
    assert(buf.len > 0);
    while (true) {
        const rc = std.c.read(fd, buf.ptr, buf.len);
        if (rc >= 0) {
            assert(@as(usize, @intCast(rc)) <= buf.len);
            return @intCast(rc);
        }
        switch (posix.errno(rc)) {
            .INTR => continue,
            .FAULT, .ISDIR => unreachable,
            else => |e| return errorIn(ReadError, e),
        }
    }
}

/// Shuts the write side (FIN after what the kernel holds); the socket stays readable.
/// NotConnected: the peer reset it first, which its next event reports.
pub fn shutdownWrite(fd: fd_t) error{ NotConnected, Unexpected }!void {
    assert(fd >= 0);
    const rc = std.c.shutdown(fd, posix.SHUT.WR);
    switch (posix.errno(rc)) {
        .SUCCESS => {},
        .NOTCONN => return error.NotConnected,
        .BADF, .NOTSOCK, .INVAL => unreachable, // our own live socket
        else => |e| {
            std.log.debug("shutdown: unexpected errno {s}", .{@tagName(e)});
            return error.Unexpected;
        },
    }
}

/// At most IOV_MAX iovecs per call on every platform we target.
pub const iov_count_max = 1024;

pub fn writev(fd: fd_t, iov: []const posix.iovec_const) WriteError!usize {
    assert(fd >= 0);
    assert(iov.len > 0 and iov.len <= iov_count_max);
    while (true) {
        const rc = if (iov.len == 1)
            // The common case (one reply): send() is the cheapest call that can say NOSIGNAL.
            std.c.send(fd, iov[0].base, iov[0].len, noSignal())
        else if (builtin.os.tag == .linux)
            // send flags: no SIGPIPE on a closed peer (Node ignores SIGPIPE, a library must not rely on it).
            sendmsgNoSignal(fd, iov)
        else
            std.c.writev(fd, iov.ptr, @intCast(iov.len));
        if (rc >= 0) return @intCast(rc);
        switch (posix.errno(rc)) {
            .INTR => continue,
            .FAULT => unreachable,
            else => |e| return errorIn(WriteError, e),
        }
    }
}

fn sendmsgNoSignal(fd: fd_t, iov: []const posix.iovec_const) isize {
    assert(fd >= 0);
    const msg: posix.msghdr_const = .{
        .name = null,
        .namelen = 0,
        .iov = iov.ptr,
        .iovlen = @intCast(iov.len),
        .control = null,
        .controllen = 0,
        .flags = 0,
    };
    return std.c.sendmsg(fd, &msg, posix.MSG.NOSIGNAL);
}

pub const Datagram = struct { len: usize, remote: Address };

pub fn recvFrom(fd: fd_t, buf: []u8) RecvError!Datagram {
    assert(fd >= 0);
    var storage: posix.sockaddr.storage = undefined;
    while (true) {
        var len: posix.socklen_t = @sizeOf(posix.sockaddr.storage);
        const rc = std.c.recvfrom(fd, buf.ptr, buf.len, 0, @ptrCast(&storage), &len);
        if (rc >= 0) {
            assert(@as(usize, @intCast(rc)) <= buf.len);
            return .{ .len = @intCast(rc), .remote = addressFrom(&storage, len) };
        }
        switch (posix.errno(rc)) {
            .INTR => continue,
            .FAULT => unreachable, // our own buffers; NOTSOCK: an fd the host handed over
            else => |e| return errorIn(RecvError, e),
        }
    }
}

pub fn sendTo(fd: fd_t, data: []const u8, remote: ?*const Address) SendToError!usize {
    assert(fd >= 0);
    while (true) {
        const rc = if (remote) |r|
            std.c.sendto(fd, data.ptr, data.len, noSignal(), &r.any, r.getOsSockLen())
        else
            std.c.sendto(fd, data.ptr, data.len, noSignal(), null, 0);
        if (rc >= 0) return @intCast(rc);
        switch (posix.errno(rc)) {
            .INTR => continue,
            .FAULT => unreachable, // our own buffers; NOTSOCK: an fd the host handed over
            else => |e| return errorIn(SendToError, e),
        }
    }
}

fn noSignal() u32 {
    return if (builtin.os.tag == .linux) posix.MSG.NOSIGNAL else 0;
}

// ---- tests ---------------------------------------------------------------------------------

const testing = std.testing;
const listen = @import("socket_listen.zig").listen;
const connect = socket.connect;
const accept = socket.accept;
const localAddress = socket.localAddress;
const remoteAddress = socket.remoteAddress;
const setNoDelay = socket.setNoDelay;
const setLinger = socket.setLinger;
const errnoOf = socket.errnoOf;
const Accepted = socket.Accepted;

test "socket: tcp listen on port 0, connect, accept, exchange, EOF" {
    const any = try Address.parseIp("127.0.0.1", 0);
    var step: Syscall = .none;
    const listener = try listen(.tcp, any, .{}, &step);
    defer posix.close(listener);
    try testing.expectEqual(Syscall.listen, step);
    const bound = try localAddress(listener);
    try testing.expect(bound.getPort() != 0);
    const client = try connect(bound, &step);
    defer posix.close(client);
    var accepted: Accepted = undefined;
    var tries: usize = 0;
    while (true) : (tries += 1) {
        accepted = accept(listener) catch |err| switch (err) {
            error.WouldBlock => {
                try testing.expect(tries < 1000);
                std.time.sleep(std.time.ns_per_ms);
                continue;
            },
            else => return err,
        };
        break;
    }
    defer posix.close(accepted.fd);
    try testing.expectEqual((try localAddress(client)).getPort(), accepted.remote.getPort());
    _ = try writev(client, &.{.{ .base = "ping", .len = 4 }});
    var buf: [16]u8 = undefined;
    tries = 0;
    const n = while (true) : (tries += 1) {
        break read(accepted.fd, &buf) catch |err| switch (err) {
            error.WouldBlock => {
                try testing.expect(tries < 1000);
                std.time.sleep(std.time.ns_per_ms);
                continue;
            },
            else => return err,
        };
    };
    try testing.expectEqualStrings("ping", buf[0..n]);
    try testing.expectError(error.WouldBlock, read(accepted.fd, &buf));
    try setLinger(accepted.fd, -1);
    try setKeepAlive(accepted.fd, true, 10, 2, 3);
    try setNoDelay(accepted.fd, false);
}

test "socket: udp sendTo and recvFrom on loopback" {
    var step: Syscall = .none;
    const a = try listen(.udp, try Address.parseIp("127.0.0.1", 0), .{}, &step);
    defer posix.close(a);
    const b = try listen(.udp, try Address.parseIp("127.0.0.1", 0), .{}, &step);
    defer posix.close(b);
    const a_addr = try localAddress(a);
    try testing.expectEqual(@as(usize, 3), try sendTo(b, "abc", &a_addr));
    var buf: [8]u8 = undefined;
    var tries: usize = 0;
    const d = while (true) : (tries += 1) {
        break recvFrom(a, &buf) catch |err| switch (err) {
            error.WouldBlock => {
                try testing.expect(tries < 1000);
                std.time.sleep(std.time.ns_per_ms);
                continue;
            },
            else => return err,
        };
    };
    try testing.expectEqualStrings("abc", buf[0..d.len]);
    try testing.expectEqual((try localAddress(b)).getPort(), d.remote.getPort());
}

test "socket: a FIFO is not a socket: options and addresses answer NotSocket, never crash" {
    var fds: [2]fd_t = undefined;
    try testing.expectEqual(@as(c_int, 0), std.c.pipe(&fds));
    defer posix.close(fds[0]);
    defer posix.close(fds[1]);
    try testing.expectError(error.NotSocket, setNoDelay(fds[0], true));
    try testing.expectError(error.NotSocket, remoteAddress(fds[0]));
    try testing.expectError(error.NotSocket, localAddress(fds[0]));
    try testing.expectError(error.NotSocket, sendTo(fds[1], "x", null));
    try testing.expectEqual(@as(i32, @intFromEnum(E.NOTSOCK)), errnoOf(error.NotSocket));
}
