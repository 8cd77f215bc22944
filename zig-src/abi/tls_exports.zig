//! TLS at the boundary (conventions of engine_exports.zig): the server context of an engine
//! (built before start from the PEM the host checked), a dial's client session, what a
//! handshake agreed on (c.tls), the accepted handshakes that failed, and OpenSSL's text for
//! an error code. Contexts are OpenSSL's (openssl.zig: the process's own library).
const std = @import("std");
const assert = std.debug.assert;
const core = @import("../core/root.zig");
const Code = core.status.Code;
const core_exports = @import("core_exports.zig");
const engine_exports = @import("engine_exports.zig");
const boundary = @import("../boundary.zig");
const openssl = @import("../engine/openssl.zig");
const tls_context = @import("../engine/tls_context.zig");
const Context = tls_context.Context;
const Flags = tls_context.Flags;
const tls_session = @import("../engine/tls_session.zig");
const tls_io = @import("../engine/tls_io.zig");
const Connection = @import("../engine/connection.zig").Connection;

const allocator = std.heap.c_allocator;
const bytesIn = core_exports.bytesIn;
const bytesOut = core_exports.bytesOut;

fn fail(code: Code) isize {
    assert(code != .ok);
    return @intFromEnum(code);
}

fn contextFailed(err: tls_context.Error) isize {
    return switch (err) {
        error.TlsUnavailable => fail(.unsupported_op),
        error.TlsConfig => fail(.invalid_argument),
        error.OutOfMemory => fail(.out_of_memory),
    };
}

/// The engine's named integers for TLS, checked by the host at load (boundary.zig).
pub const items = boundary.enumItems("tls_failure", tls_io.Failure) ++
    [_]boundary.Item{
    .{ .name = "tls_info_words", .value = tls_session.info_words },
    .{ .name = "tls_err_lib_shift", .value = openssl.err_lib_shift },
    .{ .name = "tls_verify_failure_first", .value = tls_session.verify_failure_first },
    .{ .name = "tls_verify_failure_limit", .value = tls_session.verify_failure_limit },
};

/// 1 when this process has OpenSSL (Node's), 0 when TLS cannot be served natively.
pub export fn zg_tls_available() isize {
    return if (openssl.get() == null) 0 else 1;
}

/// Makes the engine a TLS server (before start): `flags` are tls_context.Flags' bits, `alpn`
/// the protocols in ALPN's wire form, most preferred first. ERR_INVALID_ARGUMENT with the
/// OpenSSL error in zg_engine_tls_error; ERR_UNSUPPORTED_OP without OpenSSL.
pub export fn zg_engine_tls_server(handle: i32, flags: u32, handshake_timeout_ms: u32, alpn_ptr: ?[*]const u8, alpn_len: usize) isize {
    const engine = engine_exports.engineOf(handle) orelse return fail(.invalid_handle);
    if (engine.started or engine.config.tls_server != null) return fail(.invalid_argument);
    const alpn = bytesIn(alpn_ptr, alpn_len) orelse return fail(.invalid_argument);
    var server_flags: Flags = @bitCast(flags);
    server_flags.server = true;
    const context = Context.create(allocator, server_flags, alpn) catch |err| return contextFailed(err);
    engine.config.tls_server = context;
    engine.config.tls_handshake_timeout_ms = @max(handshake_timeout_ms, 1);
    assert(engine.config.tls_server != null);
    return 0;
}

/// The server's certificate chain, key (`passphrase` decrypts it when not empty) and trusted
/// CAs: the default ones when `name` is empty, else those of SNI name `name`.
pub export fn zg_engine_tls_load(
    handle: i32,
    name_ptr: ?[*]const u8,
    name_len: usize,
    cert_ptr: ?[*]const u8,
    cert_len: usize,
    key_ptr: ?[*]const u8,
    key_len: usize,
    pass_ptr: ?[*]const u8,
    pass_len: usize,
    ca_ptr: ?[*]const u8,
    ca_len: usize,
) isize {
    const engine = engine_exports.engineOf(handle) orelse return fail(.invalid_handle);
    const context = engine.config.tls_server orelse return fail(.invalid_argument);
    if (engine.started) return fail(.invalid_argument);
    const name = bytesIn(name_ptr, name_len) orelse return fail(.invalid_argument);
    const pem = pemIn(cert_ptr, cert_len, key_ptr, key_len, pass_ptr, pass_len, ca_ptr, ca_len) orelse return fail(.invalid_argument);
    if (pem.cert.len == 0 or pem.key.len == 0) return fail(.invalid_argument);
    const result = if (name.len == 0) context.load(context.ctx, pem) else context.addName(name, pem);
    result catch |err| return contextFailed(err);
    assert(context.flags.server);
    return 0;
}

/// The four PEM inputs the host passes side by side (each may be empty); null when one of them
/// is a null pointer with a length.
fn pemIn(
    cert_ptr: ?[*]const u8,
    cert_len: usize,
    key_ptr: ?[*]const u8,
    key_len: usize,
    pass_ptr: ?[*]const u8,
    pass_len: usize,
    ca_ptr: ?[*]const u8,
    ca_len: usize,
) ?tls_context.Pem {
    const pem: tls_context.Pem = .{
        .cert = bytesIn(cert_ptr, cert_len) orelse return null,
        .key = bytesIn(key_ptr, key_len) orelse return null,
        .passphrase = bytesIn(pass_ptr, pass_len) orelse return null,
        .ca = bytesIn(ca_ptr, ca_len) orelse return null,
    };
    assert(pem.cert.len == cert_len and pem.ca.len == ca_len);
    return pem;
}

/// The OpenSSL error of the server context's last refusal (0: none).
pub export fn zg_engine_tls_error(handle: i32) isize {
    const engine = engine_exports.engineOf(handle) orelse return fail(.invalid_handle);
    const context = engine.config.tls_server orelse return 0;
    assert(context.error_code <= std.math.maxInt(i32));
    return @intCast(context.error_code);
}

/// Makes the dial `slot` (still connecting) a TLS client: a context of its own from these
/// PEM texts (`ca` empty: nothing is trusted, so the host passes its roots); `identity`, what
/// the server's certificate must carry: a host name (also sent as SNI) or an IP address (an
/// IP SAN), empty for no check. The handshake starts once connected.
pub export fn zg_conn_tls_dial(
    handle: i32,
    loop_index: u32,
    slot: u32,
    generation: u32,
    flags: u32,
    alpn_ptr: ?[*]const u8,
    alpn_len: usize,
    identity_ptr: ?[*]const u8,
    identity_len: usize,
    cert_ptr: ?[*]const u8,
    cert_len: usize,
    key_ptr: ?[*]const u8,
    key_len: usize,
    pass_ptr: ?[*]const u8,
    pass_len: usize,
    ca_ptr: ?[*]const u8,
    ca_len: usize,
) isize {
    const conn = engine_exports.connOf(handle, loop_index, slot, generation) orelse return fail(.conn_closed);
    if (conn.state != .connecting or conn.tls != null) return fail(.invalid_argument);
    const alpn = bytesIn(alpn_ptr, alpn_len) orelse return fail(.invalid_argument);
    const identity = bytesIn(identity_ptr, identity_len) orelse return fail(.invalid_argument);
    const pem = pemIn(cert_ptr, cert_len, key_ptr, key_len, pass_ptr, pass_len, ca_ptr, ca_len) orelse return fail(.invalid_argument);
    var client_flags: Flags = @bitCast(flags);
    client_flags.server = false;
    // A context per dial: the session keeps its own reference to OpenSSL's context, so ours
    // goes as soon as the session is made.
    const context = Context.create(allocator, client_flags, alpn) catch |err| return contextFailed(err);
    defer context.destroy();
    context.load(context.ctx, pem) catch |err| return contextFailed(err);
    const session = tls_session.Session.create(context, identity) catch |err| return switch (err) {
        error.OutOfMemory => fail(.out_of_memory),
        error.TlsFailed => fail(.invalid_argument),
    };
    const loop = engine_exports.loopOf(handle, loop_index).?; // connOf found the conn in it
    conn.attachTls(loop.allocator, session) catch |err| return switch (err) {
        error.OutOfMemory => fail(.out_of_memory),
    };
    assert(conn.tls != null);
    return 0;
}

/// What the handshake of an open TLS connection agreed on (tls_session.describe's layout);
/// returns the bytes it needs, written only when `out` has that room.
pub export fn zg_conn_tls_info(handle: i32, loop_index: u32, slot: u32, generation: u32, out_ptr: ?[*]u8, out_len: usize) isize {
    const conn: *Connection = engine_exports.connOf(handle, loop_index, slot, generation) orelse return fail(.conn_closed);
    const out = bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument);
    if (out.len < tls_session.info_words * 4) return fail(.buffer_too_small);
    const session = if (conn.tls) |s| s else return 0;
    const needed = tls_session.describe(session, out);
    assert(needed >= tls_session.info_words * 4);
    return @intCast(@min(needed, std.math.maxInt(i32)));
}

/// Accepted handshakes that failed since the last call: writes [count, last reason] into
/// `out` and returns the count.
pub export fn zg_loop_tls_failures(handle: i32, loop_index: u32, out_ptr: ?[*]i32, out_len: usize) isize {
    const loop = engine_exports.loopOf(handle, loop_index) orelse return fail(.invalid_handle);
    const out = (out_ptr orelse return fail(.invalid_argument))[0..out_len];
    if (out.len < 2) return fail(.buffer_too_small);
    const failures = loop.tls_failures;
    loop.tls_failures = .{};
    out[0] = @intCast(@min(failures.count, std.math.maxInt(i32)));
    out[1] = @bitCast(failures.last);
    assert(loop.tls_failures.count == 0);
    return out[0];
}

/// OpenSSL's text for an error code ("error:0A00010B:SSL routines::wrong version number"),
/// or for a refused certificate (tls_session.verify_failure_first) the verify result's
/// ("self-signed certificate"), truncated to fit.
pub export fn zg_tls_error_text(code: u32, out_ptr: ?[*]u8, out_len: usize) isize {
    const out = bytesOut(out_ptr, out_len) orelse return fail(.invalid_argument);
    if (out.len < 2) return fail(.buffer_too_small);
    const ssl = openssl.get() orelse return fail(.unsupported_op);
    if (tls_session.verifyResult(code)) |result| {
        const text = std.mem.span(ssl.X509_verify_cert_error_string(result) orelse return 0);
        const len = @min(text.len, out.len - 1);
        @memcpy(out[0..len], text[0..len]);
        return @intCast(len);
    }
    ssl.ERR_error_string_n(code, out.ptr, out.len);
    const len = std.mem.indexOfScalar(u8, out, 0) orelse out.len;
    assert(len < out.len);
    return @intCast(len);
}
