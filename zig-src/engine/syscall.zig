//! The call a system error came from, and how that failure travels to the host: a leaf that
//! the sockets, the pollers, the loop and the ABI all name, importing nothing of theirs.
const std = @import("std");
const assert = std.debug.assert;

/// The call a system error came from, for the `syscall` of Node's error shape.
pub const Syscall = enum(i32) {
    none = 0,
    read = 1,
    write = 2,
    writev = 3,
    accept = 4,
    recvfrom = 5,
    sendto = 6,
    connect = 7,
    socket = 8,
    setsockopt = 9,
    bind = 10,
    listen = 11,
    epoll_create1 = 12,
    epoll_ctl = 13,
    eventfd = 14,
    kqueue = 15,
    kevent = 16,
    fcntl = 17,
    getsockname = 18,
    getpeername = 19,
    shutdown = 20,
    /// Not a system call: the TLS layer failed (an alert, a bad record, a handshake refused);
    /// the host reports ERR_TLS_HANDSHAKE with OpenSSL's reason (tls_io.zig).
    tls = 21,
};

/// A system failure travels in the result itself, never through a global: a result at or
/// below `-system_base` is `-(system_base + syscall * errno_limit + errno)`. Status codes
/// stay above -system_base; errno values stay below errno_limit (Linux's MAX_ERRNO is 4095).
pub const System = struct {
    pub const base = 1 << 20;
    pub const errno_limit = 1 << 12;
};

pub fn systemResult(errno: i32, syscall: Syscall) isize {
    assert(errno > 0 and errno < System.errno_limit);
    const code = System.base + @as(isize, @intFromEnum(syscall)) * System.errno_limit + errno;
    assert(code >= System.base);
    return -code;
}
