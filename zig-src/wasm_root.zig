//! Root of the wasm32-wasi reactor: the pure core only. The engine is never imported here,
//! so nothing that makes a syscall can reach the wasm artifact.
comptime {
    _ = @import("abi/core_exports.zig");
}
