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
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;
const acceptor = @import("acceptor.zig");
const poller = @import("poller.zig");
const Syscall = @import("layout.zig").Syscall;

pub const loops_max = core.load_balancer.loops_max;

/// Option ids the host passes as an array of i32, by name (zg_engine_option_name).
pub const Option = enum(u8) {
    loops_count,
    lb,
    reuse_addr,
    reuse_port,
    read_buffer_cap,
    write_buffer_cap,
    keep_alive_s,
    keep_interval_s,
    keep_count,
    no_delay,
    recv_buffer,
    send_buffer,
    edge_triggered,
    edge_chunk,
    multicast_interface_index,
};
pub const options_count = @typeInfo(Option).@"enum".fields.len;

pub const Config = struct {
    loops_count: u32 = 1,
    lb: core.load_balancer.Policy = .round_robin,
    reuse_addr: bool = false,
    reuse_port: bool = false,
    read_buffer_cap: usize = 64 * 1024,
    write_buffer_cap: usize = 64 * 1024,
    keep_alive_s: u32 = 0,
    keep_interval_s: u32 = 0,
    keep_count: u32 = 0,
    no_delay: bool = true,
    recv_buffer: u32 = 0,
    send_buffer: u32 = 0,
    edge_triggered: bool = false,
    edge_chunk: usize = 1 << 20,
    /// gnet's MulticastInterfaceIndex: UDP listeners on a multicast IP join the group on this
    /// interface; 0 lets the OS choose.
    multicast_interface_index: u32 = 0,
    bind_to_device: []const u8 = "",

    pub fn fromValues(values: []const i32) error{InvalidArgument}!Config {
        if (values.len != options_count) return error.InvalidArgument;
        for (values) |v| if (v < 0) return error.InvalidArgument;
        const get = struct {
            fn f(vs: []const i32, o: Option) u32 {
                return @intCast(vs[@intFromEnum(o)]);
            }
        }.f;
        const config: Config = .{
            .loops_count = get(values, .loops_count),
            .lb = std.meta.intToEnum(core.load_balancer.Policy, get(values, .lb)) catch return error.InvalidArgument,
            .reuse_addr = get(values, .reuse_addr) != 0,
            .reuse_port = get(values, .reuse_port) != 0,
            .read_buffer_cap = get(values, .read_buffer_cap),
            .write_buffer_cap = get(values, .write_buffer_cap),
            .keep_alive_s = get(values, .keep_alive_s),
            .keep_interval_s = get(values, .keep_interval_s),
            .keep_count = get(values, .keep_count),
            .no_delay = get(values, .no_delay) != 0,
            .recv_buffer = get(values, .recv_buffer),
            .send_buffer = get(values, .send_buffer),
            .edge_triggered = get(values, .edge_triggered) != 0,
            .edge_chunk = @max(get(values, .edge_chunk), 1),
            .multicast_interface_index = get(values, .multicast_interface_index),
        };
        if (config.loops_count == 0 or config.loops_count > loops_max) return error.InvalidArgument;
        if (config.read_buffer_cap == 0 or config.write_buffer_cap == 0) return error.InvalidArgument;
        return config;
    }
};

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
    lb: core.load_balancer.LoadBalancer,
    /// Guards `lb`: loops on several threads open and close connections at once.
    lb_mutex: std.Thread.Mutex = .{},
    loops: []EventLoop,
    specs: std.BoundedArray(ListenerSpec, listeners_max) = .{},
    started: bool = false,

    pub const CreateError = poller.Error || error{ OutOfMemory, InvalidArgument };

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
            .lb = core.load_balancer.LoadBalancer.init(config.lb, config.loops_count) catch return error.InvalidArgument,
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
            loop.* = try EventLoop.init(engine, @intCast(i), step);
            created += 1;
        }
        assert(created == engine.loops.len);
        return engine;
    }

    pub fn destroy(engine: *Engine) void {
        assert(engine.loops.len == engine.config.loops_count);
        for (engine.loops) |*loop| loop.deinit();
        for (engine.specs.slice()) |spec| closeSpec(spec);
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
        return engine.config.reuse_port and engine.config.loops_count > 1;
    }

    fn listenOptions(engine: *const Engine, v6_only: bool) socket.ListenOptions {
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

    pub const ListenError = socket.Error || error{TooManyListeners};

    /// Binds one address; returns its index. Port 0 binds an ephemeral port. `step` names
    /// the call under way, for the error's `syscall`.
    pub fn listen(engine: *Engine, network: socket.Network, address: std.net.Address, v6_only: bool, step: *Syscall) ListenError!u32 {
        assert(!engine.started);
        if (engine.specs.len == listeners_max) return error.TooManyListeners;
        const fd = try socket.listen(network, address, engine.listenOptions(v6_only), step);
        errdefer posix.close(fd);
        step.* = .getsockname;
        const bound = if (network == .unix) address else try socket.localAddress(fd);
        engine.specs.appendAssumeCapacity(.{ .network = network, .address = bound, .v6_only = v6_only, .fd = fd });
        assert(engine.specs.len <= listeners_max);
        return @intCast(engine.specs.len - 1);
    }

    pub const StartError = socket.Error || error{OutOfMemory};

    /// Listeners join the pollers (see the top of this file). `step` names the call under way.
    pub fn start(engine: *Engine, step: *Syscall) StartError!void {
        assert(!engine.started);
        for (engine.loops) |*loop| if (loop.buffers == null) return error.InvalidArgument;
        for (engine.specs.slice(), 0..) |spec, i| {
            step.* = poller.Poller.ctl_syscall;
            const original: acceptor.Listener = .{ .fd = spec.fd, .network = spec.network, .spec_index = @intCast(i), .loop_owned = false };
            try engine.loops[0].addListener(original);
            if (!engine.reusePortMode()) continue;
            for (engine.loops[1..]) |*loop| {
                const fd = try socket.listen(spec.network, spec.address, engine.listenOptions(spec.v6_only), step);
                errdefer posix.close(fd);
                step.* = poller.Poller.ctl_syscall;
                try loop.addListener(.{ .fd = fd, .network = spec.network, .spec_index = @intCast(i), .loop_owned = true });
            }
        }
        engine.started = true;
    }

    /// A connection `from` accepted: it joins `from` (reuse-port mode) or the loop the load
    /// balancer picks, and is announced by that loop's next drain (or this one). Runs on
    /// `from`'s thread.
    pub fn placeAccepted(engine: *Engine, from: *EventLoop, fd: socket.fd_t, network: socket.Network, remote: std.net.Address) void {
        assert(fd >= 0);
        assert(network != .udp);
        const target = if (engine.reusePortMode() or engine.loops.len == 1) blk: {
            engine.connOpened(from.index);
            break :blk from;
        } else blk: {
            var text: [64]u8 = undefined;
            const key = if (engine.config.lb == .source_addr_hash) formatHostPort(&text, remote) else "";
            break :blk &engine.loops[engine.placeCounted(key)];
        };
        if (network == .tcp and @import("builtin").os.tag != .linux and engine.config.keep_alive_s > 0) {
            // Linux inherits keep-alive from the listener; other systems need it per socket.
            const c = engine.config;
            socket.setKeepAlive(fd, true, c.keep_alive_s, c.keep_interval_s, c.keep_count) catch |err| switch (err) {
                // The peer left already (macOS answers EINVAL then): its first read reports it.
                error.InvalidArgument, error.ConnectionReset, error.NotConnected => {},
                // Keep-alive is advice to the kernel: gnet logs its failure and serves the
                // connection anyway, and so do we.
                else => |e| std.log.debug("keep-alive on an accepted socket: {s}", .{@errorName(e)}),
            };
        }
        const accepted: event_loop.Accepted = .{ .fd = fd, .network = network, .remote = remote };
        // Another loop may run on another thread: it adopts the connection itself. A loop too
        // far behind to take it leaves it here, where it is served all the same.
        if (target == from) return from.adoptAccepted(accepted);
        if (target.handOff(accepted)) return;
        engine.connClosed(target.index);
        engine.connOpened(from.index);
        from.adoptAccepted(accepted);
    }

    // The load balancer's counts change on every loop's thread and are read by the acceptor's.

    /// The loop the balancer picks, its count already raised: a burst of accepts spreads
    /// before the first of them reaches its loop.
    fn placeCounted(engine: *Engine, key: []const u8) u32 {
        engine.lb_mutex.lock();
        defer engine.lb_mutex.unlock();
        const index = engine.lb.next(key);
        assert(index < engine.loops.len);
        engine.lb.connOpened(index);
        return index;
    }

    pub fn connOpened(engine: *Engine, loop_index: u32) void {
        assert(loop_index < engine.loops.len);
        engine.lb_mutex.lock();
        defer engine.lb_mutex.unlock();
        engine.lb.connOpened(loop_index);
    }

    pub fn connClosed(engine: *Engine, loop_index: u32) void {
        assert(loop_index < engine.loops.len);
        engine.lb_mutex.lock();
        defer engine.lb_mutex.unlock();
        assert(engine.lb.connCount(loop_index) > 0);
        engine.lb.connClosed(loop_index);
    }
};

/// Go's `Addr.String()`: "127.0.0.1:54321", "[::1]:5000" (v4-mapped v6 prints as v4);
/// a unix peer is its path (usually empty).
pub fn formatHostPort(out: []u8, address: std.net.Address) []const u8 {
    switch (address.any.family) {
        posix.AF.INET => return std.fmt.bufPrint(out, "{}", .{address.in}) catch out[0..0],
        posix.AF.INET6 => {
            const bytes = address.in6.sa.addr;
            const mapped_prefix = [_]u8{0} ** 10 ++ [_]u8{ 0xff, 0xff };
            if (std.mem.eql(u8, bytes[0..12], &mapped_prefix)) {
                const v4 = .{ bytes[12], bytes[13], bytes[14], bytes[15], address.getPort() };
                return std.fmt.bufPrint(out, "{d}.{d}.{d}.{d}:{d}", v4) catch out[0..0];
            }
            return std.fmt.bufPrint(out, "{}", .{address.in6}) catch out[0..0];
        },
        posix.AF.UNIX => {
            const path = std.mem.sliceTo(&address.un.path, 0);
            const n = @min(path.len, out.len);
            @memcpy(out[0..n], path[0..n]);
            return out[0..n];
        },
        else => return out[0..0],
    }
}

test "formatHostPort: Go's forms" {
    var buf: [64]u8 = undefined;
    try std.testing.expectEqualStrings("127.0.0.1:80", formatHostPort(&buf, try std.net.Address.parseIp("127.0.0.1", 80)));
    try std.testing.expectEqualStrings("[::1]:9000", formatHostPort(&buf, try std.net.Address.parseIp("::1", 9000)));
    try std.testing.expectEqualStrings("10.0.0.1:5", formatHostPort(&buf, try std.net.Address.parseIp("::ffff:10.0.0.1", 5)));
}

// ---- tests: loops on threads of their own ------------------------------------------------------

const testing = std.testing;
const layout = @import("layout.zig");

/// Open connections of every loop, as the load balancer counts them (threads joined: no lock).
fn connsCountForTest(engine: *const Engine) u32 {
    var total: u32 = 0;
    for (0..engine.loops.len) |i| total += engine.lb.connCount(@intCast(i));
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
    fn serve(host: *ThreadHost, loop: *EventLoop) void {
        var fds = [_]posix.pollfd{.{ .fd = loop.poller.pollFd(), .events = posix.POLL.IN, .revents = 0 }};
        while (!host.stop.load(.acquire)) {
            _ = posix.poll(&fds, 5) catch |err| std.debug.panic("poll: {s}", .{@errorName(err)});
            const count = loop.drain();
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
    try testing.expectEqual(@as(u32, clients_count / 2), engine.lb.connCount(1));
}

test "Engine: least-connections counts a placed connection at once, so a burst spreads" {
    var step: Syscall = .none;
    const engine = try Engine.create(testing.allocator, .{ .loops_count = 3, .lb = .least_connections }, &step);
    defer engine.destroy();
    // No loop drains: the counts alone must spread the placements.
    for (0..6) |_| {
        const index = engine.placeCounted("");
        try testing.expect(index < 3);
    }
    for (0..3) |i| try testing.expectEqual(@as(u32, 2), engine.lb.connCount(@intCast(i)));
    for (0..3) |i| for (0..2) |_| engine.connClosed(@intCast(i));
    try testing.expectEqual(@as(u32, 0), connsCountForTest(engine));
}

test "Engine: a loop whose inbox is full gets no more; the acceptor keeps the connection, counted there" {
    var step: Syscall = .none;
    const engine = try Engine.create(testing.allocator, .{ .loops_count = 2, .lb = .round_robin }, &step);
    defer engine.destroy();
    const target = &engine.loops[1];
    const remote = try std.net.Address.parseIp("127.0.0.1", 1);
    // Nobody drains loop 1: its inbox fills (the engine closes these fds when destroyed).
    for (0..event_loop.inbox_max) |_| {
        const fd = try posix.dup(1);
        try testing.expect(target.handOff(.{ .fd = fd, .network = .tcp, .remote = remote }));
    }
    const one_more = try posix.dup(1);
    try testing.expect(!target.handOff(.{ .fd = one_more, .network = .tcp, .remote = remote }));
    posix.close(one_more);
    try testing.expectEqual(@as(usize, event_loop.inbox_max), target.inbox.items.len);
    // Round-robin places the first connection on loop 0, the second on loop 1, whose inbox is
    // full: it stays on loop 0, counted there.
    var pairs: [2][2]posix.fd_t = undefined;
    for (&pairs) |*pair| try testing.expectEqual(@as(c_int, 0), std.c.socketpair(posix.AF.UNIX, posix.SOCK.STREAM, 0, pair));
    defer for (pairs) |pair| posix.close(pair[1]);
    for (pairs) |pair| engine.placeAccepted(&engine.loops[0], pair[0], .unix, remote);
    try testing.expectEqual(@as(u32, 2), engine.lb.connCount(0));
    try testing.expectEqual(@as(u32, 0), engine.lb.connCount(1));
    try testing.expectEqual(@as(usize, 2), engine.loops[0].conns.items.len);
    try testing.expectEqual(@as(usize, event_loop.inbox_max), target.inbox.items.len);
}
