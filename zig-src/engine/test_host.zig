//! For tests beside the engine's files: an engine with its loops started and the host's
//! memory attached, as the ABI sets it up (abi/engine_tests.zig drives the ABI itself
//! instead), and the few steps those tests share. Test support sits above every engine file.
const std = @import("std");
const testing = std.testing;
const layout = @import("layout.zig");
const Engine = @import("engine.zig").Engine;
const posix = std.posix;
const socket = @import("socket.zig");
const poller_mod = @import("poller.zig");
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;
const connection = @import("connection.zig");
const Connection = connection.Connection;
const State = connection.State;
const drain = @import("drain.zig");
const commands = @import("commands.zig");
const lifecycle = @import("lifecycle.zig");

pub const TestHost = struct {
    engine: *Engine,
    records: []i32,
    area: []u8,
    commands: []i32,
    arena: []u8,

    /// One loop, default options; listening on `listen_address` when given.
    pub fn init(listen_address: ?std.net.Address) !TestHost {
        const gpa = testing.allocator;
        var step: @import("syscall.zig").Syscall = .none;
        const engine = try Engine.create(gpa, .{}, &step);
        errdefer engine.destroy();
        if (listen_address) |address| _ = try engine.listen(.tcp, address, false, &step);
        const host: TestHost = .{
            .engine = engine,
            .records = try gpa.alloc(i32, (layout.records_max + 1) * layout.record_words),
            .area = try gpa.alloc(u8, layout.readAreaSize(engine.config.read_buffer_cap)),
            .commands = try gpa.alloc(i32, layout.commands_max * layout.command_words),
            .arena = try gpa.alloc(u8, 4096),
        };
        const buffers: event_loop.Buffers = .{ .records = host.records, .area = host.area, .commands = host.commands, .arena = host.arena };
        try engine.loops[0].attach(buffers);
        try engine.start(&step);
        return host;
    }

    pub fn deinit(host: *TestHost) void {
        const gpa = testing.allocator;
        host.engine.destroy();
        gpa.free(host.records);
        gpa.free(host.area);
        gpa.free(host.commands);
        gpa.free(host.arena);
    }

    pub fn loop(host: *const TestHost) *EventLoop {
        return &host.engine.loops[0];
    }

    /// Record `index` of the last drain (the header is not counted).
    pub fn record(host: *const TestHost, index: usize) []const i32 {
        return host.records[(index + 1) * layout.record_words ..][0..layout.record_words];
    }
};

/// A connection over one end of a socketpair, announced by a drain (state `open`); returns
/// it and the peer's end.
pub fn openConn(t: *const TestHost) !struct { conn: *Connection, peer: socket.fd_t } {
    var pair: [2]socket.fd_t = undefined;
    try testing.expectEqual(@as(c_int, 0), std.c.socketpair(posix.AF.UNIX, posix.SOCK.STREAM, 0, &pair));
    try socket.setNonBlocking(pair[0]);
    const conn = try t.loop().addConn(pair[0], .unix, try std.net.Address.initUnix("peer"), .opening);
    lifecycle.announce(t.loop(), conn);
    _ = drain.drain(t.loop());
    try testing.expectEqual(State.open, conn.state);
    return .{ .conn = conn, .peer = pair[1] };
}

/// Runs `events` as one batch of a drain (what `drain` does after its wait).
pub fn dispatchBatch(loop: *EventLoop, events: []const poller_mod.Event) void {
    loop.records_count = 0;
    loop.area_used = 0;
    loop.in_drain = true;
    for (events) |e| drain.dispatch(loop, e);
    loop.in_drain = false;
}

pub fn testEvent(token: u64, readable: bool, writable: bool) poller_mod.Event {
    return .{ .token = token, .readable = readable, .writable = writable, .hangup = false, .read_hangup = false };
}

/// Writes `len` bytes of `fill` to `conn` now; more than its socket takes, so the rest is queued.
/// The caller frees the bytes (testing.allocator).
pub fn queueBytes(loop: *EventLoop, conn: *Connection, len: usize, fill: u8) ![]u8 {
    const bytes = try testing.allocator.alloc(u8, len);
    @memset(bytes, fill);
    try testing.expectEqual(Connection.SendResult.buffered, commands.writeDirect(loop, conn, bytes));
    return bytes;
}

/// One command in the host's command array.
pub fn setCommand(
    t: *const TestHost,
    index: usize,
    kind: layout.CommandKind,
    conn: *const Connection,
    offset: i32,
    length: i32,
    flag: i32,
) void {
    const F = layout.CommandField;
    const c = t.commands[index * layout.command_words ..][0..layout.command_words];
    @memset(c, 0);
    c[F.kind] = @intFromEnum(kind);
    c[F.slot] = @intCast(conn.slot);
    c[F.generation] = @bitCast(conn.generation);
    c[F.offset] = offset;
    c[F.length] = length;
    c[F.source] = flag;
}
