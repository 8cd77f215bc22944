//! flush(): the host's commands in order (layout.zig's CommandKind): writes (consecutive
//! writes of a connection become one writev), datagram replies (consecutive ones become one
//! sendmmsg), unread bytes kept in the inbound ring, closes, read pauses and watches; plus
//! the two calls the host makes outside a batch (a direct write, a flush of one connection).
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const socket = @import("socket.zig");
const socket_io = @import("socket_io.zig");
const layout = @import("layout.zig");
const lifecycle = @import("lifecycle.zig");
const records = @import("records.zig");
const conn_io = @import("conn_io.zig");
const connection = @import("connection.zig");
const Connection = connection.Connection;
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;
const Buffers = event_loop.Buffers;

pub const FlushError = error{InvalidCommand};

/// Runs the host's first `count` commands, in order.
pub fn flush(loop: *EventLoop, count: usize) FlushError!void {
    loop.assertOwned();
    assert(!loop.in_drain);
    const buffers = loop.buffers.?;
    if (count > layout.commands_max) return error.InvalidCommand;
    const F = layout.CommandField;
    var i: usize = 0;
    // Bounded by `count`: every round consumes at least one command.
    while (i < count) {
        const c = command(buffers, i);
        const kind = std.meta.intToEnum(layout.CommandKind, c[F.kind]) catch return error.InvalidCommand;
        const slot: u32 = @bitCast(c[F.slot]);
        const generation: u32 = @bitCast(c[F.generation]);
        switch (kind) {
            .write => i = try flushWrites(loop, buffers, i, count),
            .reply => i = try flushReplies(loop, buffers, i, count),
            .keep => {
                i += 1;
                const bytes = try range(try source(buffers, c[F.source]), c[F.offset], c[F.length]);
                const conn = loop.lookup(slot, generation) orelse continue;
                if (conn.state != .open) continue;
                conn.inbound.write(bytes) catch |err| switch (err) {
                    error.OutOfMemory => {
                        _ = conn.fail(@intFromEnum(posix.E.NOMEM), .read);
                        lifecycle.reportFailed(loop, conn);
                    },
                };
            },
            .close => {
                i += 1;
                const conn = loop.lookup(slot, generation) orelse continue;
                lifecycle.closeByHost(loop, conn);
            },
            .pause_read, .resume_read => {
                i += 1;
                const conn = loop.lookup(slot, generation) orelse continue;
                if (conn.state != .open) continue;
                conn_io.setReadPaused(loop, conn, kind == .pause_read);
            },
            .end => {
                i += 1;
                const conn = loop.lookup(slot, generation) orelse continue;
                if (conn.state != .open or conn.network == .udp) continue;
                if (conn.requestEnd(&loop.poller, loop.trigger) == .failed) lifecycle.reportFailed(loop, conn);
            },
            .watch => {
                i += 1;
                const conn = loop.lookup(slot, generation) orelse continue;
                if (conn.state != .open) continue;
                conn.watch_low = if (c[F.offset] >= 0) c[F.offset] else -1;
                conn.watch_sent = @bitCast(c[F.length]);
                conn.watch_sent_set = c[F.source] != 0;
                conn_io.checkWatch(loop, conn);
            },
        }
    }
    assert(i == count);
}

/// The run of write commands from `first` that name one connection, sent as one writev (at
/// most `iov_count_max` parts); returns the index of the command after the run.
fn flushWrites(loop: *EventLoop, buffers: Buffers, first: usize, count: usize) FlushError!usize {
    assert(first < count);
    const F = layout.CommandField;
    const c = command(buffers, first);
    assert(c[F.kind] == @intFromEnum(layout.CommandKind.write));
    var parts: [socket_io.iov_count_max][]const u8 = undefined;
    var parts_count: usize = 0;
    var j = first;
    while (j < count and parts_count < parts.len) : (j += 1) {
        const w = command(buffers, j);
        if (w[F.kind] != @intFromEnum(layout.CommandKind.write)) break;
        if (w[F.slot] != c[F.slot] or w[F.generation] != c[F.generation]) break;
        parts[parts_count] = try range(try source(buffers, w[F.source]), w[F.offset], w[F.length]);
        parts_count += 1;
    }
    assert(j > first and parts_count == j - first);
    const conn = loop.lookup(@bitCast(c[F.slot]), @bitCast(c[F.generation])) orelse return j;
    if (conn.state != .open) return j;
    if (conn.send(&loop.poller, loop.trigger, parts[0..parts_count]) == .failed) lifecycle.reportFailed(loop, conn);
    return j;
}

/// The run of reply commands from `first` to one listener's senders, sent by one sendmmsg
/// (at most a batch); returns the index of the command after the run. Refused datagrams are
/// dropped and counted for the next drain's header.
fn flushReplies(loop: *EventLoop, buffers: Buffers, first: usize, count: usize) FlushError!usize {
    assert(first < count);
    const F = layout.CommandField;
    const batch = loop.datagram_batch;
    var listener_index: ?i32 = null;
    var j = first;
    while (j < count and j - first < socket_io.DatagramBatch.count_max) : (j += 1) {
        const reply = command(buffers, j);
        if (reply[F.kind] != @intFromEnum(layout.CommandKind.reply)) break;
        // The record names the sender and the listener: host memory, checked before use.
        const record_index: u32 = @bitCast(reply[F.slot]);
        const remote = records.datagramRemote(loop, record_index) orelse return error.InvalidCommand;
        const listener = buffers.records[record_index * layout.record_words + layout.Field.slot];
        if (listener < 0 or listener >= loop.listeners.items.len) return error.InvalidCommand;
        if (listener_index) |same| if (listener != same) break;
        listener_index = listener;
        const data = try range(try source(buffers, reply[F.source]), reply[F.offset], reply[F.length]);
        batch.setOutgoing(j - first, data, &remote);
    }
    assert(j > first and j - first <= socket_io.DatagramBatch.count_max);
    const fd = loop.listeners.items[@intCast(listener_index.?)].fd;
    assert(fd >= 0); // a listener's socket is open while its loop lives
    loop.datagrams_refused.absorb(socket_io.sendBatch(fd, batch, j - first));
    return j;
}

/// A write the host passes directly (too big for its arena, or a datagram reply).
pub fn writeDirect(loop: *EventLoop, conn: *Connection, data: []const u8) Connection.SendResult {
    assert(!loop.in_drain);
    if (conn.state != .open) return .failed;
    const result = conn.send(&loop.poller, loop.trigger, &.{data});
    if (result == .failed) lifecycle.reportFailed(loop, conn);
    return result;
}

/// `c.flush()`: one pass over the outbound buffer now.
pub fn flushConn(loop: *EventLoop, conn: *Connection) void {
    assert(!loop.in_drain);
    if (conn.state != .open) return;
    if (!conn.flushOutbound(&loop.poller, loop.trigger, std.math.maxInt(usize))) return lifecycle.reportFailed(loop, conn);
    conn_io.checkWatch(loop, conn);
}

fn command(buffers: Buffers, index: usize) []const i32 {
    assert(index < layout.commands_max);
    return buffers.commands[index * layout.command_words ..][0..layout.command_words];
}

/// The bytes a command's source names: host memory, so an unknown source is refused.
fn source(buffers: Buffers, value: i32) FlushError![]u8 {
    const which = std.meta.intToEnum(layout.CommandSource, value) catch return error.InvalidCommand;
    return switch (which) {
        .arena => buffers.arena,
        .area => buffers.area,
    };
}

fn range(bytes: []u8, offset: i32, length: i32) FlushError![]u8 {
    if (offset < 0 or length < 0) return error.InvalidCommand;
    const start: usize = @intCast(offset);
    const len: usize = @intCast(length);
    if (start > bytes.len or len > bytes.len - start) return error.InvalidCommand;
    return bytes[start..][0..len];
}

// ---- tests ---------------------------------------------------------------------------------

const testing = std.testing;
const test_host = @import("test_host.zig");
const drain = @import("drain.zig");
const TestHost = test_host.TestHost;

test "EventLoop: a command with an unknown kind or source, or out of bounds, is refused" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const F = layout.CommandField;
    @memset(t.commands[0..layout.command_words], 0);
    t.commands[F.kind] = 9;
    try testing.expectError(error.InvalidCommand, flush(loop, 1));
    t.commands[F.kind] = @intFromEnum(layout.CommandKind.keep);
    t.commands[F.source] = 7;
    try testing.expectError(error.InvalidCommand, flush(loop, 1));
    t.commands[F.source] = @intFromEnum(layout.CommandSource.arena);
    t.commands[F.length] = @intCast(t.arena.len + 1);
    try testing.expectError(error.InvalidCommand, flush(loop, 1));
    try testing.expectError(error.InvalidCommand, flush(loop, layout.commands_max + 1));
}

test "EventLoop: pause_read stops reads until resume_read, and the bytes wait in the kernel" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try test_host.openConn(&t);
    defer posix.close(a.peer);
    test_host.setCommand(&t, 0, .pause_read, a.conn, 0, 0, 0);
    try flush(loop, 1);
    try testing.expect(a.conn.read_paused);
    _ = try posix.write(a.peer, "held");
    try testing.expectEqual(@as(usize, 0), drain.drain(loop));
    // Even a readiness event (edge-triggered leftovers, a stale batch) reads nothing.
    test_host.dispatchBatch(loop, &.{test_host.testEvent(a.conn.token(), true, false)});
    try testing.expectEqual(@as(usize, 0), loop.records_count);
    test_host.setCommand(&t, 0, .resume_read, a.conn, 0, 0, 0);
    try flush(loop, 1);
    try testing.expect(!a.conn.read_paused);
    try testing.expectEqual(@as(usize, 1), drain.drain(loop));
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.data)), t.record(0)[layout.Field.kind]);
    try testing.expectEqual(@as(i32, 4), t.record(0)[layout.Field.length]);
}

test "EventLoop: a watch reports writable once the queue drains to its mark, with the bytes sent" {
    var t = try TestHost.init(null);
    defer t.deinit();
    const loop = t.loop();
    const a = try test_host.openConn(&t);
    defer posix.close(a.peer);
    const big = try test_host.queueBytes(loop, a.conn, 1 << 20, 'w');
    defer testing.allocator.free(big);
    const queued = a.conn.outbound.buffered();
    try testing.expect(queued > 0);
    try testing.expectEqual(@as(u32, @intCast(big.len - queued)), a.conn.sent_total);
    // Watch for an empty queue: not yet.
    test_host.setCommand(&t, 0, .watch, a.conn, 0, 0, 0);
    try flush(loop, 1);
    try testing.expect(a.conn.watching() and !a.conn.writable_report);
    // The peer reads everything; the writes that follow empty the queue and report it.
    try socket.setNonBlocking(a.peer);
    var scratch: [64 * 1024]u8 = undefined;
    var drains: usize = 0;
    while (a.conn.watching() and drains < 1000) : (drains += 1) {
        while (true) {
            const n = posix.read(a.peer, &scratch) catch break;
            if (n == 0) break;
        }
        _ = drain.drain(loop);
    }
    try testing.expect(!a.conn.watching());
    var found = false;
    for (0..loop.records_count) |i| {
        const r = t.record(i);
        if (r[layout.Field.kind] != @intFromEnum(layout.RecordKind.writable)) continue;
        found = true;
        try testing.expectEqual(@as(i32, 0), r[layout.Field.aux]);
        try testing.expectEqual(@as(i32, @intCast(big.len)), r[layout.Field.aux2]);
    }
    try testing.expect(found);
    // A watch for bytes already sent is answered by the next drain.
    test_host.setCommand(&t, 0, .watch, a.conn, -1, @intCast(big.len), 1);
    try flush(loop, 1);
    try testing.expect(a.conn.writable_report);
    _ = drain.drain(loop);
    try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.writable)), t.record(0)[layout.Field.kind]);
}
