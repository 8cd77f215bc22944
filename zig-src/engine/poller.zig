//! The poller contract every loop uses, and the one implementation chosen for this target.
//! Nothing above this file names epoll or kqueue.
//!
//!   open() / close()
//!   addRead(fd, token, trigger)     watch readability (edge trigger also watches writability,
//!                                   as gnet registers ET connections)
//!   modReadWrite(fd, token, trigger, read_paused) / modRead(fd, token, trigger, read_paused)
//!                                   watch writability or stop; a paused read stays paused
//!   setReadPaused(fd, token, trigger, paused, write_armed)   stop/restart readability only
//!   delete(fd)
//!   wait(timeout_ms) -> count; eventAt(i) -> Event
//!   wake()                          makes the poller readable from any thread (coalesced)
//!
//! Tokens are opaque u64s chosen by the caller; `wake_token` is reserved for the wake source.
//! Cross-thread wakes (work handed to a loop by another loop's thread) are never lost, given
//! this order: the waker publishes its work, then calls wake(); the woken loop, once `wait`
//! reported `wake_token`, calls consumeWake() and only then looks for the work. A wake that
//! finds one still pending was made before consumeWake() cleared it, so its work was published
//! before the loop looked.
//! The contract is also written as types below (`Contract`) and checked at comptime against
//! the poller this target uses: `npm test` builds Linux (epoll) and cross-builds macOS
//! (kqueue), so both implementations are held to the same declarations.
const std = @import("std");
const builtin = @import("builtin");
const posix = std.posix;
const Syscall = @import("syscall.zig").Syscall;
const contract = @import("poller_contract.zig");

pub const Trigger = contract.Trigger;
pub const Event = contract.Event;
pub const wake_token = contract.wake_token;
pub const events_max = contract.events_max;
pub const OpenError = contract.OpenError;
pub const CtlError = contract.CtlError;
const Contract = contract.Contract;

pub const Poller = switch (builtin.os.tag) {
    .linux => @import("poller_epoll.zig").Poller,
    .macos, .ios, .tvos, .watchos, .visionos, .freebsd, .netbsd, .openbsd, .dragonfly => @import("poller_kqueue.zig").Poller,
    else => @compileError("zgnet's native engine needs epoll (Linux) or kqueue (macOS, BSD); use the wasm fallback here"),
};

comptime {
    const fields = @typeInfo(Contract(Poller)).@"struct".fields;
    for (fields) |field| {
        if (!@hasDecl(Poller, field.name)) @compileError("the poller lacks " ++ field.name);
        if (@TypeOf(@field(Poller, field.name)) != field.type) {
            @compileError("poller." ++ field.name ++ " is " ++ @typeName(@TypeOf(@field(Poller, field.name))));
        }
    }
    // Nothing beyond the contract: code above the poller cannot come to need one of them.
    for (@typeInfo(Poller).@"struct".decls) |decl| {
        if (!@hasField(Contract(Poller), decl.name)) @compileError("poller." ++ decl.name ++ " is not in the contract");
    }
}

test "Poller: wake makes wait report the wake token, once" {
    var step: Syscall = .none;
    var poller = try Poller.open(&step);
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
    var step: Syscall = .none;
    var poller = try Poller.open(&step);
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
    try poller.modReadWrite(pair[0], 7, .level, false);
    const n = poller.wait(100);
    var writable = false;
    for (0..n) |i| writable = writable or poller.eventAt(i).writable;
    try std.testing.expect(writable);
    try poller.modRead(pair[0], 7, .level, false);
    try poller.delete(pair[0]);
    try std.testing.expectEqual(@as(usize, 0), poller.wait(0));
}
