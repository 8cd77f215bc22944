//! The poller on Linux: epoll, plus an eventfd as the wake source.
const std = @import("std");
const posix = std.posix;
const linux = std.os.linux;
const assert = std.debug.assert;
const contract = @import("poller_contract.zig");
const Event = contract.Event;
const Trigger = contract.Trigger;
const OpenError = contract.OpenError;
const CtlError = contract.CtlError;
const Syscall = @import("syscall.zig").Syscall;

const EPOLL = linux.EPOLL;

pub const Poller = struct {
    fd: posix.fd_t,
    wake_fd: posix.fd_t,
    /// Set while a wake is written and not yet consumed: one eventfd write per wake-up.
    /// Atomic: other loops' threads wake this poller (poller.zig says in which order).
    wake_pending: std.atomic.Value(bool) = std.atomic.Value(bool).init(false),
    events: [contract.events_max]linux.epoll_event = undefined,

    /// The call behind a registration error (`addRead`, `mod*`, `delete`).
    pub const ctl_syscall: Syscall = .epoll_ctl;

    /// `step` names the call under way, for the error's `syscall`.
    pub fn open(step: *Syscall) OpenError!Poller {
        step.* = .epoll_create1;
        const fd = std.c.epoll_create1(EPOLL.CLOEXEC);
        if (fd < 0) return switch (posix.errno(fd)) {
            .MFILE => error.ProcessFdQuotaExceeded,
            .NFILE => error.SystemFdQuotaExceeded,
            .NOMEM => error.SystemResources,
            .INVAL => unreachable, // flags are valid
            else => |e| unexpected(e),
        };
        errdefer posix.close(fd);
        step.* = .eventfd;
        const wake_fd = std.c.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
        if (wake_fd < 0) return switch (posix.errno(wake_fd)) {
            .MFILE => error.ProcessFdQuotaExceeded,
            .NFILE => error.SystemFdQuotaExceeded,
            .NOMEM, .NODEV => error.SystemResources,
            .INVAL => unreachable,
            else => |e| unexpected(e),
        };
        var poller: Poller = .{ .fd = fd, .wake_fd = wake_fd };
        errdefer posix.close(wake_fd);
        step.* = ctl_syscall;
        try poller.ctl(EPOLL.CTL_ADD, wake_fd, EPOLL.IN, contract.wake_token);
        assert(poller.fd >= 0 and poller.wake_fd >= 0);
        return poller;
    }

    pub fn close(poller: *Poller) void {
        assert(poller.fd >= 0 and poller.wake_fd >= 0);
        posix.close(poller.wake_fd);
        posix.close(poller.fd);
        poller.* = undefined;
    }

    /// The fd that becomes readable when any event is pending (watched by the host's loop).
    pub fn pollFd(poller: *const Poller) posix.fd_t {
        assert(poller.fd >= 0);
        return poller.fd;
    }

    /// Edge-triggered sockets always watch writability; a paused read watches no readability.
    fn interest(trigger: Trigger, read: bool, write: bool) u32 {
        const read_bits: u32 = if (read) EPOLL.IN | EPOLL.RDHUP else 0;
        return switch (trigger) {
            .level => read_bits | (if (write) @as(u32, EPOLL.OUT) else 0),
            .edge => read_bits | EPOLL.OUT | EPOLL.ET,
        };
    }

    pub fn addRead(poller: *Poller, fd: posix.fd_t, token: u64, trigger: Trigger) CtlError!void {
        assert(token != contract.wake_token);
        assert(fd != poller.fd and fd != poller.wake_fd);
        try poller.ctl(EPOLL.CTL_ADD, fd, interest(trigger, true, false), token);
    }

    /// Watches writability too; `read_paused` keeps a paused read paused.
    pub fn modReadWrite(poller: *Poller, fd: posix.fd_t, token: u64, trigger: Trigger, read_paused: bool) CtlError!void {
        assert(token != contract.wake_token);
        if (trigger == .edge) return; // ET connections watch writability from the start.
        try poller.ctl(EPOLL.CTL_MOD, fd, interest(trigger, !read_paused, true), token);
    }

    pub fn modRead(poller: *Poller, fd: posix.fd_t, token: u64, trigger: Trigger, read_paused: bool) CtlError!void {
        assert(token != contract.wake_token);
        if (trigger == .edge) return;
        try poller.ctl(EPOLL.CTL_MOD, fd, interest(trigger, !read_paused, false), token);
    }

    /// Stops or restarts readability reports (the host's pauseRead); writability stays as it is.
    pub fn setReadPaused(poller: *Poller, fd: posix.fd_t, token: u64, trigger: Trigger, paused: bool, write_armed: bool) CtlError!void {
        assert(fd != poller.fd and fd != poller.wake_fd);
        assert(token != contract.wake_token);
        try poller.ctl(EPOLL.CTL_MOD, fd, interest(trigger, !paused, write_armed), token);
    }

    pub fn delete(poller: *Poller, fd: posix.fd_t) CtlError!void {
        assert(fd != poller.fd and fd != poller.wake_fd);
        try poller.ctl(EPOLL.CTL_DEL, fd, 0, 0);
    }

    fn ctl(poller: *Poller, op: u32, fd: posix.fd_t, events: u32, token: u64) CtlError!void {
        assert(op == EPOLL.CTL_ADD or op == EPOLL.CTL_MOD or op == EPOLL.CTL_DEL);
        var ev: linux.epoll_event = .{ .events = events, .data = .{ .u64 = token } };
        const rc = std.c.epoll_ctl(poller.fd, op, fd, &ev);
        if (rc == 0) return;
        return switch (posix.errno(rc)) {
            .BADF, .PERM => error.BadFileDescriptor,
            .EXIST => error.AlreadyRegistered,
            .NOENT => error.NotRegistered,
            .NOMEM, .NOSPC => error.SystemResources,
            .INVAL, .LOOP => unreachable, // our epoll fd is valid and never nested
            else => |e| unexpected(e),
        };
    }

    /// Waits up to `timeout_ms` (0: poll, -1: forever); returns how many events `eventAt` holds.
    pub fn wait(poller: *Poller, timeout_ms: i32) usize {
        return poller.waitMax(contract.events_max, timeout_ms);
    }

    pub fn waitMax(poller: *Poller, max: usize, timeout_ms: i32) usize {
        assert(max >= 1 and max <= contract.events_max);
        while (true) {
            const rc = std.c.epoll_wait(poller.fd, &poller.events, @intCast(max), timeout_ms);
            if (rc >= 0) {
                assert(rc <= max);
                return @intCast(rc);
            }
            switch (posix.errno(rc)) {
                .INTR => continue,
                // BADF/FAULT/INVAL: our own fd and array; a bug, not a runtime condition.
                else => |e| std.debug.panic("epoll_wait: {s}", .{@tagName(e)}),
            }
        }
    }

    pub fn eventAt(poller: *const Poller, index: usize) Event {
        assert(index < contract.events_max);
        const ev = poller.events[index];
        const flags = ev.events;
        return .{
            .token = ev.data.u64,
            .readable = flags & (EPOLL.IN | EPOLL.PRI) != 0,
            .writable = flags & EPOLL.OUT != 0,
            .hangup = flags & (EPOLL.HUP | EPOLL.ERR) != 0,
            .read_hangup = flags & EPOLL.RDHUP != 0,
        };
    }

    pub fn wake(poller: *Poller) void {
        if (poller.wake_pending.swap(true, .acq_rel)) return;
        const one: u64 = 1;
        while (true) {
            const rc = std.c.write(poller.wake_fd, std.mem.asBytes(&one), 8);
            if (rc >= 0) {
                assert(rc == 8);
                break;
            }
            switch (posix.errno(rc)) {
                .INTR => continue,
                .AGAIN => break, // the counter is already non-zero: the poller is readable
                else => |e| std.debug.panic("eventfd write: {s}", .{@tagName(e)}),
            }
        }
    }

    /// Resets the wake source after `wait` reported `wake_token`.
    pub fn consumeWake(poller: *Poller) void {
        assert(poller.wake_fd >= 0);
        var value: u64 = 0;
        while (true) {
            const rc = std.c.read(poller.wake_fd, std.mem.asBytes(&value), 8);
            if (rc >= 0) {
                assert(rc == 8);
                break;
            }
            switch (posix.errno(rc)) {
                .INTR => continue,
                .AGAIN => break,
                else => |e| std.debug.panic("eventfd read: {s}", .{@tagName(e)}),
            }
        }
        // Cleared after the read: a wake that finds it still set was made before this point.
        poller.wake_pending.store(false, .release);
    }
};

fn unexpected(e: posix.E) error{Unexpected} {
    assert(e != .SUCCESS);
    std.log.debug("poller: unexpected errno {s}", .{@tagName(e)});
    return error.Unexpected;
}
