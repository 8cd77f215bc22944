//! Root of the native shared library that koffi loads: the core exports plus the engine.
const boundary = @import("boundary.zig");
const core_exports = @import("abi/core_exports.zig");
const engine_exports = @import("abi/engine_exports.zig");
const tls_exports = @import("abi/tls_exports.zig");

comptime {
    boundary.exportTables(&(core_exports.items ++ engine_exports.items ++ tls_exports.items), &.{ core_exports, engine_exports, tls_exports });
}

test {
    _ = @import("abi/handles.zig");
    _ = boundary;
    _ = core_exports;
    _ = engine_exports;
    _ = tls_exports;
    _ = @import("engine/openssl.zig");
    _ = @import("engine/tls_context.zig");
    _ = @import("engine/tls_session.zig");
    _ = @import("engine/tls_io.zig");
    _ = @import("engine/poller.zig");
    _ = @import("engine/socket.zig");
    _ = @import("engine/connection.zig");
    _ = @import("engine/acceptor.zig");
    _ = @import("engine/engine.zig");
    _ = @import("engine/event_loop.zig");
    _ = @import("engine/token.zig");
    _ = @import("engine/socket_io.zig");
    _ = @import("engine/socket_listen.zig");
    _ = @import("engine/drain.zig");
    _ = @import("engine/commands.zig");
    _ = @import("engine/lifecycle.zig");
    _ = @import("engine/dial.zig");
    _ = @import("engine/records.zig");
    _ = @import("engine/conn_io.zig");
    _ = @import("abi/engine_tests.zig");
}
