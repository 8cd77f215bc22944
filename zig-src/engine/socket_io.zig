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
const layout = @import("layout.zig");
const linux = std.os.linux;

/// read(2) on a stream socket (std.posix.ReadError's errnos that a socket can answer).
pub const ReadError = ReadFailure || error{WouldBlock};
/// What a read fails with: the socket itself failing, never "not now".
pub const ReadFailure = error{
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

/// One read, "not now" (EAGAIN) as null rather than an error: what the loop's readers want.
pub fn readNow(fd: fd_t, buf: []u8) ReadFailure!?usize {
    assert(buf.len > 0);
    return read(fd, buf) catch |err| switch (err) {
        error.WouldBlock => null,
        error.ConnectionReset,
        error.TimedOut,
        error.NotConnected,
        error.BadFileDescriptor,
        error.SystemResources,
        error.NoBufferSpace,
        error.Unexpected,
        => |e| e,
    };
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
    var storage: posix.sockaddr.storage = undefined;
    var len: posix.socklen_t = undefined;
    const n = try recvFromRaw(fd, buf, &storage, &len);
    return .{ .len = n, .remote = addressFrom(&storage, len) };
}

/// recvfrom(2): the bytes received into `buf`; the sender's sockaddr in `storage`, `len` bytes.
fn recvFromRaw(fd: fd_t, buf: []u8, storage: *posix.sockaddr.storage, len: *posix.socklen_t) RecvError!usize {
    assert(fd >= 0);
    while (true) {
        len.* = @sizeOf(posix.sockaddr.storage);
        const rc = std.c.recvfrom(fd, buf.ptr, buf.len, 0, @ptrCast(storage), len);
        if (rc >= 0) {
            assert(@as(usize, @intCast(rc)) <= buf.len);
            return @intCast(rc);
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

/// The scratch of one batch of datagrams, in or out (a loop has one: a drain receives with
/// it, a flush sends with it, never both at once). On Linux one recvmmsg/sendmmsg moves the
/// whole batch; elsewhere a loop of recvfrom/sendto does the same work one datagram per call.
pub const DatagramBatch = struct {
    pub const count_max = layout.datagram_batch_max;

    iov: [count_max]posix.iovec = undefined,
    names: [count_max]posix.sockaddr.storage = undefined,
    name_lens: [count_max]posix.socklen_t = undefined,
    lengths: [count_max]usize = undefined,
    headers: if (is_linux) [count_max]linux.mmsghdr else void = undefined,

    /// Datagram `index` of the last receive: its length and sender.
    pub fn received(batch: *const DatagramBatch, index: usize) Datagram {
        assert(index < count_max);
        assert(batch.lengths[index] <= batch.iov[index].len);
        return .{ .len = batch.lengths[index], .remote = addressFrom(&batch.names[index], batch.name_lens[index]) };
    }

    fn header(batch: *DatagramBatch, index: usize, name_len: posix.socklen_t) linux.mmsghdr {
        return .{ .hdr = .{
            .name = @ptrCast(&batch.names[index]),
            .namelen = name_len,
            .iov = @ptrCast(&batch.iov[index]),
            .iovlen = 1,
            .control = null,
            .controllen = 0,
            .flags = 0,
        }, .len = 0 };
    }

    /// Sets datagram `index` of the next send: `data` to `remote`.
    pub fn setOutgoing(batch: *DatagramBatch, index: usize, data: []const u8, remote: *const Address) void {
        assert(index < count_max);
        const len = remote.getOsSockLen();
        assert(len <= @sizeOf(posix.sockaddr.storage));
        @memcpy(std.mem.asBytes(&batch.names[index])[0..len], std.mem.asBytes(remote)[0..len]);
        batch.name_lens[index] = len;
        batch.iov[index] = .{ .base = @constCast(data.ptr), .len = data.len };
    }
};

comptime {
    assert(DatagramBatch.count_max > 0);
    // recvmmsg and sendmmsg take the count as an unsigned int.
    assert(DatagramBatch.count_max <= std.math.maxInt(c_uint));
}

extern "c" fn recvmmsg(fd: c_int, msgvec: [*]linux.mmsghdr, vlen: c_uint, flags: c_int, timeout: ?*posix.timespec) c_int;
extern "c" fn sendmmsg(fd: c_int, msgvec: [*]linux.mmsghdr, vlen: c_uint, flags: c_int) c_int;

/// Receives up to `slots.len` datagrams, datagram i into `slots[i]` (a longer one is cut to
/// its slot, as recvfrom cuts it); `batch.received(i)` describes each. The count returned is
/// above 0: "nothing now" is WouldBlock.
pub fn recvBatch(fd: fd_t, batch: *DatagramBatch, slots: []const []u8) RecvError!usize {
    assert(fd >= 0);
    assert(slots.len > 0 and slots.len <= DatagramBatch.count_max);
    for (slots, 0..) |slot, i| batch.iov[i] = .{ .base = slot.ptr, .len = slot.len };
    return if (is_linux) recvMany(fd, batch, slots.len) else recvEach(fd, batch, slots.len);
}

/// recvBatch by one recvmmsg.
fn recvMany(fd: fd_t, batch: *DatagramBatch, count_max: usize) RecvError!usize {
    for (0..count_max) |i| batch.headers[i] = batch.header(i, @sizeOf(posix.sockaddr.storage));
    while (true) {
        const rc = recvmmsg(fd, &batch.headers, @intCast(count_max), 0, null);
        if (rc > 0) {
            const count: usize = @intCast(rc);
            assert(count <= count_max);
            for (batch.headers[0..count], 0..) |header, i| {
                batch.lengths[i] = header.len;
                batch.name_lens[i] = header.hdr.namelen;
            }
            return count;
        }
        assert(rc != 0); // a datagram socket never reports end of stream
        switch (posix.errno(rc)) {
            .INTR => continue,
            .FAULT => unreachable, // our own buffers; NOTSOCK: an fd the host handed over
            else => |e| return errorIn(RecvError, e),
        }
    }
}

/// recvBatch without recvmmsg: recvfrom until the slots are full or the socket is empty.
fn recvEach(fd: fd_t, batch: *DatagramBatch, count_max: usize) RecvError!usize {
    for (0..count_max) |i| {
        const slot = batch.iov[i].base[0..batch.iov[i].len];
        const datagram = recvFromRaw(fd, slot, &batch.names[i], &batch.name_lens[i]) catch |err| {
            // What was received stands; the error comes back with the next call.
            if (i > 0) return i;
            return err;
        };
        batch.lengths[i] = datagram;
    }
    return count_max;
}

/// What one sendBatch could not send: datagrams dropped, and the last one's error.
pub const Refused = struct {
    count: usize = 0,
    last: ?SendToError = null,

    fn add(refused: *Refused, count: usize, err: SendToError) void {
        assert(count > 0);
        refused.count += count;
        refused.last = err;
    }

    /// `more` after these: the counts add up, the last error is the latest.
    pub fn absorb(refused: *Refused, more: Refused) void {
        if (more.count == 0) return;
        refused.add(more.count, more.last.?);
    }
};

/// Sends datagrams 0..count of `batch` (setOutgoing) in order. A datagram the socket refuses
/// is dropped, as UDP may: a full send buffer (WouldBlock, NoBufferSpace) drops the rest of
/// the batch, which would meet it too; any other refusal (too big, no route) drops that one.
pub fn sendBatch(fd: fd_t, batch: *DatagramBatch, count: usize) Refused {
    assert(fd >= 0);
    assert(count > 0 and count <= DatagramBatch.count_max);
    var refused: Refused = .{};
    if (is_linux) {
        for (0..count) |i| batch.headers[i] = batch.header(i, batch.name_lens[i]);
    }
    var next: usize = 0;
    // Bounded by `count`: every round sends or drops at least one datagram.
    while (next < count) {
        const sent = sendSome(fd, batch, next, count) catch |err| switch (err) {
            error.WouldBlock, error.NoBufferSpace => {
                refused.add(count - next, err);
                break;
            },
            else => |e| {
                refused.add(1, e);
                next += 1;
                continue;
            },
        };
        assert(sent > 0 and next + sent <= count);
        next += sent;
    }
    assert(refused.count <= count);
    return refused;
}

/// Datagrams first..count in one sendmmsg (Linux) or the first one by sendto: how many left.
/// An error after the first datagram is the kernel's to report on the next call.
fn sendSome(fd: fd_t, batch: *DatagramBatch, first: usize, count: usize) SendToError!usize {
    assert(first < count);
    return if (is_linux) sendMany(fd, batch, first, count) else sendOne(fd, batch, first);
}

fn sendOne(fd: fd_t, batch: *DatagramBatch, index: usize) SendToError!usize {
    var remote: Address = undefined;
    const len = batch.name_lens[index];
    @memcpy(std.mem.asBytes(&remote)[0..len], std.mem.asBytes(&batch.names[index])[0..len]);
    const data = batch.iov[index].base[0..batch.iov[index].len];
    const n = try sendTo(fd, data, &remote);
    assert(n == data.len); // a datagram is sent whole or not at all
    return 1;
}

fn sendMany(fd: fd_t, batch: *DatagramBatch, first: usize, count: usize) SendToError!usize {
    while (true) {
        const rc = sendmmsg(fd, batch.headers[first..].ptr, @intCast(count - first), @intCast(noSignal()));
        if (rc > 0) return @intCast(rc);
        assert(rc != 0); // at least one datagram, or an error
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

/// Two UDP sockets on 127.0.0.1; the caller closes both.
fn loopbackUdpPair() ![2]fd_t {
    var step: Syscall = .none;
    const a = try listen(.udp, try Address.parseIp("127.0.0.1", 0), .{}, &step);
    errdefer posix.close(a);
    return .{ a, try listen(.udp, try Address.parseIp("127.0.0.1", 0), .{}, &step) };
}

test "socket: udp sendTo and recvFrom on loopback" {
    const a, const b = try loopbackUdpPair();
    defer posix.close(a);
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

test "socket: a udp batch goes out in order and comes back whole, a too-long one dropped alone" {
    const a, const b = try loopbackUdpPair();
    defer posix.close(a);
    defer posix.close(b);
    const a_addr = try localAddress(a);
    var batch: DatagramBatch = .{};
    const too_long = try testing.allocator.alloc(u8, 70_000); // above UDP's 65,507
    defer testing.allocator.free(too_long);
    @memset(too_long, 'x');
    const outgoing = [_][]const u8{ "one", "two", too_long, "three" };
    for (outgoing, 0..) |data, i| batch.setOutgoing(i, data, &a_addr);
    const refused = sendBatch(b, &batch, outgoing.len);
    try testing.expectEqual(@as(usize, 1), refused.count);
    try testing.expectEqual(error.MessageTooBig, refused.last.?);

    var area: [4][8]u8 = undefined;
    const slots = [_][]u8{ &area[0], &area[1], &area[2], &area[3] };
    var got: usize = 0;
    var tries: usize = 0;
    // Bounded: three datagrams, each round takes at least one, or waits 1 ms.
    while (got < 3) : (tries += 1) {
        try testing.expect(tries < 1000);
        const n = recvBatch(a, &batch, slots[got..]) catch |err| switch (err) {
            error.WouldBlock => {
                std.time.sleep(std.time.ns_per_ms);
                continue;
            },
            else => return err,
        };
        for (0..n) |i| {
            const d = batch.received(i);
            try testing.expectEqualStrings(([_][]const u8{ "one", "two", "three" })[got + i], slots[got + i][0..d.len]);
            try testing.expectEqual((try localAddress(b)).getPort(), d.remote.getPort());
        }
        got += n;
    }
    try testing.expectError(error.WouldBlock, recvBatch(a, &batch, slots[0..1]));
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
