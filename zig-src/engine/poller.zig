//! The poller contract every loop uses, and the one implementation chosen for this target.
//! Nothing above this file names epoll or kqueue.
//!
//!   open() / close()
//!   addRead(fd, token, trigger)     watch readability (edge trigger also watches writability,
//!                                   as gnet registers ET connections)
//!   modReadWrite(fd, token, trigger) / modRead(fd, token, trigger)
//!   delete(fd)
//!   wait(timeout_ms) -> count; eventAt(i) -> Event
//!   wake()                          makes the poller readable from anywhere (coalesced)
//!
//! Tokens are opaque u64s chosen by the caller; `wake_token` is reserved for the wake source.
const std = @import("std");
const builtin = @import("builtin");

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

pub const Error = error{
    ProcessFdQuotaExceeded,
    SystemFdQuotaExceeded,
    SystemResources,
    /// The fd was closed or is not pollable.
    BadFileDescriptor,
    /// Registered twice / not registered.
    AlreadyRegistered,
    NotRegistered,
    AccessDenied,
    Unexpected,
};

pub const Poller = switch (builtin.os.tag) {
    .linux => @import("poller_epoll.zig").Poller,
    .macos, .ios, .tvos, .watchos, .visionos, .freebsd, .netbsd, .openbsd, .dragonfly => @import("poller_kqueue.zig").Poller,
    else => @compileError("zgnet's native engine needs epoll (Linux) or kqueue (macOS, BSD); use the wasm fallback here"),
};

test "Poller: wake makes wait report the wake token, once" {
    var poller = try Poller.open();
    defer poller.close();
    try std.testing.expectEqual(@as(usize, 0), poller.wait(0));
    poller.wake();
    poller.wake();
    const n = poller.wait(100);
    try std.testing.expectEqual(@as(usize, 1), n);
    try std.testing.expectEqual(wake_token, poller.eventAt(0).token);
    poller.consumeWake();
    try std.testing.expectEqual(@as(usize, 0), poller.wait(0));
}

test "Poller: a socketpair becomes readable, then writable interest can be toggled" {
    var poller = try Poller.open();
    defer poller.close();
    var pair: [2]std.posix.fd_t = undefined;
    try std.testing.expectEqual(@as(c_int, 0), std.c.socketpair(std.posix.AF.UNIX, std.posix.SOCK.STREAM, 0, &pair));
    defer std.posix.close(pair[0]);
    defer std.posix.close(pair[1]);
    try poller.addRead(pair[0], 7, .level);
    try std.testing.expectEqual(@as(usize, 0), poller.wait(0));
    _ = try std.posix.write(pair[1], "x");
    try std.testing.expectEqual(@as(usize, 1), poller.wait(100));
    const ev = poller.eventAt(0);
    try std.testing.expectEqual(@as(u64, 7), ev.token);
    try std.testing.expect(ev.readable);
    try poller.modReadWrite(pair[0], 7, .level);
    const n = poller.wait(100);
    var writable = false;
    for (0..n) |i| writable = writable or poller.eventAt(i).writable;
    try std.testing.expect(writable);
    try poller.modRead(pair[0], 7, .level);
    try poller.delete(pair[0]);
    try std.testing.expectEqual(@as(usize, 0), poller.wait(0));
}
