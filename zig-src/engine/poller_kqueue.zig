//! The poller on macOS and the BSDs: kqueue, with EVFILT_USER as the wake source. Read and
//! write readiness are separate filters, so one socket may yield two events per wait.
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const contract = @import("poller_contract.zig");
const Event = contract.Event;
const Trigger = contract.Trigger;
const OpenError = contract.OpenError;
const CtlError = contract.CtlError;
const Syscall = @import("syscall.zig").Syscall;

const EV = std.c.EV;
const EVFILT = std.c.EVFILT;
const NOTE = std.c.NOTE;
const Kevent = std.c.Kevent;

/// The EVFILT_USER identifier of the wake source (any value unique within this kqueue).
const wake_ident: usize = 0;

pub const Poller = struct {
    fd: posix.fd_t,
    /// Atomic: other loops' threads wake this poller (poller.zig says in which order).
    wake_pending: std.atomic.Value(bool) = std.atomic.Value(bool).init(false),
    events: [contract.events_max]Kevent = undefined,

    /// The call behind a registration error (`addRead`, `mod*`, `delete`).
    pub const ctl_syscall: Syscall = .kevent;

    /// `step` names the call under way, for the error's `syscall`.
    pub fn open(step: *Syscall) OpenError!Poller {
        step.* = .kqueue;
        const fd = std.c.kqueue();
        if (fd < 0) return switch (posix.errno(fd)) {
            .MFILE => error.ProcessFdQuotaExceeded,
            .NFILE => error.SystemFdQuotaExceeded,
            .NOMEM => error.SystemResources,
            else => |e| unexpected(e),
        };
        errdefer posix.close(fd);
        // kqueue fds are not inherited across fork, but close-on-exec keeps exec'd children clean.
        step.* = .fcntl;
        if (std.c.fcntl(fd, posix.F.SETFD, @as(c_int, posix.FD_CLOEXEC)) < 0) return switch (posix.errno(-1)) {
            .BADF, .INVAL => unreachable, // our fresh fd, a valid command
            else => |e| unexpected(e),
        };
        var poller: Poller = .{ .fd = fd };
        step.* = ctl_syscall;
        try poller.change(&.{kevent(wake_ident, EVFILT.USER, EV.ADD | EV.CLEAR, 0, contract.wake_token)});
        assert(poller.fd >= 0);
        return poller;
    }

    pub fn close(poller: *Poller) void {
        assert(poller.fd >= 0);
        posix.close(poller.fd);
        poller.* = undefined;
    }

    pub fn pollFd(poller: *const Poller) posix.fd_t {
        assert(poller.fd >= 0);
        return poller.fd;
    }

    fn clearFlag(trigger: Trigger) u16 {
        return if (trigger == .edge) EV.CLEAR else 0;
    }

    pub fn addRead(poller: *Poller, fd: posix.fd_t, token: u64, trigger: Trigger) CtlError!void {
        assert(token != contract.wake_token);
        assert(fd >= 0 and fd != poller.fd);
        const ident: usize = @intCast(fd);
        if (trigger == .edge) {
            try poller.change(&.{
                kevent(ident, EVFILT.READ, EV.ADD | EV.CLEAR, 0, token),
                kevent(ident, EVFILT.WRITE, EV.ADD | EV.CLEAR, 0, token),
            });
        } else {
            try poller.change(&.{kevent(ident, EVFILT.READ, EV.ADD, 0, token)});
        }
    }

    /// The read filter is separate in kqueue: `read_paused` changes nothing here.
    pub fn modReadWrite(poller: *Poller, fd: posix.fd_t, token: u64, trigger: Trigger, read_paused: bool) CtlError!void {
        _ = read_paused;
        assert(token != contract.wake_token);
        if (trigger == .edge) return; // ET connections watch writability from the start.
        try poller.change(&.{kevent(@intCast(fd), EVFILT.WRITE, EV.ADD | clearFlag(trigger), 0, token)});
    }

    pub fn modRead(poller: *Poller, fd: posix.fd_t, token: u64, trigger: Trigger, read_paused: bool) CtlError!void {
        _ = read_paused;
        assert(token != contract.wake_token);
        if (trigger == .edge) return;
        poller.change(&.{kevent(@intCast(fd), EVFILT.WRITE, EV.DELETE, 0, 0)}) catch |err| switch (err) {
            error.NotRegistered => {},
            error.BadFileDescriptor, error.AlreadyRegistered, error.SystemResources, error.AccessDenied, error.Unexpected => |e| return e,
        };
    }

    /// Stops or restarts readability reports (the host's pauseRead); writability stays as it is.
    pub fn setReadPaused(poller: *Poller, fd: posix.fd_t, token: u64, trigger: Trigger, paused: bool, write_armed: bool) CtlError!void {
        _ = write_armed; // the write filter is separate in kqueue
        assert(fd >= 0 and fd != poller.fd);
        assert(token != contract.wake_token);
        const toggle: u16 = if (paused) EV.DISABLE else EV.ENABLE;
        const flags: u16 = toggle | clearFlag(trigger);
        try poller.change(&.{kevent(@intCast(fd), EVFILT.READ, flags, 0, token)});
    }

    pub fn delete(poller: *Poller, fd: posix.fd_t) CtlError!void {
        // Each filter separately: the write filter is often not registered.
        assert(fd >= 0 and fd != poller.fd);
        const ident: usize = @intCast(fd);
        poller.change(&.{kevent(ident, EVFILT.WRITE, EV.DELETE, 0, 0)}) catch |err| switch (err) {
            error.NotRegistered => {},
            error.BadFileDescriptor, error.AlreadyRegistered, error.SystemResources, error.AccessDenied, error.Unexpected => |e| return e,
        };
        try poller.change(&.{kevent(ident, EVFILT.READ, EV.DELETE, 0, 0)});
    }

    fn change(poller: *Poller, changes: []const Kevent) CtlError!void {
        assert(changes.len <= 2);
        var no_events: [0]Kevent = .{};
        const timeout: posix.timespec = .{ .sec = 0, .nsec = 0 };
        while (true) {
            const rc = std.c.kevent(poller.fd, changes.ptr, @intCast(changes.len), &no_events, 0, &timeout);
            if (rc >= 0) return;
            return switch (posix.errno(rc)) {
                .INTR => continue,
                .BADF => error.BadFileDescriptor,
                .NOENT => error.NotRegistered,
                .NOMEM => error.SystemResources,
                .ACCES => error.AccessDenied,
                .INVAL, .FAULT, .SRCH => unreachable, // filters and arrays are ours
                else => |e| unexpected(e),
            };
        }
    }

    pub fn wait(poller: *Poller, timeout_ms: i32) usize {
        return poller.waitMax(contract.events_max, timeout_ms);
    }

    pub fn waitMax(poller: *Poller, max: usize, timeout_ms: i32) usize {
        assert(max >= 1 and max <= contract.events_max);
        const timeout: posix.timespec = .{
            .sec = @divTrunc(@max(timeout_ms, 0), 1000),
            .nsec = @rem(@max(timeout_ms, 0), 1000) * std.time.ns_per_ms,
        };
        const no_changes: [0]Kevent = .{};
        while (true) {
            const deadline = if (timeout_ms < 0) null else &timeout;
            const rc = std.c.kevent(poller.fd, &no_changes, 0, &poller.events, @intCast(max), deadline);
            if (rc >= 0) {
                assert(rc <= max);
                return @intCast(rc);
            }
            switch (posix.errno(rc)) {
                .INTR => continue,
                else => |e| std.debug.panic("kevent wait: {s}", .{@tagName(e)}),
            }
        }
    }

    pub fn eventAt(poller: *const Poller, index: usize) Event {
        assert(index < contract.events_max);
        const ev = poller.events[index];
        const eof = ev.flags & EV.EOF != 0;
        const failed = ev.flags & EV.ERROR != 0;
        return .{
            .token = ev.udata,
            .readable = ev.filter == EVFILT.READ,
            .writable = ev.filter == EVFILT.WRITE,
            // EV_EOF on the write filter: the peer is gone; on the read filter: data may remain.
            .hangup = failed or (eof and ev.filter == EVFILT.WRITE),
            .read_hangup = eof and ev.filter == EVFILT.READ,
        };
    }

    pub fn wake(poller: *Poller) void {
        if (poller.wake_pending.swap(true, .acq_rel)) return;
        poller.change(&.{kevent(wake_ident, EVFILT.USER, 0, NOTE.TRIGGER, contract.wake_token)}) catch |err|
            std.debug.panic("kevent wake: {s}", .{@errorName(err)});
    }

    /// EV_CLEAR resets the user event when it is reported; only our flag needs clearing.
    pub fn consumeWake(poller: *Poller) void {
        assert(poller.fd >= 0);
        poller.wake_pending.store(false, .release);
    }
};

fn kevent(ident: usize, filter: anytype, flags: anytype, fflags: u32, token: u64) Kevent {
    var ev = std.mem.zeroes(Kevent);
    ev.ident = ident;
    ev.filter = @intCast(filter);
    ev.flags = @intCast(flags);
    ev.fflags = fflags;
    ev.udata = @intCast(token);
    return ev;
}

fn unexpected(e: posix.E) error{Unexpected} {
    assert(e != .SUCCESS);
    std.log.debug("poller: unexpected errno {s}", .{@tagName(e)});
    return error.Unexpected;
}
