//! The one list of status codes that cross the boundary. Every exported function that can
//! fail returns a negative `Code`; the TypeScript host reads the names from the loaded
//! artifact (`zg_status_name`) instead of keeping a copy, so the two sides cannot drift.
//! A system failure (errno, syscall) is not a code: the engine encodes it in the result
//! below all codes (engine/layout.zig `System`).
const std = @import("std");

pub const Code = enum(i32) {
    ok = 0,
    // Codec failures (documented `ZgnetError` codes).
    frame_too_large = -1,
    invalid_frame = -2,
    unsupported_length = -3,
    invalid_fixed_length = -4,
    // Misuse of the boundary itself.
    invalid_handle = -5,
    invalid_argument = -6,
    out_of_memory = -7,
    buffer_too_small = -8,
    // Engine failures (used by the native engine).
    unsupported_op = -9,
    conn_closed = -10,
    engine_shutdown = -11,
    engine_in_shutdown = -12,
    invalid_network_address = -13,
    unsupported_protocol = -14,
    accept_socket = -15,
    /// Not an error: a decode found no whole frame yet.
    incomplete = -16,

    /// The `code` string the host puts on its `ZgnetError`.
    pub fn name(code: Code) [:0]const u8 {
        return switch (code) {
            .ok => "OK",
            .frame_too_large => "ERR_FRAME_TOO_LARGE",
            .invalid_frame => "ERR_INVALID_FRAME",
            .unsupported_length => "ERR_UNSUPPORTED_LENGTH",
            .invalid_fixed_length => "ERR_INVALID_FIXED_LENGTH",
            .invalid_handle => "ERR_INVALID_HANDLE",
            .invalid_argument => "ERR_INVALID_ARGUMENT",
            .out_of_memory => "ERR_OUT_OF_MEMORY",
            .buffer_too_small => "ERR_BUFFER_TOO_SMALL",
            .unsupported_op => "ERR_UNSUPPORTED_OP",
            .conn_closed => "ERR_CONN_CLOSED",
            .engine_shutdown => "ERR_ENGINE_SHUTDOWN",
            .engine_in_shutdown => "ERR_ENGINE_IN_SHUTDOWN",
            .invalid_network_address => "ERR_INVALID_NETWORK_ADDRESS",
            .unsupported_protocol => "ERR_UNSUPPORTED_PROTOCOL",
            .accept_socket => "ERR_ACCEPT_SOCKET",
            .incomplete => "INCOMPLETE",
        };
    }

    pub const first: i32 = 0;
    pub const last: i32 = -16;
};

comptime {
    // Codes are dense from 0 down to `last`, so the host can enumerate them.
    const fields = @typeInfo(Code).@"enum".fields;
    std.debug.assert(fields.len == -Code.last + 1);
    for (fields, 0..) |f, i| std.debug.assert(f.value == -@as(i32, @intCast(i)));
}

test "Code: every code has a distinct ERR_ name" {
    var i: i32 = Code.first;
    while (i >= Code.last) : (i -= 1) {
        const code: Code = @enumFromInt(i);
        const n = code.name();
        if (code != .ok and code != .incomplete) try std.testing.expect(std.mem.startsWith(u8, n, "ERR_"));
        var j: i32 = i - 1;
        while (j >= Code.last) : (j -= 1) {
            try std.testing.expect(!std.mem.eql(u8, n, @as(Code, @enumFromInt(j)).name()));
        }
    }
}
