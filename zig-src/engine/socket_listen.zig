//! Listening sockets: created, configured, bound and (streams) listening, the options a
//! listener takes (gnet's listener options), and multicast groups for UDP listeners.
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
const setNoDelay = socket.setNoDelay;
const setInt = socket.setInt;
const IPV6_V6ONLY = socket.IPV6_V6ONLY;
const backlog_max = socket.backlog_max;
const errnoOf = socket.errnoOf;
const setNonBlockingCloexec = socket.setNonBlockingCloexec;
const localAddress = socket.localAddress;
const is_linux = socket.is_linux;
const is_darwin = socket.is_darwin;
const SO = socket.SO;
const SOL = socket.SOL;
const IPPROTO = socket.IPPROTO;
const Syscall = @import("syscall.zig").Syscall;

pub const ListenOptions = struct {
    reuse_addr: bool = false,
    reuse_port: bool = false,
    /// tcp6/udp6 set IPV6_V6ONLY; `tcp://:port` (dual stack) and v4 do not.
    v6_only: bool = false,
    no_delay: bool = true,
    keep_alive_s: u32 = 0,
    keep_interval_s: u32 = 0,
    keep_count: u32 = 0,
    recv_buffer: u32 = 0,
    send_buffer: u32 = 0,
    bind_to_device: []const u8 = "",
    /// UDP listeners on a multicast IP join the group on this interface (0: the OS chooses).
    multicast_interface_index: u32 = 0,
};

/// bind(2): the address taken or not this host's, a privileged port, or (unix) a path that
/// cannot be made.
pub const BindError = error{
    AddressInUse,
    AddressNotAvailable,
    AccessDenied,
    InvalidArgument,
    AddressFamilyNotSupported,
    FileNotFound,
    NotDir,
    NameTooLong,
    ReadOnlyFileSystem,
    SystemResources,
    Unexpected,
};
/// IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP: setsockopt's errors, plus a group already joined
/// (EADDRINUSE) or no interface for it (EADDRNOTAVAIL).
pub const JoinGroupError = socket.SetOptionError || error{ AddressFamilyNotSupported, AddressInUse, AddressNotAvailable };
/// SO_BINDTODEVICE, which only Linux has.
pub const BindToDeviceError = socket.SetOptionError || error{OperationNotSupported};
/// Every step of `listen`: socket, its options, bind, the group, and listen(2) itself
/// (EADDRINUSE: another socket listens on the port; EOPNOTSUPP).
pub const ListenError = socket.SocketError || socket.SetOptionError || BindError || JoinGroupError || BindToDeviceError;

/// Creates, configures, binds and (streams) listens. A unix path must be free: the host
/// removes a stale socket first and never anything else (host/engine/unix-path.ts). `step`
/// names the call under way, so that a failure is reported with the syscall that failed.
pub fn listen(network: Network, address: Address, options: ListenOptions, step: *Syscall) ListenError!fd_t {
    const family: u32 = address.any.family;
    const sock_type: u32 = if (network == .udp) posix.SOCK.DGRAM else posix.SOCK.STREAM;
    if (network == .unix) assert(family == posix.AF.UNIX);
    if (network != .unix) assert(family == posix.AF.INET or family == posix.AF.INET6);
    step.* = .socket;
    const fd = try socket.socket(family, sock_type);
    errdefer posix.close(fd);
    step.* = .setsockopt;
    if (options.reuse_addr or network == .unix) try setInt(fd, SOL.SOCKET, SO.REUSEADDR, 1);
    if (options.reuse_port and network != .unix) try setInt(fd, SOL.SOCKET, SO.REUSEPORT, 1);
    if (family == posix.AF.INET6) try setInt(fd, IPPROTO.IPV6, IPV6_V6ONLY, @intFromBool(options.v6_only));
    if (network == .udp) try setInt(fd, SOL.SOCKET, SO.BROADCAST, 1);
    if (network == .tcp) {
        if (options.no_delay) try setNoDelay(fd, true);
        if (options.keep_alive_s > 0) try setKeepAlive(fd, true, options.keep_alive_s, options.keep_interval_s, options.keep_count);
    }
    if (options.recv_buffer > 0) try setInt(fd, SOL.SOCKET, SO.RCVBUF, @intCast(options.recv_buffer));
    if (options.send_buffer > 0) try setInt(fd, SOL.SOCKET, SO.SNDBUF, @intCast(options.send_buffer));
    if (options.bind_to_device.len > 0) try bindToDevice(fd, options.bind_to_device);
    step.* = .bind;
    try bind(fd, address);
    if (network == .udp and isMulticast(address)) {
        step.* = .setsockopt;
        try joinGroup(fd, address, options.multicast_interface_index);
    }
    step.* = .listen;
    if (network != .udp) {
        const rc = std.c.listen(fd, backlog_max);
        if (rc != 0) return switch (posix.errno(rc)) {
            .BADF, .NOTSOCK => unreachable,
            else => |e| errorIn(ListenError, e),
        };
    }
    return fd;
}

/// 224.0.0.0/4 or ff00::/8.
pub fn isMulticast(address: Address) bool {
    return switch (address.any.family) {
        posix.AF.INET => {
            const first: u8 = std.mem.asBytes(&address.in.sa.addr)[0]; // network byte order
            return first >= 224 and first <= 239;
        },
        posix.AF.INET6 => address.in6.sa.addr[0] == 0xff,
        else => false,
    };
}

/// IP_ADD_MEMBERSHIP and IPV6_JOIN_GROUP (Linux: IPV6_ADD_MEMBERSHIP). std.os.linux has them
/// (IP.ADD_MEMBERSHIP, IPV6.ADD_MEMBERSHIP); std.c does not for every target, so they are
/// spelled out here (netinet/in.h, netinet6/in6.h).
const IP_ADD_MEMBERSHIP = if (is_linux) 35 else 12;
const IPV6_JOIN_GROUP = if (is_linux) 20 else 12;
/// Linux's struct ip_mreqn: the group, a local address (0: any) and an interface index.
const IpMreqn = extern struct { multiaddr: u32, address: u32, ifindex: c_int };
/// struct ip_mreq (macOS and the BSDs): the interface is named by an address, not an index.
const IpMreq = extern struct { multiaddr: u32, interface: u32 };
const Ipv6Mreq = extern struct { multiaddr: [16]u8, interface: c_uint };

/// gnet's MulticastInterfaceIndex: joins the listener's group on interface `ifindex` (0: the
/// OS chooses). IPv6 takes the index everywhere; IPv4 takes it on Linux (ip_mreqn). Elsewhere
/// IPv4 joins with INADDR_ANY (ip_mreq names interfaces by address), so the OS chooses.
pub fn joinGroup(fd: fd_t, group: Address, ifindex: u32) JoinGroupError!void {
    assert(fd >= 0);
    const rc = switch (group.any.family) {
        posix.AF.INET => if (is_linux) blk: {
            const mreq: IpMreqn = .{ .multiaddr = group.in.sa.addr, .address = 0, .ifindex = @intCast(ifindex) };
            break :blk std.c.setsockopt(fd, IPPROTO.IP, IP_ADD_MEMBERSHIP, &mreq, @sizeOf(IpMreqn));
        } else blk: {
            const mreq: IpMreq = .{ .multiaddr = group.in.sa.addr, .interface = 0 };
            break :blk std.c.setsockopt(fd, IPPROTO.IP, IP_ADD_MEMBERSHIP, &mreq, @sizeOf(IpMreq));
        },
        posix.AF.INET6 => blk: {
            const mreq: Ipv6Mreq = .{ .multiaddr = group.in6.sa.addr, .interface = ifindex };
            break :blk std.c.setsockopt(fd, IPPROTO.IPV6, IPV6_JOIN_GROUP, &mreq, @sizeOf(Ipv6Mreq));
        },
        else => return error.AddressFamilyNotSupported,
    };
    if (rc == 0) return;
    return switch (posix.errno(rc)) {
        .FAULT => unreachable, // our own buffers; NOTSOCK: an fd the host handed over
        else => |e| errorIn(JoinGroupError, e),
    };
}

pub fn bindToDevice(fd: fd_t, device: []const u8) BindToDeviceError!void {
    assert(fd >= 0);
    if (!is_linux) return error.OperationNotSupported;
    const rc = std.c.setsockopt(fd, SOL.SOCKET, posix.SO.BINDTODEVICE, device.ptr, @intCast(device.len));
    if (rc == 0) return;
    return errorIn(BindToDeviceError, posix.errno(rc));
}

fn bind(fd: fd_t, address: Address) BindError!void {
    assert(fd >= 0);
    const rc = std.c.bind(fd, &address.any, address.getOsSockLen());
    if (rc == 0) return;
    return switch (posix.errno(rc)) {
        .BADF, .NOTSOCK, .FAULT => unreachable,
        else => |e| errorIn(BindError, e),
    };
}

/// Removes a unix socket path (the tests' clean-up; the host owns paths otherwise).
fn unlinkPath(path: []const u8) void {
    const len = std.mem.indexOfScalar(u8, path, 0) orelse path.len;
    if (len == 0) return;
    var z: [std.fs.max_path_bytes:0]u8 = undefined;
    if (len >= z.len) return;
    @memcpy(z[0..len], path[0..len]);
    z[len] = 0;
    _ = std.c.unlink(&z);
}

// ---- tests ---------------------------------------------------------------------------------

const testing = std.testing;

test "socket: a second bind of the same port is AddressInUse, errno EADDRINUSE" {
    var step: Syscall = .none;
    const listener = try listen(.tcp, try Address.parseIp("127.0.0.1", 0), .{}, &step);
    defer posix.close(listener);
    const bound = try localAddress(listener);
    const err = listen(.tcp, bound, .{}, &step);
    try testing.expectError(error.AddressInUse, err);
    try testing.expectEqual(Syscall.bind, step);
    try testing.expectEqual(@as(i32, @intFromEnum(E.ADDRINUSE)), errnoOf(error.AddressInUse));
}

/// qemu-user (Debian 12's 7.2) declares `target_ip_mreqn.imr_ifindex` as `abi_long`: on a 64-bit
/// guest (aarch64) it expects a 16-byte ip_mreqn, takes Linux's 12-byte one (in_addr, in_addr,
/// int, on every architecture: linux/in.h) for the short form, copies no index, and hands the
/// kernel an uninitialised one: NoDevice, at random. Called only after a join with index 0 failed
/// NoDevice, which a kernel never answers to a correct ip_mreqn (the test asserts the layout):
/// if the same join succeeds when padded to the 16 bytes qemu expects, the translator lost it.
fn translatorDropsIfindex(group: u32) bool {
    const fd = posix.socket(posix.AF.INET, posix.SOCK.DGRAM, 0) catch return false;
    defer posix.close(fd);
    const Padded = extern struct { multiaddr: u32, address: u32, ifindex: i64 };
    const padded: Padded = .{ .multiaddr = group, .address = 0, .ifindex = 0 };
    return std.c.setsockopt(fd, IPPROTO.IP, IP_ADD_MEMBERSHIP, &padded, @sizeOf(Padded)) == 0;
}

test "socket: a udp listener on a multicast group joins it; a bad interface is NoDevice" {
    try testing.expect(isMulticast(try Address.parseIp("224.0.0.169", 0)));
    try testing.expect(isMulticast(try Address.parseIp("ff02::3", 0)));
    try testing.expect(!isMulticast(try Address.parseIp("127.0.0.1", 0)));
    try testing.expect(!isMulticast(try Address.parseIp("::1", 0)));
    // Linux's struct ip_mreqn, as the kernel reads it.
    try testing.expectEqual(12, @sizeOf(IpMreqn));
    try testing.expectEqual(4, @offsetOf(IpMreqn, "address"));
    try testing.expectEqual(8, @offsetOf(IpMreqn, "ifindex"));
    var step: Syscall = .none;
    const group = try Address.parseIp("224.0.0.169", 0);
    const server = listen(.udp, group, .{}, &step) catch |err| {
        if (is_linux and err == error.NoDevice and translatorDropsIfindex(group.in.sa.addr)) {
            std.debug.print("multicast join not checked: this setsockopt translator (qemu-user) drops ip_mreqn's interface index\n", .{});
            return error.SkipZigTest;
        }
        return err;
    };
    defer posix.close(server);
    if (is_linux) {
        const options: ListenOptions = .{ .multicast_interface_index = 0x7fff_fff0 };
        try testing.expectError(error.NoDevice, listen(.udp, try Address.parseIp("224.0.0.169", 0), options, &step));
        try testing.expectEqual(Syscall.setsockopt, step);
    }
}

test "socket: unix listener never replaces what is at its path" {
    var path_buf: [64]u8 = undefined;
    const path = try std.fmt.bufPrint(&path_buf, "/tmp/zgnet-socket-test-{d}.sock", .{std.c.getpid()});
    const address = try Address.initUnix(path);
    var step: Syscall = .none;
    const first = try listen(.unix, address, .{}, &step);
    posix.close(first); // leaves the path behind, as a crashed server would
    try std.testing.expectError(error.AddressInUse, listen(.unix, address, .{}, &step));
    try std.testing.expectEqual(Syscall.bind, step);
    unlinkPath(path);
}
