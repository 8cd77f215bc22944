//! Root of the native shared library that koffi loads: the core exports plus the engine.
comptime {
    _ = @import("abi/core_exports.zig");
}

test {
    _ = @import("abi/handles.zig");
    _ = @import("abi/core_exports.zig");
}
