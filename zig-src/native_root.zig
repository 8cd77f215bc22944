//! Root of the native shared library that koffi loads: the core exports plus the engine.
comptime {
    _ = @import("abi/core_exports.zig");
    _ = @import("abi/engine_exports.zig");
}

test {
    _ = @import("abi/handles.zig");
    _ = @import("abi/core_exports.zig");
    _ = @import("abi/engine_exports.zig");
    _ = @import("engine/poller.zig");
    _ = @import("engine/socket.zig");
    _ = @import("engine/engine.zig");
    _ = @import("engine/event_loop.zig");
    _ = @import("engine/tests.zig");
}
