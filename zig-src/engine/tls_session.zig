//! One connection's TLS state: an OpenSSL session over two memory BIOs (uSockets' shape). The
//! loop reads ciphertext from the socket and `feed`s it; `handshake` and `decrypt` turn it into
//! progress and plaintext; `encrypt` and `shutdown` leave records in the write BIO, which the
//! connection drains (`takeCipher`) into its outbound path. Nothing here touches a socket.
const std = @import("std");
const assert = std.debug.assert;
const openssl = @import("openssl.zig");
const tls_context = @import("tls_context.zig");
const Context = tls_context.Context;

pub const Error = error{ OutOfMemory, TlsFailed };

/// A handshake refused for the peer's certificate ends with `verify_failure_first` plus the
/// verify result (X509_V_ERR_*) as its error: OpenSSL's queue says only "certificate verify
/// failed", and the host names the reason as node:tls does (self-signed, expired, wrong name).
/// Above tls_io's Failure values and below every OpenSSL code (2^23), so none is mistaken.
pub const verify_failure_first: u32 = 1 << 16;
pub const verify_failure_limit: u32 = verify_failure_first + openssl.x509_v_err_limit;

comptime {
    assert(verify_failure_limit <= 1 << openssl.err_lib_shift);
}

/// The verify result (X509_V_ERR_*) an error code carries, or null: any other code.
pub fn verifyResult(code: u32) ?c_long {
    if (code < verify_failure_first or code >= verify_failure_limit) return null;
    return code - verify_failure_first;
}

pub const Session = struct {
    ssl: *const openssl.Api,
    conn: *openssl.SSL,
    /// The session's memory BIOs (it owns them; set once, never swapped): kept here rather
    /// than asked of OpenSSL on every read and write.
    rbio: *openssl.BIO,
    wbio: *openssl.BIO,
    /// The OpenSSL error that ended the session (0: none yet).
    error_code: u32 = 0,
    /// The peer's close_notify was decrypted: every later decrypt says so again.
    peer_closed: bool = false,

    /// A session of `context` with empty memory BIOs; a client one checks the server's
    /// certificate against `identity` (a host name, also sent as SNI, or an IP address).
    pub fn create(context: *const Context, identity: []const u8) Error!Session {
        const ssl = context.ssl;
        const conn = ssl.SSL_new(context.ctx) orelse return error.OutOfMemory;
        errdefer ssl.SSL_free(conn);
        const rbio = ssl.BIO_new(ssl.BIO_s_mem()) orelse return error.OutOfMemory;
        const wbio = ssl.BIO_new(ssl.BIO_s_mem()) orelse {
            _ = ssl.BIO_free(rbio);
            return error.OutOfMemory;
        };
        // The session owns both BIOs from here.
        ssl.SSL_set_bio(conn, rbio, wbio);
        if (context.flags.server) {
            ssl.SSL_set_accept_state(conn);
        } else {
            try clientSetup(ssl, conn, context, identity);
            ssl.SSL_set_connect_state(conn);
        }
        assert(ssl.SSL_get_rbio(conn) == rbio);
        assert(ssl.SSL_get_wbio(conn) == wbio);
        return .{ .ssl = ssl, .conn = conn, .rbio = rbio, .wbio = wbio };
    }

    fn clientSetup(ssl: *const openssl.Api, conn: *openssl.SSL, context: *const Context, identity: []const u8) Error!void {
        assert(!context.flags.server);
        if (context.alpn.len > 0) {
            // 0 is success here, unlike every other call of OpenSSL's.
            if (ssl.SSL_set_alpn_protos(conn, context.alpn.ptr, @intCast(context.alpn.len)) != 0) return error.OutOfMemory;
        }
        if (identity.len == 0) return;
        var name: [tls_context.name_bytes_max + 1]u8 = undefined;
        if (identity.len >= name.len) return error.TlsFailed;
        @memcpy(name[0..identity.len], identity);
        name[identity.len] = 0;
        const z: [*:0]const u8 = @ptrCast(&name);
        // The certificate must carry the name, or the address in an IP SAN (node:tls's
        // checkServerIdentity); without rejectUnauthorized a mismatch only makes `authorized`
        // false. An address is no SNI name (RFC 6066 3): none is sent for it.
        if (isIpAddress(identity)) {
            const param = ssl.SSL_get0_param(conn) orelse return error.OutOfMemory;
            if (ssl.X509_VERIFY_PARAM_set1_ip_asc(param, z) != 1) return error.TlsFailed;
            return;
        }
        const sni = ssl.SSL_ctrl(conn, openssl.CTRL_SET_TLSEXT_HOSTNAME, openssl.TLSEXT_NAMETYPE_host_name, @constCast(z));
        if (sni != 1) return error.TlsFailed;
        if (ssl.SSL_set1_host(conn, z) != 1) return error.TlsFailed;
    }

    pub fn destroy(session: *Session) void {
        session.ssl.SSL_free(session.conn);
        session.* = undefined;
    }

    /// Ciphertext read from the socket, for the next handshake step or decrypt.
    pub fn feed(session: *Session, bytes: []const u8) Error!void {
        assert(bytes.len > 0 and bytes.len <= std.math.maxInt(c_int));
        const n = session.ssl.BIO_write(session.rbio, bytes.ptr, @intCast(bytes.len));
        // A memory BIO takes everything, or fails for lack of memory.
        if (n != bytes.len) return error.OutOfMemory;
    }

    pub const Step = enum { done, more };

    /// One handshake step over what was fed: done, or more bytes are needed.
    pub fn handshake(session: *Session) Error!Step {
        const ssl = session.ssl;
        ssl.ERR_clear_error();
        const result = ssl.SSL_do_handshake(session.conn);
        if (result == 1) return .done;
        return switch (ssl.SSL_get_error(session.conn, result)) {
            openssl.ERROR_WANT_READ, openssl.ERROR_WANT_WRITE => .more,
            else => session.fail(),
        };
    }

    fn fail(session: *Session) error{TlsFailed} {
        const code = openssl.takeError(session.ssl);
        if (session.error_code == 0) session.error_code = session.refusal(code);
        return error.TlsFailed;
    }

    /// `code`, or for "certificate verify failed" the verify result that made it.
    fn refusal(session: *const Session, code: u32) u32 {
        if (code != openssl.certificate_verify_failed) return code;
        const result = session.ssl.SSL_get_verify_result(session.conn);
        if (result <= openssl.X509_V_OK or result >= openssl.x509_v_err_limit) return code;
        return verify_failure_first + @as(u32, @intCast(result));
    }

    pub const Decrypted = struct {
        bytes: usize,
        /// The peer's close_notify came: nothing more will be read.
        closed: bool,
    };

    /// Plaintext into `out` from what was fed, until it is full or more ciphertext is needed.
    pub fn decrypt(session: *Session, out: []u8) Error!Decrypted {
        assert(out.len > 0);
        const ssl = session.ssl;
        var got: usize = 0;
        ssl.ERR_clear_error();
        // Bounded: each round fills part of `out` or returns.
        while (got < out.len) {
            const want: c_int = @intCast(@min(out.len - got, std.math.maxInt(c_int)));
            const n = ssl.SSL_read(session.conn, out[got..].ptr, want);
            if (n > 0) {
                got += @intCast(n);
                // Nothing decrypted left nor ciphertext fed: a further SSL_read could only
                // answer "want read" (a cost per message, skipped).
                if (!session.readable()) break;
                continue;
            }
            switch (ssl.SSL_get_error(session.conn, n)) {
                openssl.ERROR_WANT_READ, openssl.ERROR_WANT_WRITE => break,
                openssl.ERROR_ZERO_RETURN => {
                    session.peer_closed = true;
                    return .{ .bytes = got, .closed = true };
                },
                else => return session.fail(),
            }
        }
        assert(got <= out.len);
        return .{ .bytes = got, .closed = false };
    }

    /// Something for `decrypt` without new ciphertext: plaintext decrypted past what `out`
    /// took, ciphertext fed and not yet decrypted, or the peer's close to report again.
    pub fn readable(session: *const Session) bool {
        const ssl = session.ssl;
        if (session.peer_closed) return true;
        return ssl.SSL_pending(session.conn) > 0 or ssl.BIO_ctrl_pending(session.rbio) > 0;
    }

    /// Encrypts `plain` whole into the write BIO (a memory BIO never refuses a record).
    pub fn encrypt(session: *Session, plain: []const u8) Error!void {
        assert(plain.len > 0 and plain.len <= std.math.maxInt(c_int));
        const ssl = session.ssl;
        ssl.ERR_clear_error();
        const n = ssl.SSL_write(session.conn, plain.ptr, @intCast(plain.len));
        if (n <= 0) return session.fail();
        assert(n == plain.len);
    }

    /// Queues close_notify (after every record encrypted so far).
    pub fn shutdown(session: *Session) void {
        const ssl = session.ssl;
        ssl.ERR_clear_error();
        // 0: sent, the peer's not seen yet; 1: both done; < 0: the session failed before,
        // and its failure was reported then: nothing more to send.
        _ = ssl.SSL_shutdown(session.conn);
        _ = openssl.takeError(ssl);
    }

    /// Takes up to `out.len` bytes of ciphertext waiting to be sent; 0 when none waits. Fewer
    /// than `out.len`: none waits any more (a memory BIO's read gives all it has, up to `out.len`).
    pub fn takeCipher(session: *Session, out: []u8) usize {
        assert(out.len > 0 and out.len <= std.math.maxInt(c_int));
        const ssl = session.ssl;
        if (ssl.BIO_ctrl_pending(session.wbio) == 0) return 0;
        const n = ssl.BIO_read(session.wbio, out.ptr, @intCast(out.len));
        assert(n <= out.len);
        return if (n > 0) @intCast(n) else 0;
    }
};

/// `describe`'s layout: six i32 words (lengths of the protocol, cipher, ALPN, servername and
/// peer-certificate DER texts that follow in this order, and the verify result), then the bytes.
pub const info_words = 6;

/// What the handshake agreed on, for c.tls, into `out`; returns the bytes needed (more than
/// `out.len`: nothing useful was written, ask again with that much room).
pub fn describe(session: *const Session, out: []u8) usize {
    assert(out.len >= info_words * 4);
    const ssl = session.ssl;
    const conn = session.conn;
    const protocol = spanOrEmpty(ssl.SSL_get_version(conn));
    const cipher = spanOrEmpty(ssl.SSL_CIPHER_standard_name(ssl.SSL_get_current_cipher(conn)));
    var alpn_ptr: ?[*]const u8 = null;
    var alpn_len: c_uint = 0;
    ssl.SSL_get0_alpn_selected(conn, &alpn_ptr, &alpn_len);
    const alpn = if (alpn_ptr) |p| p[0..alpn_len] else "";
    const servername = spanOrEmpty(ssl.SSL_get_servername(conn, openssl.TLSEXT_NAMETYPE_host_name));
    const peer = ssl.SSL_get1_peer_certificate(conn);
    defer if (peer) |cert| ssl.X509_free(cert);
    const der_len: usize = if (peer) |cert| @intCast(@max(ssl.i2d_X509(cert, null), 0)) else 0;
    const texts = [_][]const u8{ protocol, cipher, alpn, servername };
    var needed: usize = info_words * 4 + der_len;
    for (texts) |t| needed += t.len;
    if (needed > out.len) return needed;
    const words: [info_words]i32 = .{
        @intCast(protocol.len), @intCast(cipher.len),                      @intCast(alpn.len), @intCast(servername.len),
        @intCast(der_len),      @intCast(ssl.SSL_get_verify_result(conn)),
    };
    @memcpy(out[0 .. info_words * 4], std.mem.sliceAsBytes(&words));
    var at: usize = info_words * 4;
    for (texts) |t| {
        @memcpy(out[at..][0..t.len], t);
        at += t.len;
    }
    if (peer) |cert| {
        var cursor: ?[*]u8 = out[at..].ptr;
        const written = ssl.i2d_X509(cert, &cursor);
        assert(written == der_len);
        at += der_len;
    }
    assert(at == needed);
    return needed;
}

/// An IPv4 or IPv6 literal (what OpenSSL's IP SAN check takes), not a host name.
fn isIpAddress(text: []const u8) bool {
    _ = std.net.Address.parseIp(text, 0) catch return false;
    return true;
}

test "tls_session: IP literals are told from host names" {
    try std.testing.expect(isIpAddress("127.0.0.1"));
    try std.testing.expect(isIpAddress("::1"));
    try std.testing.expect(isIpAddress("fe80::1"));
    try std.testing.expect(!isIpAddress("localhost"));
    try std.testing.expect(!isIpAddress("1.2.3.4.example"));
    try std.testing.expect(!isIpAddress(""));
}

fn spanOrEmpty(text: ?[*:0]const u8) []const u8 {
    return if (text) |t| std.mem.span(t) else "";
}

test "tls_session: a verify result survives its error code, and no OpenSSL code is taken for one" {
    const self_signed: c_long = 18; // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    try std.testing.expectEqual(@as(?c_long, self_signed), verifyResult(verify_failure_first + 18));
    try std.testing.expectEqual(@as(?c_long, null), verifyResult(openssl.certificate_verify_failed));
    try std.testing.expectEqual(@as(?c_long, null), verifyResult(@intFromEnum(@import("tls_io.zig").Failure.timeout)));
    try std.testing.expectEqual(@as(?c_long, null), verifyResult(verify_failure_limit));
    try std.testing.expectEqual(@as(u32, 0x0A000086), openssl.certificate_verify_failed);
}
