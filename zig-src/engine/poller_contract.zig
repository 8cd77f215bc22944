//! The types every poller shares and the contract it is held to (poller.zig explains the
//! contract and picks the implementation): below both implementations, so neither imports
//! the file that imports it.
const std = @import("std");
const posix = std.posix;
const Syscall = @import("syscall.zig").Syscall;

pub const Trigger = enum { level, edge };

/// A readiness report, portable across pollers. kqueue reports one filter per event, epoll
/// several flags at once; both map to this.
pub const Event = struct {
    token: u64,
    readable: bool,
    writable: bool,
    /// The peer hung up, or the socket has an error pending (read it with SO_ERROR).
    hangup: bool,
    /// The peer shut its write side while data may still be readable (EPOLLRDHUP / EV_EOF).
    read_hangup: bool,
};

pub const wake_token: u64 = std.math.maxInt(u64);

/// Events per wait: gnet's cap for epoll (MaxPollEventsCap); a drain that needs more
/// simply runs again, level triggering keeps the rest pending.
pub const events_max = 1024;

/// A registration change (epoll_ctl, kevent).
pub const CtlError = error{
    /// The fd was closed behind our back, or is not pollable (epoll: EPERM for a file).
    BadFileDescriptor,
    /// Registered twice / not registered.
    AlreadyRegistered,
    NotRegistered,
    /// Kernel memory (epoll: also ENOSPC, the max_user_watches limit).
    SystemResources,
    /// kqueue: EACCES, a filter the process may not watch.
    AccessDenied,
    Unexpected,
};

/// Opening a poller: its own fds (epoll_create1 and eventfd, or kqueue and its fcntl), then
/// the wake source's registration.
pub const OpenError = CtlError || error{ ProcessFdQuotaExceeded, SystemFdQuotaExceeded };

/// Every public declaration of a poller, with its type. `open` and `ctl_syscall` name the
/// failed call for the host's `syscall` (epoll_create1/eventfd/epoll_ctl, kqueue/kevent).
pub fn Contract(comptime P: type) type {
    return struct {
        ctl_syscall: Syscall,
        open: fn (*Syscall) OpenError!P,
        close: fn (*P) void,
        pollFd: fn (*const P) posix.fd_t,
        addRead: fn (*P, posix.fd_t, u64, Trigger) CtlError!void,
        modReadWrite: fn (*P, posix.fd_t, u64, Trigger, bool) CtlError!void,
        modRead: fn (*P, posix.fd_t, u64, Trigger, bool) CtlError!void,
        setReadPaused: fn (*P, posix.fd_t, u64, Trigger, bool, bool) CtlError!void,
        delete: fn (*P, posix.fd_t) CtlError!void,
        wait: fn (*P, i32) usize,
        waitMax: fn (*P, usize, i32) usize,
        eventAt: fn (*const P, usize) Event,
        wake: fn (*P) void,
        consumeWake: fn (*P) void,
    };
}
