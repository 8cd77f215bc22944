//! The engine's options: what the host passes (an array of i32 indexed by `Option`) and the
//! configuration every loop reads. Below the engine and its loops, which both hold one.
const std = @import("std");
const assert = std.debug.assert;
const core = @import("../core/root.zig");
const tls_context = @import("tls_context.zig");

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
    /// A TLS server's context (set by the host before start; owned by the engine): every
    /// connection accepted is served over TLS.
    tls_server: ?*tls_context.Context = null,
    /// How long a TLS handshake may take (a server's handshakeTimeoutMs; dials too).
    tls_handshake_timeout_ms: u32 = 10_000,

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

    /// True when every loop owns its listeners (gnet's ReusePort mode).
    pub fn reusePortMode(config: *const Config) bool {
        assert(config.loops_count >= 1 and config.loops_count <= loops_max);
        return config.reuse_port and config.loops_count > 1;
    }
};
