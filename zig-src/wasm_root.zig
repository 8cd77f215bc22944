//! Root of the wasm32-wasi reactor: the pure core only. The engine is never imported here,
//! so nothing that makes a syscall can reach the wasm artifact.
const boundary = @import("boundary.zig");
const core_exports = @import("abi/core_exports.zig");

comptime {
    boundary.exportTables(&core_exports.items, &.{core_exports});
}
