//! Loopback tests that drive an engine through the same exported functions the host uses:
//! attach buffers, listen, start, then drain/flush like the host's poll callback does.
const std = @import("std");
const posix = std.posix;
const testing = std.testing;
const layout = @import("../engine/layout.zig");
const socket = @import("../engine/socket.zig");
const socket_listen = @import("../engine/socket_listen.zig");
const socket_io = @import("../engine/socket_io.zig");
const exports = @import("engine_exports.zig");

const Host = struct {
    engine: i32,
    records: []i32,
    area: []u8,
    commands: []i32,
    arena: []u8,
    commands_count: u32 = 0,
    arena_used: usize = 0,

    fn init(values: []const i32) !Host {
        const gpa = testing.allocator;
        const engine: i32 = @intCast(exports.zg_engine_new(values.ptr, values.len, null, 0));
        try testing.expect(engine > 0);
        const cap: usize = @intCast(values[@intFromEnum(@import("../engine/engine.zig").Option.read_buffer_cap)]);
        const host: Host = .{
            .engine = engine,
            .records = try gpa.alloc(i32, (layout.records_max + 1) * layout.record_words),
            .area = try gpa.alloc(u8, exports.zg_engine_read_area_size(cap)),
            .commands = try gpa.alloc(i32, layout.commands_max * layout.command_words),
            .arena = try gpa.alloc(u8, 64 * 1024),
        };
        const loops: u32 = @intCast(values[0]);
        for (0..loops) |i| {
            const attached = exports.zg_loop_attach(
                engine,
                @intCast(i),
                host.records.ptr,
                host.records.len,
                host.area.ptr,
                host.area.len,
                host.commands.ptr,
                host.commands.len,
                host.arena.ptr,
                host.arena.len,
            );
            try testing.expectEqual(@as(isize, 0), attached);
        }
        return host;
    }

    fn deinit(host: *Host) void {
        const gpa = testing.allocator;
        _ = exports.zg_engine_free(host.engine);
        gpa.free(host.records);
        gpa.free(host.area);
        gpa.free(host.commands);
        gpa.free(host.arena);
    }

    fn record(host: *const Host, i: usize) []const i32 {
        return host.records[(i + 1) * layout.record_words ..][0..layout.record_words];
    }

    fn command(host: *Host, kind: layout.CommandKind, slot: i32, generation: i32, data: []const u8) void {
        const c = host.commands[host.commands_count * layout.command_words ..][0..layout.command_words];
        const F = layout.CommandField;
        c[F.kind] = @intFromEnum(kind);
        c[F.slot] = slot;
        c[F.generation] = generation;
        c[F.offset] = @intCast(host.arena_used);
        c[F.length] = @intCast(data.len);
        c[F.source] = @intFromEnum(layout.CommandSource.arena);
        @memcpy(host.arena[host.arena_used..][0..data.len], data);
        host.arena_used += data.len;
        host.commands_count += 1;
    }

    /// A command over bytes already in `source` (the area: bytes the drain put there).
    fn commandFrom(host: *Host, kind: layout.CommandKind, slot: i32, source: layout.CommandSource, offset: i32, length: i32) void {
        const c = host.commands[host.commands_count * layout.command_words ..][0..layout.command_words];
        const F = layout.CommandField;
        @memset(c, 0);
        c[F.kind] = @intFromEnum(kind);
        c[F.slot] = slot;
        c[F.offset] = offset;
        c[F.length] = length;
        c[F.source] = @intFromEnum(source);
        host.commands_count += 1;
    }

    fn flush(host: *Host) !void {
        try testing.expect(exports.zg_loop_flush(host.engine, 0, host.commands_count) >= 0);
        host.commands_count = 0;
        host.arena_used = 0;
    }

    /// Drains until a record of `kind` shows up (bounded: about a second).
    fn waitFor(host: *Host, kind: layout.RecordKind) ![]const i32 {
        for (0..1000) |_| {
            const n: usize = @intCast(exports.zg_loop_drain(host.engine, 0));
            for (0..n) |i| {
                if (host.record(i)[layout.Field.kind] == @intFromEnum(kind)) return host.record(i);
            }
            std.time.sleep(std.time.ns_per_ms);
        }
        return error.TimedOut;
    }
};

fn defaultValues() [@import("../engine/engine.zig").options_count]i32 {
    // loops, lb, reuse_addr, reuse_port, read cap, write cap, keepalive x3, nodelay, rcv, snd, et, chunk,
    // multicast interface index
    return .{ 1, 0, 0, 0, 64 * 1024, 64 * 1024, 0, 0, 0, 1, 0, 0, 0, 0, 0 };
}

fn readAll(fd: posix.fd_t, out: []u8) !void {
    var got: usize = 0;
    var tries: usize = 0;
    while (got < out.len) : (tries += 1) {
        try testing.expect(tries < 2000);
        const n = socket_io.read(fd, out[got..]) catch |err| switch (err) {
            error.WouldBlock => {
                std.time.sleep(std.time.ns_per_ms);
                continue;
            },
            else => return err,
        };
        try testing.expect(n > 0);
        got += n;
    }
}

/// The next datagram on a non-blocking socket (bounded: about a second).
fn receiveDatagram(fd: posix.fd_t, buf: []u8) ![]u8 {
    for (0..1000) |_| {
        const got = socket_io.recvFrom(fd, buf) catch |err| switch (err) {
            error.WouldBlock => {
                std.time.sleep(std.time.ns_per_ms);
                continue;
            },
            else => return err,
        };
        return buf[0..got.len];
    }
    return error.TimedOut;
}

test "engine: tcp echo through drain and flush, then peer EOF" {
    const values = defaultValues();
    var host = try Host.init(&values);
    defer host.deinit();
    const index = exports.zg_engine_listen(host.engine, 0, "127.0.0.1", 9, 0, 0);
    try testing.expectEqual(@as(isize, 0), index);
    try testing.expectEqual(@as(isize, 0), exports.zg_engine_start(host.engine));
    var text: [64]u8 = undefined;
    const len: usize = @intCast(exports.zg_engine_listener_addr(host.engine, 0, &text, text.len));
    const colon = std.mem.lastIndexOfScalar(u8, text[0..len], ':').?;
    const port = try std.fmt.parseInt(u16, text[colon + 1 .. len], 10);
    var step: @import("../engine/syscall.zig").Syscall = .none;
    const client = try socket.connect(try std.net.Address.parseIp("127.0.0.1", port), &step);
    var client_open = true;
    defer if (client_open) posix.close(client);

    const open = try host.waitFor(.open);
    const slot = open[layout.Field.slot];
    const generation = open[layout.Field.generation];
    _ = try socket_io.writev(client, &.{.{ .base = "hello", .len = 5 }});
    const data = try host.waitFor(.data);
    try testing.expectEqual(slot, data[layout.Field.slot]);
    const offset: usize = @intCast(data[layout.Field.offset]);
    const length: usize = @intCast(data[layout.Field.length]);
    try testing.expectEqualStrings("hello", host.area[offset..][0..length]);
    // Echo "hel" + "lo" as two writes (one writev), keep nothing.
    host.command(.write, slot, generation, host.area[offset..][0..3]);
    host.command(.write, slot, generation, host.area[offset + 3 ..][0..2]);
    try host.flush();
    var echoed: [5]u8 = undefined;
    try readAll(client, &echoed);
    try testing.expectEqualStrings("hello", &echoed);

    // Unread bytes kept: the next chunk lands in the ring behind them.
    _ = try socket_io.writev(client, &.{.{ .base = "ab", .len = 2 }});
    const d1 = try host.waitFor(.data);
    const o1: usize = @intCast(d1[layout.Field.offset]);
    const c = host.commands[0..layout.command_words];
    const F = layout.CommandField;
    c[F.kind] = @intFromEnum(layout.CommandKind.keep);
    c[F.slot] = slot;
    c[F.generation] = generation;
    c[F.offset] = @intCast(o1);
    c[F.length] = 2;
    c[F.source] = @intFromEnum(layout.CommandSource.area);
    host.commands_count = 1;
    try host.flush();
    _ = try socket_io.writev(client, &.{.{ .base = "cd", .len = 2 }});
    const d2 = try host.waitFor(.data);
    try testing.expectEqual(@as(i32, 4), d2[layout.Field.aux]);
    var ring: [8]u8 = undefined;
    const read = exports.zg_conn_inbound(host.engine, 0, @intCast(slot), @bitCast(generation), 0, &ring, ring.len);
    try testing.expectEqual(@as(isize, 4), read);
    try testing.expectEqualStrings("abcd", ring[0..4]);

    posix.close(try socket.dup(client)); // a dup closing changes nothing
    try socket.setLinger(client, 0);
    posix.close(client);
    client_open = false;
    const closed = try host.waitFor(.close);
    try testing.expectEqual(slot, closed[layout.Field.slot]);
    try testing.expectEqual(@as(i32, @intFromEnum(posix.E.CONNRESET)), closed[layout.Field.aux]);
    host.command(.close, slot, generation, "");
    try host.flush();
    // The name is stale now.
    try testing.expect(exports.zg_conn_inbound(host.engine, 0, @intCast(slot), @bitCast(generation), 3, null, 0) < 0);
}

/// Starts `host`'s engine with one UDP listener on 127.0.0.1; returns its address.
fn startUdpServer(host: *const Host) !std.net.Address {
    try testing.expectEqual(@as(isize, 0), exports.zg_engine_listen(host.engine, 1, "127.0.0.1", 9, 0, 0));
    try testing.expectEqual(@as(isize, 0), exports.zg_engine_start(host.engine));
    return socket.localAddress(@intCast(exports.zg_engine_listener_fd(host.engine, 0)));
}

/// A UDP socket on 127.0.0.1, port 0; the caller closes it.
fn udpClient() !posix.fd_t {
    var step: @import("../engine/syscall.zig").Syscall = .none;
    return socket_listen.listen(.udp, try std.net.Address.parseIp("127.0.0.1", 0), .{}, &step);
}

test "engine: udp datagram, reply to its sender" {
    const values = defaultValues();
    var host = try Host.init(&values);
    defer host.deinit();
    const server = try startUdpServer(&host);
    const client = try udpClient();
    defer posix.close(client);
    _ = try socket_io.sendTo(client, "ping", &server);
    _ = try host.waitFor(.datagram);
    // waitFor returned a record; find its index for the reply.
    var index: u32 = 1;
    while (host.records[index * layout.record_words] != @intFromEnum(layout.RecordKind.datagram)) index += 1;
    try testing.expectEqual(@as(isize, 4), exports.zg_datagram_reply(host.engine, 0, index, "pong", 4));
    var buf: [8]u8 = undefined;
    try testing.expectEqualStrings("pong", try receiveDatagram(client, &buf));
}

test "engine: datagrams in batches, replies by command in one sendmmsg each, a refused one counted" {
    const values = defaultValues();
    var host = try Host.init(&values);
    defer host.deinit();
    const server = try startUdpServer(&host);
    const clients = [2]posix.fd_t{ try udpClient(), try udpClient() };
    defer for (clients) |fd| posix.close(fd);
    // More datagrams than a drain has slots (16 at the default cap): several batches.
    const per_client = 20;
    comptime std.debug.assert(2 * per_client > layout.datagramSlotsCount(64 * 1024));
    var text: [16]u8 = undefined;
    for (0..per_client) |i| {
        for (clients, 0..) |fd, c| _ = try socket_io.sendTo(fd, try std.fmt.bufPrint(&text, "{c}{d}", .{ "ab"[c], i }), &server);
    }
    var replied: usize = 0;
    var rounds: usize = 0;
    var refused_seen = false;
    while (replied < 2 * per_client or !refused_seen) : (rounds += 1) {
        try testing.expect(rounds < 1000);
        const n: usize = @intCast(exports.zg_loop_drain(host.engine, 0));
        if (host.records[layout.Header.datagrams_refused] != 0) {
            try testing.expectEqual(@as(i32, 1), host.records[layout.Header.datagrams_refused]);
            try testing.expectEqual(@as(i32, @intFromEnum(posix.E.MSGSIZE)), host.records[layout.Header.datagrams_refused_errno]);
            refused_seen = true;
        }
        for (0..n) |i| {
            const r = host.record(i);
            try testing.expectEqual(@as(i32, @intFromEnum(layout.RecordKind.datagram)), r[layout.Field.kind]);
            const offset: usize = @intCast(r[layout.Field.offset]);
            const got = host.area[offset..][0..@intCast(r[layout.Field.length])];
            host.command(.reply, @intCast(i + 1), 0, got);
            replied += 1;
            // Too long for UDP, among the others: dropped alone, the rest still go out.
            if (replied == 3) host.commandFrom(.reply, @intCast(i + 1), .area, 0, 70_000);
        }
        if (n == 0) std.time.sleep(std.time.ns_per_ms);
        try host.flush();
    }
    try testing.expectEqual(@as(usize, 2 * per_client), replied);
    var buf: [16]u8 = undefined;
    for (0..per_client) |i| {
        for (clients, 0..) |fd, c| {
            try testing.expectEqualStrings(try std.fmt.bufPrint(&text, "{c}{d}", .{ "ab"[c], i }), try receiveDatagram(fd, &buf));
        }
    }
}

test "engine: a registered udp conn sends every write as its own datagram" {
    const values = defaultValues();
    var host = try Host.init(&values);
    defer host.deinit();
    try testing.expectEqual(@as(isize, 0), exports.zg_engine_start(host.engine));
    const peer = try udpClient();
    defer posix.close(peer);
    const peer_address = try socket.localAddress(peer);
    const slot = exports.zg_loop_register(host.engine, 0, 1, "127.0.0.1", 9, peer_address.getPort());
    try testing.expect(slot >= 0);
    const open = try host.waitFor(.open);
    try testing.expectEqual(@as(i32, @intCast(slot)), open[layout.Field.slot]);
    const generation = open[layout.Field.generation];
    // Two queued writes (one flush) and one direct write: three datagrams, none merged.
    host.command(.write, @intCast(slot), generation, "one");
    host.command(.write, @intCast(slot), generation, "two");
    try host.flush();
    try testing.expectEqual(@as(isize, 5), exports.zg_conn_write(host.engine, 0, @intCast(slot), @bitCast(generation), "three", 5));
    var buf: [16]u8 = undefined;
    for ([_][]const u8{ "one", "two", "three" }) |want| try testing.expectEqualStrings(want, try receiveDatagram(peer, &buf));
}

test "engine: a dialed tcp conn gets the engine's TCP_NODELAY" {
    const values = defaultValues();
    var host = try Host.init(&values);
    defer host.deinit();
    try testing.expectEqual(@as(isize, 0), exports.zg_engine_listen(host.engine, 0, "127.0.0.1", 9, 0, 0));
    try testing.expectEqual(@as(isize, 0), exports.zg_engine_start(host.engine));
    var text: [64]u8 = undefined;
    const len: usize = @intCast(exports.zg_engine_listener_addr(host.engine, 0, &text, text.len));
    const colon = std.mem.lastIndexOfScalar(u8, text[0..len], ':').?;
    const port = try std.fmt.parseInt(u32, text[colon + 1 .. len], 10);
    const slot = exports.zg_loop_register(host.engine, 0, 0, "127.0.0.1", 9, port);
    try testing.expect(slot >= 0);
    // The listener's accepted conn and the dialed one both open; find the dialed one's fd.
    var fd: i32 = -1;
    for (0..1000) |_| {
        const n: usize = @intCast(exports.zg_loop_drain(host.engine, 0));
        for (0..n) |i| {
            const r = host.record(i);
            if (r[layout.Field.kind] == @intFromEnum(layout.RecordKind.open) and r[layout.Field.slot] == slot) fd = r[layout.Field.aux];
        }
        if (fd >= 0) break;
        std.time.sleep(std.time.ns_per_ms);
    }
    try testing.expect(fd >= 0);
    var value: c_int = 0;
    var value_len: posix.socklen_t = @sizeOf(c_int);
    const rc = std.c.getsockopt(fd, posix.IPPROTO.TCP, socket.TCP.NODELAY, std.mem.asBytes(&value), &value_len);
    try testing.expectEqual(@as(c_int, 0), rc);
    try testing.expect(value != 0);
}

test "engine: the option names cover the enum" {
    const count = @import("../engine/engine.zig").options_count;
    for (0..count) |i| try testing.expect(exports.zg_engine_option_name(@intCast(i)) != null);
    try testing.expect(exports.zg_engine_option_name(count) == null);
}
