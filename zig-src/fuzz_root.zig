//! Root of the fuzz runner (`zig build fuzz`) and of its short campaign in `zig build test`.
//! At the top of zig-src so that the targets may import the core and the ABI.
pub const main = @import("fuzz/runner.zig").main;

test {
    _ = @import("fuzz/runner.zig");
}
