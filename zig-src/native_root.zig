//! Root of the native shared library that koffi loads: the core exports plus the engine.
const boundary = @import("abi/boundary.zig");
const core_exports = @import("abi/core_exports.zig");
const engine_exports = @import("abi/engine_exports.zig");

comptime {
    boundary.exportTables(&(core_exports.items ++ engine_exports.items), &.{ core_exports, engine_exports });
}

test {
    _ = @import("abi/handles.zig");
    _ = @import("abi/boundary.zig");
    _ = core_exports;
    _ = engine_exports;
    _ = @import("engine/poller.zig");
    _ = @import("engine/socket.zig");
    _ = @import("engine/connection.zig");
    _ = @import("engine/acceptor.zig");
    _ = @import("engine/engine.zig");
    _ = @import("engine/event_loop.zig");
    _ = @import("engine/tests.zig");
}
