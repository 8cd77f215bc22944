//! The TLS configuration of an engine: one OpenSSL context (SSL_CTX) built from the PEM the
//! host checked already (host/tls/options.ts), plus one per SNI name, all shared by the
//! engine's loops (OpenSSL 3's contexts are safe to share between threads once built). A
//! client context (a dial's `tls`) is the same object without SNI names.
const std = @import("std");
const assert = std.debug.assert;
const openssl = @import("openssl.zig");
const Api = openssl.Api;

/// SNI names per server: each holds a context of its own (a certificate and key).
pub const sni_names_max = 1024;
/// A DNS name is at most 253 bytes.
pub const name_bytes_max = 253;
/// ALPN's wire form: a length byte then the name, each at most 255 bytes; the list is
/// bounded by the two-byte extension length.
pub const alpn_bytes_max = 65535;

pub const Error = error{ TlsUnavailable, TlsConfig, OutOfMemory };

/// What the host asks of the peer's certificate and of the protocol.
pub const Flags = packed struct(u32) {
    server: bool,
    /// Server: ask for a client certificate. Client: always checked.
    request_cert: bool,
    /// Refuse a peer whose certificate does not verify (a client without one, on a server).
    reject_unauthorized: bool,
    tls13_only: bool,
    _: u28 = 0,
};

/// A certificate chain (leaf first), its key (`passphrase` decrypts it when not empty) and the
/// CAs trusted for the peer's certificate; any may be empty where the role allows.
pub const Pem = struct {
    cert: []const u8 = "",
    key: []const u8 = "",
    passphrase: []const u8 = "",
    ca: []const u8 = "",
};

const SniName = struct { name: []u8, ctx: *openssl.SSL_CTX };

pub const Context = struct {
    allocator: std.mem.Allocator,
    ssl: *const Api,
    ctx: *openssl.SSL_CTX,
    flags: Flags,
    alpn: []u8,
    sni: std.ArrayListUnmanaged(SniName) = .{},
    /// The OpenSSL error of the last call that failed (what the host reports).
    error_code: u32 = 0,

    pub fn create(allocator: std.mem.Allocator, flags: Flags, alpn: []const u8) Error!*Context {
        const ssl = openssl.get() orelse return error.TlsUnavailable;
        if (alpn.len > alpn_bytes_max or !validAlpn(alpn)) return error.TlsConfig;
        const context = try allocator.create(Context);
        errdefer allocator.destroy(context);
        const alpn_copy = try allocator.dupe(u8, alpn);
        errdefer allocator.free(alpn_copy);
        const method = if (flags.server) ssl.TLS_server_method() else ssl.TLS_client_method();
        const ctx = ssl.SSL_CTX_new(method) orelse return error.OutOfMemory;
        context.* = .{ .allocator = allocator, .ssl = ssl, .ctx = ctx, .flags = flags, .alpn = alpn_copy };
        context.configure(ctx) catch |err| {
            context.destroy();
            return err;
        };
        assert(context.sni.items.len == 0);
        return context;
    }

    pub fn destroy(context: *Context) void {
        const allocator = context.allocator;
        for (context.sni.items) |entry| {
            context.ssl.SSL_CTX_free(entry.ctx);
            allocator.free(entry.name);
        }
        context.sni.deinit(allocator);
        context.ssl.SSL_CTX_free(context.ctx);
        allocator.free(context.alpn);
        allocator.destroy(context);
    }

    /// Protocol floor, verification, ALPN and SNI callbacks: the same on every context of a server.
    fn configure(context: *Context, ctx: *openssl.SSL_CTX) Error!void {
        const ssl = context.ssl;
        const floor: c_long = if (context.flags.tls13_only) openssl.TLS1_3_VERSION else openssl.TLS1_2_VERSION;
        if (ssl.SSL_CTX_ctrl(ctx, openssl.CTRL_SET_MIN_PROTO_VERSION, floor, null) != 1) return context.failed();
        _ = ssl.SSL_CTX_ctrl(ctx, openssl.CTRL_MODE, openssl.MODE_ACCEPT_MOVING_WRITE_BUFFER, null);
        ssl.SSL_CTX_set_verify(ctx, context.verifyMode(), if (context.flags.reject_unauthorized) null else acceptAnyPeer);
        if (!context.flags.server) return;
        // Resumed sessions of a server that asks for certificates need an id context.
        const id = "zgnet";
        if (ssl.SSL_CTX_set_session_id_context(ctx, id, id.len) != 1) return context.failed();
        if (context.alpn.len > 0) ssl.SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, context);
        _ = ssl.SSL_CTX_callback_ctrl(ctx, openssl.CTRL_SET_TLSEXT_SERVERNAME_CB, @ptrCast(&selectServername));
        _ = ssl.SSL_CTX_ctrl(ctx, openssl.CTRL_SET_TLSEXT_SERVERNAME_ARG, 0, context);
    }

    fn verifyMode(context: *const Context) c_int {
        if (!context.flags.server) return if (context.flags.reject_unauthorized) openssl.VERIFY_PEER else openssl.VERIFY_NONE;
        if (!context.flags.request_cert) return openssl.VERIFY_NONE;
        if (context.flags.reject_unauthorized) return openssl.VERIFY_PEER | openssl.VERIFY_FAIL_IF_NO_PEER_CERT;
        return openssl.VERIFY_PEER;
    }

    fn failed(context: *Context) error{TlsConfig} {
        context.error_code = openssl.takeError(context.ssl);
        return error.TlsConfig;
    }

    /// The certificate chain (first the leaf), its key (decrypted with `passphrase` when it
    /// is not empty) and the trusted CAs, into `ctx` (the default context or an SNI one).
    pub fn load(context: *Context, ctx: *openssl.SSL_CTX, pem: Pem) Error!void {
        assert(pem.cert.len > 0 or !context.flags.server);
        if (pem.cert.len > 0) {
            try context.loadChain(ctx, pem.cert);
            try context.loadKey(ctx, pem.key, pem.passphrase);
        }
        if (pem.ca.len > 0) try context.loadCa(ctx, pem.ca);
    }

    fn loadChain(context: *Context, ctx: *openssl.SSL_CTX, cert: []const u8) Error!void {
        const ssl = context.ssl;
        const bio = try context.memBio(cert);
        defer _ = ssl.BIO_free(bio);
        const leaf = ssl.PEM_read_bio_X509_AUX(bio, null, null, null) orelse return context.failed();
        defer ssl.X509_free(leaf);
        if (ssl.SSL_CTX_use_certificate(ctx, leaf) != 1) return context.failed();
        // The rest of the chain: each certificate after the leaf (ownership passes to ctx).
        var count: usize = 0;
        while (ssl.PEM_read_bio_X509(bio, null, null, null)) |link| : (count += 1) {
            if (count == chain_links_max or ssl.SSL_CTX_ctrl(ctx, openssl.CTRL_CHAIN_CERT, 0, link) != 1) {
                ssl.X509_free(link);
                return context.failed();
            }
        }
        // The read that ended the loop queued "no start line": the end of the text, not a failure.
        _ = openssl.takeError(ssl);
    }

    fn loadKey(context: *Context, ctx: *openssl.SSL_CTX, key: []const u8, passphrase: []const u8) Error!void {
        const ssl = context.ssl;
        const bio = try context.memBio(key);
        defer _ = ssl.BIO_free(bio);
        const pass = try context.allocator.dupeZ(u8, passphrase);
        defer context.allocator.free(pass);
        // With no callback, OpenSSL takes the last argument as the passphrase itself.
        const pass_arg: ?[*:0]const u8 = if (passphrase.len > 0) pass.ptr else null;
        const pkey = ssl.PEM_read_bio_PrivateKey(bio, null, null, pass_arg) orelse return context.failed();
        defer ssl.EVP_PKEY_free(pkey);
        if (ssl.SSL_CTX_use_PrivateKey(ctx, pkey) != 1) return context.failed();
        if (ssl.SSL_CTX_check_private_key(ctx) != 1) return context.failed();
    }

    fn loadCa(context: *Context, ctx: *openssl.SSL_CTX, ca: []const u8) Error!void {
        const ssl = context.ssl;
        const bio = try context.memBio(ca);
        defer _ = ssl.BIO_free(bio);
        const store = ssl.SSL_CTX_get_cert_store(ctx) orelse return context.failed();
        var count: usize = 0;
        while (ssl.PEM_read_bio_X509(bio, null, null, null)) |cert| : (count += 1) {
            defer ssl.X509_free(cert);
            if (count == ca_certs_max or ssl.X509_STORE_add_cert(store, cert) != 1) return context.failed();
            // A server names the CAs it trusts in its certificate request.
            if (context.flags.server and ssl.SSL_CTX_add_client_CA(ctx, cert) != 1) return context.failed();
        }
        _ = openssl.takeError(ssl);
        if (count == 0) return error.TlsConfig;
    }

    fn memBio(context: *Context, bytes: []const u8) Error!*openssl.BIO {
        assert(bytes.len > 0);
        if (bytes.len > std.math.maxInt(c_int)) return error.TlsConfig;
        return context.ssl.BIO_new_mem_buf(bytes.ptr, @intCast(bytes.len)) orelse error.OutOfMemory;
    }

    /// A context for SNI `name` (lower case; `*.parent` matches one label) with its own certificate.
    pub fn addName(context: *Context, name: []const u8, pem: Pem) Error!void {
        assert(context.flags.server);
        if (name.len == 0 or name.len > name_bytes_max or context.sni.items.len == sni_names_max) return error.TlsConfig;
        const ssl = context.ssl;
        try context.sni.ensureUnusedCapacity(context.allocator, 1);
        const ctx = ssl.SSL_CTX_new(ssl.TLS_server_method()) orelse return error.OutOfMemory;
        errdefer ssl.SSL_CTX_free(ctx);
        try context.configure(ctx);
        try context.load(ctx, pem);
        const copy = try context.allocator.dupe(u8, name);
        context.sni.appendAssumeCapacity(.{ .name = copy, .ctx = ctx });
    }

    /// The context serving `servername`: an exact name first, then `*.` and its parent.
    pub fn forName(context: *const Context, servername: []const u8) ?*openssl.SSL_CTX {
        assert(context.flags.server);
        for (context.sni.items) |entry| {
            if (std.ascii.eqlIgnoreCase(entry.name, servername)) return entry.ctx;
        }
        const dot = std.mem.indexOfScalar(u8, servername, '.') orelse return null;
        if (dot == 0) return null;
        for (context.sni.items) |entry| {
            const wildcard = entry.name.len > 1 and entry.name[0] == '*';
            if (wildcard and std.ascii.eqlIgnoreCase(entry.name[1..], servername[dot..])) return entry.ctx;
        }
        return null;
    }
};

/// Certificates after the leaf in one chain, and CAs in one list: far beyond real ones
/// (Node's bundled root list has about 150), a bound on what a bad input can make us parse.
const chain_links_max = 16;
const ca_certs_max = 4096;

/// Each name 1..255 bytes, prefixed by its length, filling the list exactly.
fn validAlpn(wire: []const u8) bool {
    var at: usize = 0;
    // Bounded: every round moves past at least two bytes.
    while (at < wire.len) {
        const len = wire[at];
        if (len == 0 or at + 1 + len > wire.len) return false;
        at += 1 + len;
    }
    assert(at == wire.len);
    return true;
}

/// rejectUnauthorized false: the peer's certificate is checked and the result kept (c.tls's
/// `authorized`), but the handshake goes on whatever it is.
fn acceptAnyPeer(preverify_ok: c_int, store: ?*openssl.X509_STORE_CTX) callconv(.C) c_int {
    _ = preverify_ok;
    _ = store;
    return 1;
}

/// The server's preference order, as node:tls picks: its first protocol the client offers.
fn selectAlpn(
    ssl_conn: ?*openssl.SSL,
    out: *?[*]const u8,
    out_len: *u8,
    offered: [*]const u8,
    offered_len: c_uint,
    arg: ?*anyopaque,
) callconv(.C) c_int {
    _ = ssl_conn;
    const context: *Context = @ptrCast(@alignCast(arg orelse return openssl.TLSEXT_ERR_NOACK));
    assert(context.alpn.len > 0);
    var chosen: ?[*]u8 = null;
    const result = context.ssl.SSL_select_next_proto(&chosen, out_len, context.alpn.ptr, @intCast(context.alpn.len), offered, offered_len);
    if (result != openssl.NPN_NEGOTIATED) return openssl.TLSEXT_ERR_NOACK;
    out.* = chosen;
    return openssl.TLSEXT_ERR_OK;
}

/// SNI: the certificate of the name the client asked for; other names, and none, keep the default.
fn selectServername(ssl_conn: ?*openssl.SSL, alert: ?*c_int, arg: ?*anyopaque) callconv(.C) c_int {
    _ = alert;
    const context: *Context = @ptrCast(@alignCast(arg orelse return openssl.TLSEXT_ERR_OK));
    if (context.sni.items.len == 0) return openssl.TLSEXT_ERR_OK;
    const name = context.ssl.SSL_get_servername(ssl_conn, openssl.TLSEXT_NAMETYPE_host_name) orelse return openssl.TLSEXT_ERR_OK;
    const ctx = context.forName(std.mem.span(name)) orelse return openssl.TLSEXT_ERR_OK;
    _ = context.ssl.SSL_set_SSL_CTX(ssl_conn, ctx);
    return openssl.TLSEXT_ERR_OK;
}

test "tls_context: ALPN wire lists are length-prefixed names that fill the list" {
    try std.testing.expect(validAlpn("\x02h2\x08http/1.1"));
    try std.testing.expect(validAlpn(""));
    try std.testing.expect(!validAlpn("\x00"));
    try std.testing.expect(!validAlpn("\x03h2"));
    try std.testing.expect(!validAlpn("\x02h2\x01"));
}
