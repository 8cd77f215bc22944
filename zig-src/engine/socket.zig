//! Socket helpers: create, connect, accept, addresses and the options of a connection, each a
//! thin wrapper over one libc call with every errno mapped: EINTR retried, EAGAIN `WouldBlock`,
//! programmer errors `unreachable`, everything else a named error that `errnoOf` maps back to
//! the errno the host reports in Node's shape. Each function returns its own error set, the
//! errnos its calls document (as std.posix's wrappers of the same calls list them), so that a
//! caller's switch names exactly what can happen; an errno outside it is `Unexpected`. Listening sockets are socket_listen.zig's; reads,
//! writes and datagrams socket_io.zig's. Both build on this file, which imports neither.
const std = @import("std");
const builtin = @import("builtin");
const posix = std.posix;
const assert = std.debug.assert;
const E = posix.E;
const Address = std.net.Address;

pub const fd_t = posix.fd_t;
const Syscall = @import("syscall.zig").Syscall;

pub const Network = enum(u8) { tcp = 0, udp = 1, unix = 2 };

/// Every error the socket calls of the engine name, once, for `errnoOf`; each function's set
/// below is a subset.
pub const Error = error{
    WouldBlock,
    AccessDenied,
    AddressInUse,
    AddressNotAvailable,
    AddressFamilyNotSupported,
    ProtocolNotSupported,
    ConnectionRefused,
    ConnectionReset,
    ConnectionAborted,
    BrokenPipe,
    NetworkUnreachable,
    HostUnreachable,
    NetworkDown,
    TimedOut,
    NotConnected,
    MessageTooBig,
    NoBufferSpace,
    SystemResources,
    ProcessFdQuotaExceeded,
    SystemFdQuotaExceeded,
    InvalidArgument,
    BadFileDescriptor,
    NoDevice,
    NameTooLong,
    FileNotFound,
    NotDir,
    ReadOnlyFileSystem,
    AlreadyConnected,
    InProgress,
    OperationNotSupported,
    ProtocolOption,
    /// The fd is not a socket (a FIFO or file the host handed over): its caller's error.
    NotSocket,
    /// Poller registrations (poller.zig's `Error` is a subset of this set).
    AlreadyRegistered,
    NotRegistered,
    /// An errno none of the above names; logged, reported to the host as EIO.
    Unexpected,
};

/// fcntl(2) F_GETFL/F_SETFL/F_SETFD: only a closed fd fails.
pub const FcntlError = error{ BadFileDescriptor, Unexpected };
/// socket(2), and off Linux the fcntl that makes it non-blocking.
pub const SocketError = FcntlError || error{
    AccessDenied,
    AddressFamilyNotSupported,
    ProtocolNotSupported,
    ProcessFdQuotaExceeded,
    SystemFdQuotaExceeded,
    SystemResources,
    NoBufferSpace,
};
/// setsockopt(2): NotSocket and BadFileDescriptor for an fd the host handed over; an option
/// the platform refuses (ENOPROTOOPT, EINVAL, EDOM); kernel memory; EISCONN; EPERM and
/// ENODEV (SO_BINDTODEVICE, multicast interfaces).
pub const SetOptionError = error{
    NotSocket,
    BadFileDescriptor,
    ProtocolOption,
    InvalidArgument,
    SystemResources,
    NoBufferSpace,
    AlreadyConnected,
    AccessDenied,
    NoDevice,
    Unexpected,
};
/// A new socket's connect(2), its socket(2) and (macOS) SO_NOSIGPIPE included: TCP, UDP and
/// unix paths (ENOENT, ENOTDIR, ENAMETOOLONG; EAGAIN when a unix listener's backlog is full).
pub const ConnectError = SocketError || SetOptionError || error{
    WouldBlock,
    AddressInUse,
    AddressNotAvailable,
    ConnectionRefused,
    ConnectionReset,
    NetworkUnreachable,
    HostUnreachable,
    NetworkDown,
    TimedOut,
    FileNotFound,
    NotDir,
    NameTooLong,
};
/// accept4(2) (accept and fcntl off Linux) and SO_NOSIGPIPE (macOS). Linux passes a new
/// connection's pending network error on as accept's own (ENETDOWN, EHOSTUNREACH, ...).
pub const AcceptError = FcntlError || SetOptionError || error{
    WouldBlock,
    ConnectionAborted,
    ConnectionReset,
    ProcessFdQuotaExceeded,
    SystemFdQuotaExceeded,
    NetworkDown,
    NetworkUnreachable,
    HostUnreachable,
    TimedOut,
};
/// getsockname(2): an fd the host handed over may be no socket, or closed.
pub const AddressError = error{ NotSocket, BadFileDescriptor, SystemResources, NoBufferSpace, InvalidArgument, Unexpected };
/// getpeername(2): also no peer (yet, or any more: macOS answers ECONNRESET or EINVAL for one
/// that left).
pub const PeerAddressError = AddressError || error{ NotConnected, ConnectionReset };
/// fcntl(F_DUPFD_CLOEXEC).
pub const DupError = error{ BadFileDescriptor, InvalidArgument, ProcessFdQuotaExceeded, Unexpected };

/// `e` as an error of `Set`: the name `named` gives it when `Set` has that name, else
/// `Unexpected` (logged). `Set` is the calling function's own error set.
pub fn errorIn(comptime Set: type, e: E) Set {
    comptime assert(@typeInfo(Set).error_set != null);
    const err = named(e);
    inline for (@typeInfo(Set).error_set.?) |member| {
        if (err == @field(Set, member.name)) return @field(Set, member.name);
    }
    assert(err != error.Unexpected); // named() already answered Unexpected: it is in every set
    return unexpected(e);
}

pub fn unexpected(e: E) error{Unexpected} {
    assert(e != .SUCCESS and e != .INTR);
    std.log.debug("socket: unexpected errno {s}", .{@tagName(e)});
    return error.Unexpected;
}

/// Runtime conditions shared by most socket calls.
pub fn named(e: E) Error {
    assert(e != .SUCCESS and e != .INTR); // success is no error; EINTR is retried
    return switch (e) {
        .AGAIN => error.WouldBlock,
        .ACCES, .PERM => error.AccessDenied,
        .ADDRINUSE => error.AddressInUse,
        .ADDRNOTAVAIL => error.AddressNotAvailable,
        .AFNOSUPPORT => error.AddressFamilyNotSupported,
        .PROTONOSUPPORT, .PROTOTYPE => error.ProtocolNotSupported,
        .CONNREFUSED => error.ConnectionRefused,
        .CONNRESET => error.ConnectionReset,
        .CONNABORTED => error.ConnectionAborted,
        .PIPE => error.BrokenPipe,
        .NETUNREACH => error.NetworkUnreachable,
        .HOSTUNREACH => error.HostUnreachable,
        .NETDOWN => error.NetworkDown,
        .TIMEDOUT => error.TimedOut,
        .NOTCONN => error.NotConnected,
        .MSGSIZE => error.MessageTooBig,
        .NOBUFS => error.NoBufferSpace,
        .NOMEM => error.SystemResources,
        .MFILE => error.ProcessFdQuotaExceeded,
        .NFILE => error.SystemFdQuotaExceeded,
        .INVAL => error.InvalidArgument,
        .BADF => error.BadFileDescriptor,
        .NODEV => error.NoDevice,
        .NAMETOOLONG => error.NameTooLong,
        .NOENT => error.FileNotFound,
        .NOTDIR => error.NotDir,
        .ROFS => error.ReadOnlyFileSystem,
        .ISCONN => error.AlreadyConnected,
        .INPROGRESS => error.InProgress,
        .OPNOTSUPP => error.OperationNotSupported,
        .NOPROTOOPT => error.ProtocolOption,
        .NOTSOCK => error.NotSocket,
        .EXIST => error.AlreadyRegistered,
        else => unexpected(e),
    };
}

/// The errno an error stands for (positive), for Node-shaped system errors.
pub fn errnoOf(err: Error) i32 {
    const e: E = switch (err) {
        error.WouldBlock => .AGAIN,
        error.AccessDenied => .ACCES,
        error.AddressInUse => .ADDRINUSE,
        error.AddressNotAvailable => .ADDRNOTAVAIL,
        error.AddressFamilyNotSupported => .AFNOSUPPORT,
        error.ProtocolNotSupported => .PROTONOSUPPORT,
        error.ConnectionRefused => .CONNREFUSED,
        error.ConnectionReset => .CONNRESET,
        error.ConnectionAborted => .CONNABORTED,
        error.BrokenPipe => .PIPE,
        error.NetworkUnreachable => .NETUNREACH,
        error.HostUnreachable => .HOSTUNREACH,
        error.NetworkDown => .NETDOWN,
        error.TimedOut => .TIMEDOUT,
        error.NotConnected => .NOTCONN,
        error.MessageTooBig => .MSGSIZE,
        error.NoBufferSpace => .NOBUFS,
        error.SystemResources => .NOMEM,
        error.ProcessFdQuotaExceeded => .MFILE,
        error.SystemFdQuotaExceeded => .NFILE,
        error.InvalidArgument => .INVAL,
        error.BadFileDescriptor => .BADF,
        error.NoDevice => .NODEV,
        error.NameTooLong => .NAMETOOLONG,
        error.FileNotFound => .NOENT,
        error.NotDir => .NOTDIR,
        error.ReadOnlyFileSystem => .ROFS,
        error.AlreadyConnected => .ISCONN,
        error.InProgress => .INPROGRESS,
        error.OperationNotSupported => .OPNOTSUPP,
        error.ProtocolOption => .NOPROTOOPT,
        error.NotSocket => .NOTSOCK,
        error.AlreadyRegistered => .EXIST,
        error.NotRegistered => .NOENT,
        error.Unexpected => .IO,
    };
    assert(e != .SUCCESS);
    return @intFromEnum(e);
}

// ---- per-OS constants std does not carry for every target ------------------------------

pub const is_linux = builtin.os.tag == .linux;
pub const is_darwin = builtin.os.tag.isDarwin();

pub const TCP = if (is_linux) struct {
    pub const NODELAY = 1;
    pub const KEEPIDLE = 4;
    pub const KEEPINTVL = 5;
    pub const KEEPCNT = 6;
} else if (is_darwin) struct {
    pub const NODELAY = 0x01;
    /// macOS names the idle time TCP_KEEPALIVE.
    pub const KEEPIDLE = 0x10;
    pub const KEEPINTVL = 0x101;
    pub const KEEPCNT = 0x102;
} else struct { // FreeBSD, DragonFly
    pub const NODELAY = 1;
    pub const KEEPIDLE = 256;
    pub const KEEPINTVL = 512;
    pub const KEEPCNT = 1024;
};

pub const IPV6_V6ONLY = if (is_linux) 26 else 27;
/// std.os.linux.F lacks it; the BSDs and macOS have it in std.c.
const F_DUPFD_CLOEXEC = if (is_linux) 1030 else std.c.F.DUPFD_CLOEXEC;
pub const SO = posix.SO;
pub const SOL = posix.SOL;
pub const IPPROTO = posix.IPPROTO;
/// Listen backlog: the kernel caps it at somaxconn, which is what gnet reads and passes.
pub const backlog_max = 65535;

// ---- creating sockets --------------------------------------------------------------------

/// A non-blocking, close-on-exec socket.
pub fn socket(domain: u32, sock_type: u32) SocketError!fd_t {
    assert(domain == posix.AF.INET or domain == posix.AF.INET6 or domain == posix.AF.UNIX);
    const flags: u32 = if (is_linux) posix.SOCK.NONBLOCK | posix.SOCK.CLOEXEC else 0;
    const rc = std.c.socket(domain, sock_type | flags, 0);
    if (rc < 0) return switch (posix.errno(rc)) {
        .INVAL => error.AddressFamilyNotSupported,
        else => |e| errorIn(SocketError, e),
    };
    const fd: fd_t = rc;
    assert(fd >= 0);
    errdefer posix.close(fd);
    if (!is_linux) try setNonBlockingCloexec(fd);
    return fd;
}

pub fn setNonBlockingCloexec(fd: fd_t) FcntlError!void {
    assert(fd >= 0);
    const fl = std.c.fcntl(fd, posix.F.GETFL);
    if (fl < 0) return errorIn(FcntlError, posix.errno(fl));
    const non_blocking: c_int = @bitCast(posix.O{ .NONBLOCK = true });
    if (std.c.fcntl(fd, posix.F.SETFL, fl | non_blocking) < 0) return errorIn(FcntlError, posix.errno(-1));
    if (std.c.fcntl(fd, posix.F.SETFD, @as(c_int, posix.FD_CLOEXEC)) < 0) return errorIn(FcntlError, posix.errno(-1));
}

pub fn setInt(fd: fd_t, level: i32, name: u32, value: c_int) SetOptionError!void {
    assert(fd >= 0);
    const rc = std.c.setsockopt(fd, level, name, &value, @sizeOf(c_int));
    if (rc == 0) return;
    return switch (posix.errno(rc)) {
        .FAULT => unreachable, // our own buffers; NOTSOCK: an fd the host handed over
        .DOM => error.InvalidArgument,
        else => |e| errorIn(SetOptionError, e),
    };
}

/// Writes to a peer that left must fail with EPIPE, not raise SIGPIPE: Linux passes
/// MSG_NOSIGNAL per call; macOS and the BSDs mark the socket.
pub fn noSigPipe(fd: fd_t) SetOptionError!void {
    assert(fd >= 0);
    if (is_darwin) try setInt(fd, SOL.SOCKET, 0x1022, 1); // SO_NOSIGPIPE
}

/// A non-blocking connect (tests, and dialling): it returns at once and the socket becomes
/// writable when the connection is made. `step` names the call under way.
pub fn connect(address: Address, step: *Syscall) ConnectError!fd_t {
    assert(address.any.family == posix.AF.INET or address.any.family == posix.AF.INET6 or address.any.family == posix.AF.UNIX);
    const sock_type: u32 = posix.SOCK.STREAM;
    step.* = .socket;
    const fd = try socket(address.any.family, sock_type);
    errdefer posix.close(fd);
    step.* = .setsockopt;
    try noSigPipe(fd);
    step.* = .connect;
    while (true) {
        const rc = std.c.connect(fd, &address.any, address.getOsSockLen());
        if (rc == 0) return fd;
        switch (posix.errno(rc)) {
            .INTR => continue,
            .INPROGRESS => return fd,
            .BADF, .NOTSOCK, .FAULT => unreachable,
            else => |e| return errorIn(ConnectError, e),
        }
    }
}

/// A connected UDP socket (client side: `send` and `recv` with the peer fixed).
pub fn connectDatagram(address: Address, step: *Syscall) ConnectError!fd_t {
    assert(address.any.family == posix.AF.INET or address.any.family == posix.AF.INET6);
    step.* = .socket;
    const fd = try socket(address.any.family, posix.SOCK.DGRAM);
    errdefer posix.close(fd);
    step.* = .connect;
    while (true) {
        const rc = std.c.connect(fd, &address.any, address.getOsSockLen());
        if (rc == 0) return fd;
        switch (posix.errno(rc)) {
            .INTR => continue,
            .BADF, .NOTSOCK, .FAULT => unreachable,
            else => |e| return errorIn(ConnectError, e),
        }
    }
}

pub fn setNonBlocking(fd: fd_t) FcntlError!void {
    assert(fd >= 0);
    const fl = std.c.fcntl(fd, posix.F.GETFL);
    if (fl < 0) return errorIn(FcntlError, posix.errno(fl));
    const non_blocking: c_int = @bitCast(posix.O{ .NONBLOCK = true });
    if (std.c.fcntl(fd, posix.F.SETFL, fl | non_blocking) < 0) return errorIn(FcntlError, posix.errno(-1));
}

pub const Accepted = struct { fd: fd_t, remote: Address };

pub fn accept(listener: fd_t) AcceptError!Accepted {
    assert(listener >= 0);
    var storage: posix.sockaddr.storage = undefined;
    while (true) {
        var len: posix.socklen_t = @sizeOf(posix.sockaddr.storage);
        const rc = if (is_linux)
            std.c.accept4(listener, @ptrCast(&storage), &len, posix.SOCK.NONBLOCK | posix.SOCK.CLOEXEC)
        else
            std.c.accept(listener, @ptrCast(&storage), &len);
        if (rc >= 0) {
            const fd: fd_t = rc;
            errdefer posix.close(fd);
            if (!is_linux) try setNonBlockingCloexec(fd);
            try noSigPipe(fd);
            return .{ .fd = fd, .remote = addressFrom(&storage, len) };
        }
        switch (posix.errno(rc)) {
            .INTR => continue,
            .BADF, .NOTSOCK, .FAULT, .OPNOTSUPP => unreachable,
            else => |e| return errorIn(AcceptError, e),
        }
    }
}

pub fn addressFrom(storage: *const posix.sockaddr.storage, len: posix.socklen_t) Address {
    assert(len <= @sizeOf(posix.sockaddr.storage));
    const sa: *const posix.sockaddr = @ptrCast(storage);
    if (len < @sizeOf(posix.sa_family_t) or sa.family == posix.AF.UNIX) {
        // Unnamed unix peers have no path (len == sizeof(sa_family_t)).
        var un = std.mem.zeroes(posix.sockaddr.un);
        un.family = posix.AF.UNIX;
        const path_len = @min(@as(usize, len) -| @offsetOf(posix.sockaddr.un, "path"), un.path.len - 1);
        if (path_len > 0) {
            const src: [*]const u8 = @ptrCast(storage);
            @memcpy(un.path[0..path_len], src[@offsetOf(posix.sockaddr.un, "path")..][0..path_len]);
        }
        return .{ .un = un };
    }
    return Address.initPosix(@alignCast(sa));
}

/// A connection's peer address, kept small since every connection holds one for its life: an
/// IP address whole (sockaddr_in6, 28 bytes, is the largest); a unix peer not at all, since
/// its path, when it has one, is the socket's to tell (getpeername) for as long as it is open.
pub const Peer = struct {
    bytes: [@sizeOf(posix.sockaddr.in6)]u8 = undefined,
    /// 0: a unix peer (or none yet).
    len: u8 = 0,

    pub fn of(full: Address) Peer {
        if (full.any.family != posix.AF.INET and full.any.family != posix.AF.INET6) return .{};
        const len = full.getOsSockLen();
        assert(len <= @sizeOf(posix.sockaddr.in6));
        var peer: Peer = .{ .len = @intCast(len) };
        @memcpy(peer.bytes[0..len], std.mem.asBytes(&full)[0..len]);
        return peer;
    }

    /// The IP address kept, or null for a unix peer.
    pub fn address(peer: *const Peer) ?Address {
        if (peer.len == 0) return null;
        var result: Address = undefined;
        @memcpy(std.mem.asBytes(&result)[0..peer.len], peer.bytes[0..peer.len]);
        assert(result.any.family == posix.AF.INET or result.any.family == posix.AF.INET6);
        return result;
    }
};

pub fn localAddress(fd: fd_t) AddressError!Address {
    assert(fd >= 0);
    var storage: posix.sockaddr.storage = undefined;
    var len: posix.socklen_t = @sizeOf(posix.sockaddr.storage);
    const rc = std.c.getsockname(fd, @ptrCast(&storage), &len);
    if (rc != 0) return switch (posix.errno(rc)) {
        .FAULT => unreachable, // our own buffers; NOTSOCK: an fd the host handed over
        else => |e| errorIn(AddressError, e),
    };
    return addressFrom(&storage, len);
}

pub fn remoteAddress(fd: fd_t) PeerAddressError!Address {
    assert(fd >= 0);
    var storage: posix.sockaddr.storage = undefined;
    var len: posix.socklen_t = @sizeOf(posix.sockaddr.storage);
    const rc = std.c.getpeername(fd, @ptrCast(&storage), &len);
    if (rc != 0) return switch (posix.errno(rc)) {
        .FAULT => unreachable, // our own buffers; NOTSOCK: an fd the host handed over
        else => |e| errorIn(PeerAddressError, e),
    };
    return addressFrom(&storage, len);
}

/// The pending error of a socket (SO_ERROR), as a positive errno; 0 when none.
pub fn pendingErrno(fd: fd_t) i32 {
    assert(fd >= 0);
    var value: c_int = 0;
    var len: posix.socklen_t = @sizeOf(c_int);
    const rc = std.c.getsockopt(fd, SOL.SOCKET, SO.ERROR, &value, &len);
    if (rc != 0) return @intFromEnum(posix.errno(rc));
    assert(value >= 0);
    return value;
}

pub fn dup(fd: fd_t) DupError!fd_t {
    assert(fd >= 0);
    const rc = std.c.fcntl(fd, F_DUPFD_CLOEXEC, @as(c_int, 0));
    if (rc >= 0) {
        assert(rc != fd);
        return rc;
    }
    return errorIn(DupError, posix.errno(rc));
}

// ---- options (Conn.set*, listener options) -----------------------------------------------

pub fn setNoDelay(fd: fd_t, on: bool) SetOptionError!void {
    assert(fd >= 0);
    try setInt(fd, IPPROTO.TCP, TCP.NODELAY, @intFromBool(on));
}

/// `on` false only clears SO_KEEPALIVE (gnet). Times in whole seconds, at least 1.
pub fn setKeepAlive(fd: fd_t, on: bool, idle_s: u32, interval_s: u32, count: u32) SetOptionError!void {
    assert(fd >= 0);
    try setInt(fd, SOL.SOCKET, SO.KEEPALIVE, @intFromBool(on));
    if (!on) return;
    if (idle_s > 0) try setInt(fd, IPPROTO.TCP, TCP.KEEPIDLE, @intCast(idle_s));
    if (interval_s > 0) try setInt(fd, IPPROTO.TCP, TCP.KEEPINTVL, @intCast(interval_s));
    if (count > 0) try setInt(fd, IPPROTO.TCP, TCP.KEEPCNT, @intCast(count));
}

/// gnet: < 0 turns SO_LINGER off, >= 0 turns it on with that timeout in seconds.
pub fn setLinger(fd: fd_t, seconds: i32) SetOptionError!void {
    assert(fd >= 0);
    const Linger = extern struct { onoff: c_int, linger: c_int };
    const value: Linger = .{ .onoff = @intFromBool(seconds >= 0), .linger = @max(seconds, 0) };
    const rc = std.c.setsockopt(fd, SOL.SOCKET, SO.LINGER, &value, @sizeOf(Linger));
    if (rc == 0) return;
    return errorIn(SetOptionError, posix.errno(rc));
}

pub fn setRecvBuffer(fd: fd_t, bytes: u32) SetOptionError!void {
    assert(fd >= 0);
    try setInt(fd, SOL.SOCKET, SO.RCVBUF, @intCast(@min(bytes, std.math.maxInt(c_int))));
}

pub fn setSendBuffer(fd: fd_t, bytes: u32) SetOptionError!void {
    assert(fd >= 0);
    try setInt(fd, SOL.SOCKET, SO.SNDBUF, @intCast(@min(bytes, std.math.maxInt(c_int))));
}

/// Go's `Addr.String()`: "127.0.0.1:54321", "[::1]:5000" (v4-mapped v6 prints as v4);
/// a unix peer is its path (usually empty).
pub fn formatHostPort(out: []u8, address: std.net.Address) []const u8 {
    switch (address.any.family) {
        posix.AF.INET => return std.fmt.bufPrint(out, "{}", .{address.in}) catch out[0..0],
        posix.AF.INET6 => {
            const bytes = address.in6.sa.addr;
            const mapped_prefix = [_]u8{0} ** 10 ++ [_]u8{ 0xff, 0xff };
            if (std.mem.eql(u8, bytes[0..12], &mapped_prefix)) {
                const v4 = .{ bytes[12], bytes[13], bytes[14], bytes[15], address.getPort() };
                return std.fmt.bufPrint(out, "{d}.{d}.{d}.{d}:{d}", v4) catch out[0..0];
            }
            return std.fmt.bufPrint(out, "{}", .{address.in6}) catch out[0..0];
        },
        posix.AF.UNIX => {
            const path = std.mem.sliceTo(&address.un.path, 0);
            const n = @min(path.len, out.len);
            @memcpy(out[0..n], path[0..n]);
            return out[0..n];
        },
        else => return out[0..0],
    }
}

// ---- tests ---------------------------------------------------------------------------------

const testing = std.testing;

test "formatHostPort: Go's forms" {
    var buf: [64]u8 = undefined;
    try testing.expectEqualStrings("127.0.0.1:80", formatHostPort(&buf, try std.net.Address.parseIp("127.0.0.1", 80)));
    try testing.expectEqualStrings("[::1]:9000", formatHostPort(&buf, try std.net.Address.parseIp("::1", 9000)));
    try testing.expectEqualStrings("10.0.0.1:5", formatHostPort(&buf, try std.net.Address.parseIp("::ffff:10.0.0.1", 5)));
}

test "errorIn: an errno the function's set names keeps its name; any other is Unexpected" {
    try testing.expectEqual(error.BadFileDescriptor, errorIn(FcntlError, .BADF));
    try testing.expectEqual(error.Unexpected, errorIn(FcntlError, .CONNRESET));
    try testing.expectEqual(error.WouldBlock, errorIn(ConnectError, .AGAIN));
    try testing.expectEqual(error.Unexpected, errorIn(DupError, .AGAIN));
    try testing.expectEqual(error.NotConnected, errorIn(PeerAddressError, .NOTCONN));
}

test "Peer: an IPv4 and an IPv6 address come back whole, a unix one is not kept" {
    for ([_][]const u8{ "127.0.0.1", "::1", "fe80::1" }, [_]u16{ 9, 65535, 443 }) |host, port| {
        var ip = try Address.parseIp(host, port);
        if (ip.any.family == posix.AF.INET6) ip.in6.sa.scope_id = 3;
        const back = Peer.of(ip).address().?;
        try std.testing.expect(back.eql(ip));
        if (ip.any.family == posix.AF.INET6) try std.testing.expectEqual(@as(u32, 3), back.in6.sa.scope_id);
    }
    try std.testing.expect(Peer.of(try Address.initUnix("/tmp/x.sock")).address() == null);
    try std.testing.expect((Peer{}).address() == null);
}
