//! The engine's lifecycle (gnet's engine_unix.go), top-down:
//!   init(config)        loops and their pollers exist; nothing is bound yet
//!   listen(...)         binds each address (the host reports EADDRINUSE etc. from here)
//!   attach buffers      per loop, the host's shared memory (event_loop.Buffers)
//!   start()             listeners join the pollers: all on loop 0 in main-reactor mode
//!                       (accepted connections spread by the load balancer), or one
//!                       SO_REUSEPORT copy per loop in reuse-port mode (the kernel spreads)
//!   ...drain/flush per loop, driven by the host...
//!   deinit()            every socket closed, unix paths removed, memory freed
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const core = @import("../core/root.zig");
const socket = @import("socket.zig");
const socket_listen = @import("socket_listen.zig");
const event_loop = @import("event_loop.zig");
const Listener = event_loop.Listener;
const EventLoop = event_loop.EventLoop;
const poller = @import("poller.zig");
const Syscall = @import("syscall.zig").Syscall;
const config_mod = @import("config.zig");
const Balancer = @import("balancer.zig").Balancer;

pub const loops_max = config_mod.loops_max;
pub const Option = config_mod.Option;
pub const options_count = config_mod.options_count;
pub const Config = config_mod.Config;

/// An address as bound by `listen`.
pub const ListenerSpec = struct {
    network: socket.Network,
    address: std.net.Address,
    v6_only: bool,
    fd: socket.fd_t,
};

/// Listeners per engine: rotate() takes a list of addresses; this bounds it.
pub const listeners_max = 64;

pub const Engine = struct {
    allocator: std.mem.Allocator,
    config: Config,
    device: [64]u8 = undefined,
    /// The loops' connection counts, for placing accepted connections (balancer.zig).
    balancer: Balancer,
    loops: []EventLoop,
    specs: std.BoundedArray(ListenerSpec, listeners_max) = .{},
    started: bool = false,

    pub const CreateError = poller.OpenError || error{ OutOfMemory, InvalidArgument };

    /// The loops and their pollers; `step` names the call under way when a poller fails.
    pub fn create(allocator: std.mem.Allocator, config: Config, step: *Syscall) CreateError!*Engine {
        assert(config.loops_count >= 1 and config.loops_count <= loops_max);
        assert(config.read_buffer_cap > 0 and config.write_buffer_cap > 0);
        const engine = try allocator.create(Engine);
        errdefer allocator.destroy(engine);
        if (config.bind_to_device.len > engine.device.len) return error.InvalidArgument;
        engine.* = .{
            .allocator = allocator,
            .config = config,
            .balancer = try Balancer.init(config.lb, config.loops_count),
            .loops = try allocator.alloc(EventLoop, config.loops_count),
        };
        @memcpy(engine.device[0..config.bind_to_device.len], config.bind_to_device);
        engine.config.bind_to_device = engine.device[0..config.bind_to_device.len];
        var created: usize = 0;
        errdefer {
            for (engine.loops[0..created]) |*loop| loop.deinit();
            allocator.free(engine.loops);
        }
        for (engine.loops, 0..) |*loop, i| {
            loop.* = try EventLoop.init(allocator, &engine.config, &engine.balancer, engine.loops, @intCast(i), step);
            created += 1;
        }
        assert(created == engine.loops.len);
        return engine;
    }

    pub fn destroy(engine: *Engine) void {
        assert(engine.loops.len == engine.config.loops_count);
        for (engine.loops) |*loop| loop.deinit();
        for (engine.specs.slice()) |spec| closeSpec(spec);
        // After the loops: their sessions were made from it.
        if (engine.config.tls_server) |context| context.destroy();
        engine.allocator.free(engine.loops);
        engine.allocator.destroy(engine);
    }

    /// The socket file stays: the host removes it if it is still the one it bound.
    fn closeSpec(spec: ListenerSpec) void {
        assert(spec.fd >= 0);
        posix.close(spec.fd);
    }

    /// True when every loop owns its listeners (gnet's ReusePort mode).
    pub fn reusePortMode(engine: *const Engine) bool {
        assert(engine.config.loops_count == engine.loops.len);
        return engine.config.reusePortMode();
    }

    fn listenOptions(engine: *const Engine, v6_only: bool) socket_listen.ListenOptions {
        const c = engine.config;
        assert(c.bind_to_device.len <= engine.device.len);
        return .{
            .reuse_addr = c.reuse_addr,
            .reuse_port = c.reuse_port,
            .v6_only = v6_only,
            .no_delay = c.no_delay,
            .keep_alive_s = c.keep_alive_s,
            .keep_interval_s = c.keep_interval_s,
            .keep_count = c.keep_count,
            .recv_buffer = c.recv_buffer,
            .send_buffer = c.send_buffer,
            .bind_to_device = c.bind_to_device,
            .multicast_interface_index = c.multicast_interface_index,
        };
    }

    pub fn listenersFull(engine: *const Engine) bool {
        assert(engine.specs.len <= listeners_max);
        return engine.specs.len == listeners_max;
    }

    pub const ListenError = socket_listen.ListenError || socket.AddressError;

    /// Binds one address; returns its index. Port 0 binds an ephemeral port. `step` names
    /// the call under way, for the error's `syscall`. The caller checks `listenersFull` first.
    pub fn listen(engine: *Engine, network: socket.Network, address: std.net.Address, v6_only: bool, step: *Syscall) ListenError!u32 {
        assert(!engine.started);
        assert(!engine.listenersFull());
        const fd = try socket_listen.listen(network, address, engine.listenOptions(v6_only), step);
        errdefer posix.close(fd);
        step.* = .getsockname;
        const bound = if (network == .unix) address else try socket.localAddress(fd);
        engine.specs.appendAssumeCapacity(.{ .network = network, .address = bound, .v6_only = v6_only, .fd = fd });
        assert(engine.specs.len <= listeners_max);
        return @intCast(engine.specs.len - 1);
    }

    /// Adding the listeners to the pollers; in reuse-port mode also each loop's own copy.
    pub const StartError = poller.CtlError || socket_listen.ListenError || error{ OutOfMemory, InvalidArgument };

    /// Listeners join the pollers (see the top of this file). `step` names the call under way.
    pub fn start(engine: *Engine, step: *Syscall) StartError!void {
        assert(!engine.started);
        for (engine.loops) |*loop| if (loop.buffers == null) return error.InvalidArgument;
        for (engine.specs.slice(), 0..) |spec, i| {
            step.* = poller.Poller.ctl_syscall;
            const original: Listener = .{ .fd = spec.fd, .network = spec.network, .spec_index = @intCast(i), .loop_owned = false };
            try engine.loops[0].addListener(original);
            if (!engine.reusePortMode()) continue;
            for (engine.loops[1..]) |*loop| {
                const fd = try socket_listen.listen(spec.network, spec.address, engine.listenOptions(spec.v6_only), step);
                errdefer posix.close(fd);
                step.* = poller.Poller.ctl_syscall;
                try loop.addListener(.{ .fd = fd, .network = spec.network, .spec_index = @intCast(i), .loop_owned = true });
            }
        }
        engine.started = true;
        for (engine.loops) |*loop| loop.started = true;
    }
};

// ---- tests: loops on threads of their own ------------------------------------------------------

const testing = std.testing;
const layout = @import("layout.zig");
const drain = @import("drain.zig");
const acceptor = @import("acceptor.zig");
const inbox_max = @import("inbox.zig").inbox_max;

/// Open connections of every loop, as the load balancer counts them (threads joined: no lock).
fn connsCountForTest(engine: *const Engine) u32 {
    var total: u32 = 0;
    for (0..engine.loops.len) |i| total += engine.balancer.connCount(@intCast(i));
    return total;
}

/// One loop's host memory and the opens its drains reported.
const ThreadHost = struct {
    records: []i32,
    area: []u8,
    commands: []i32,
    arena: [64]u8 = undefined,
    opens: std.atomic.Value(u32) = std.atomic.Value(u32).init(0),
    stop: std.atomic.Value(bool) = std.atomic.Value(bool).init(false),

    fn init(loop: *EventLoop) !*ThreadHost {
        const gpa = testing.allocator;
        const host = try gpa.create(ThreadHost);
        host.* = .{
            .records = try gpa.alloc(i32, (layout.records_max + 1) * layout.record_words),
            .area = try gpa.alloc(u8, layout.readAreaSize(loop.read_buffer_cap)),
            .commands = try gpa.alloc(i32, layout.commands_max * layout.command_words),
        };
        try loop.attach(.{ .records = host.records, .area = host.area, .commands = host.commands, .arena = &host.arena });
        return host;
    }

    fn deinit(host: *ThreadHost) void {
        const gpa = testing.allocator;
        gpa.free(host.records);
        gpa.free(host.area);
        gpa.free(host.commands);
        gpa.destroy(host);
    }

    /// What a host thread does: wait for the loop's fd, drain, count the opens.
    /// Attaching again makes this thread the loop's owner (drain asserts it runs there).
    fn serve(host: *ThreadHost, loop: *EventLoop) void {
        loop.attach(.{ .records = host.records, .area = host.area, .commands = host.commands, .arena = &host.arena }) catch |err|
            std.debug.panic("attach: {s}", .{@errorName(err)});
        var fds = [_]posix.pollfd{.{ .fd = loop.poller.pollFd(), .events = posix.POLL.IN, .revents = 0 }};
        while (!host.stop.load(.acquire)) {
            _ = posix.poll(&fds, 5) catch |err| std.debug.panic("poll: {s}", .{@errorName(err)});
            const count = drain.drain(loop);
            for (0..count) |i| {
                const kind = host.records[(i + 1) * layout.record_words + layout.Field.kind];
                if (kind == @intFromEnum(layout.RecordKind.open)) _ = host.opens.fetchAdd(1, .monotonic);
            }
        }
    }
};

test "Engine: accepted connections reach a loop on another thread, counted across threads" {
    var step: Syscall = .none;
    const engine = try Engine.create(testing.allocator, .{ .loops_count = 2, .lb = .round_robin }, &step);
    defer engine.destroy();
    const index = try engine.listen(.tcp, try std.net.Address.parseIp("127.0.0.1", 0), false, &step);
    var hosts: [2]*ThreadHost = undefined;
    for (&hosts, engine.loops) |*host, *loop| host.* = try ThreadHost.init(loop);
    defer for (hosts) |host| host.deinit();
    try engine.start(&step);
    var threads: [2]std.Thread = undefined;
    for (&threads, hosts, engine.loops) |*thread, host, *loop| thread.* = try std.Thread.spawn(.{}, ThreadHost.serve, .{ host, loop });
    // Clients connect while both threads drain: loop 0 accepts, round-robin hands every other
    // connection to loop 1, whose thread adopts it from its inbox after the wake.
    const clients_count = 64;
    var clients: [clients_count]socket.fd_t = undefined;
    for (&clients) |*client| client.* = try socket.connect(engine.specs.get(index).address, &step);
    defer for (clients) |client| posix.close(client);
    var waited_ms: u32 = 0;
    while (hosts[0].opens.load(.acquire) + hosts[1].opens.load(.acquire) < clients_count) : (waited_ms += 1) {
        if (waited_ms > 10_000) break;
        std.time.sleep(std.time.ns_per_ms);
    }
    for (hosts) |host| host.stop.store(true, .release);
    for (threads) |thread| thread.join();
    try testing.expectEqual(@as(u32, clients_count / 2), hosts[0].opens.load(.acquire));
    try testing.expectEqual(@as(u32, clients_count / 2), hosts[1].opens.load(.acquire));
    try testing.expectEqual(@as(u32, clients_count), connsCountForTest(engine));
    try testing.expectEqual(@as(u32, clients_count / 2), engine.balancer.connCount(1));
}

test "Engine: least-connections counts a placed connection at once, so a burst spreads" {
    var step: Syscall = .none;
    const engine = try Engine.create(testing.allocator, .{ .loops_count = 3, .lb = .least_connections }, &step);
    defer engine.destroy();
    // No loop drains: the counts alone must spread the placements.
    for (0..6) |_| {
        const index = engine.balancer.placeCounted("");
        try testing.expect(index < 3);
    }
    for (0..3) |i| try testing.expectEqual(@as(u32, 2), engine.balancer.connCount(@intCast(i)));
    for (0..3) |i| for (0..2) |_| engine.balancer.connClosed(@intCast(i));
    try testing.expectEqual(@as(u32, 0), connsCountForTest(engine));
}

test "Engine: a loop whose inbox is full gets no more; the acceptor keeps the connection, counted there" {
    var step: Syscall = .none;
    const engine = try Engine.create(testing.allocator, .{ .loops_count = 2, .lb = .round_robin }, &step);
    defer engine.destroy();
    const target = &engine.loops[1];
    const remote = try std.net.Address.parseIp("127.0.0.1", 1);
    // Nobody drains loop 1: its inbox fills (the engine closes these fds when destroyed).
    for (0..inbox_max) |_| {
        const fd = try posix.dup(1);
        try testing.expect(target.handOff(.{ .fd = fd, .network = .tcp, .remote = remote }));
    }
    const one_more = try posix.dup(1);
    try testing.expect(!target.handOff(.{ .fd = one_more, .network = .tcp, .remote = remote }));
    posix.close(one_more);
    try testing.expectEqual(@as(usize, inbox_max), target.inbox.items.len);
    // Round-robin places the first connection on loop 0, the second on loop 1, whose inbox is
    // full: it stays on loop 0, counted there.
    var pairs: [2][2]posix.fd_t = undefined;
    for (&pairs) |*pair| try testing.expectEqual(@as(c_int, 0), std.c.socketpair(posix.AF.UNIX, posix.SOCK.STREAM, 0, pair));
    defer for (pairs) |pair| posix.close(pair[1]);
    for (pairs) |pair| acceptor.placeAccepted(&engine.loops[0], pair[0], .unix, remote);
    try testing.expectEqual(@as(u32, 2), engine.balancer.connCount(0));
    try testing.expectEqual(@as(u32, 0), engine.balancer.connCount(1));
    try testing.expectEqual(@as(usize, 2), engine.loops[0].conns.items.len);
    try testing.expectEqual(@as(usize, inbox_max), target.inbox.items.len);
}
