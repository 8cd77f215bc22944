//! For tests beside the engine's files: an engine with its loops started and the host's
//! memory attached, as the ABI sets it up (tests.zig drives the ABI itself instead).
const std = @import("std");
const testing = std.testing;
const layout = @import("layout.zig");
const Engine = @import("engine.zig").Engine;
const event_loop = @import("event_loop.zig");
const EventLoop = event_loop.EventLoop;

pub const TestHost = struct {
    engine: *Engine,
    records: []i32,
    area: []u8,
    commands: []i32,
    arena: []u8,

    /// One loop, default options; listening on `listen_address` when given.
    pub fn init(listen_address: ?std.net.Address) !TestHost {
        const gpa = testing.allocator;
        var step: layout.Syscall = .none;
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
