//! OpenSSL as the process that loaded us carries it. Node links OpenSSL 3 statically and
//! exports its symbols; the engine looks them up at run time (dlsym on the global scope)
//! instead of naming them as undefined link-time symbols: the library then loads, and serves
//! plain TCP, in a process without them (a Node built against another TLS library); only TLS
//! is refused there, with ERR_TLS_CONFIG. Loading a second libcrypto into Node is known to
//! crash, so none is ever linked. The prototypes and constants are OpenSSL 3.0's (ssl.h,
//! bio.h, pem.h, err.h, x509.h, tls1.h); only what the engine calls is declared.
const std = @import("std");
const builtin = @import("builtin");
const assert = std.debug.assert;

pub const SSL = opaque {};
pub const SSL_CTX = opaque {};
pub const SSL_METHOD = opaque {};
pub const SSL_CIPHER = opaque {};
pub const BIO = opaque {};
pub const BIO_METHOD = opaque {};
pub const X509 = opaque {};
pub const X509_STORE = opaque {};
pub const X509_STORE_CTX = opaque {};
pub const EVP_PKEY = opaque {};
pub const X509_VERIFY_PARAM = opaque {};

pub const ERROR_NONE = 0;
pub const ERROR_SSL = 1;
pub const ERROR_WANT_READ = 2;
pub const ERROR_WANT_WRITE = 3;
pub const ERROR_SYSCALL = 5;
pub const ERROR_ZERO_RETURN = 6;

pub const VERIFY_NONE = 0;
pub const VERIFY_PEER = 1;
pub const VERIFY_FAIL_IF_NO_PEER_CERT = 2;

pub const CTRL_MODE = 33;
pub const CTRL_SET_TLSEXT_SERVERNAME_CB = 53;
pub const CTRL_SET_TLSEXT_SERVERNAME_ARG = 54;
pub const CTRL_SET_TLSEXT_HOSTNAME = 55;
pub const CTRL_CHAIN_CERT = 88;
pub const CTRL_SET_MIN_PROTO_VERSION = 123;
pub const BIO_CTRL_PENDING = 10;

/// Writes may be given a new buffer address between retries (ours are never retried, but
/// the partial-write mode is not used: a memory BIO takes every record at once).
pub const MODE_ACCEPT_MOVING_WRITE_BUFFER = 2;
pub const TLSEXT_NAMETYPE_host_name = 0;
pub const TLSEXT_ERR_OK = 0;
pub const TLSEXT_ERR_NOACK = 3;
pub const NPN_NEGOTIATED = 1;
pub const TLS1_2_VERSION = 0x0303;
pub const TLS1_3_VERSION = 0x0304;
pub const X509_V_OK = 0;
/// OpenSSL 3.0's X509_V_ERR_* values run to 94: every verify result is below this.
pub const x509_v_err_limit = 256;
/// ERR_PACK(ERR_LIB_SSL 20, SSL_R_CERTIFICATE_VERIFY_FAILED 134) as takeError returns it
/// ("error:0A000086"): the handshake failed on the verify result SSL_get_verify_result gives.
pub const certificate_verify_failed: u32 = (20 << err_lib_shift) | 134;
/// ERR_PACK puts the library number in bits 23..30: every OpenSSL error code is at least this.
pub const err_lib_shift = 23;

pub const VerifyCallback = *const fn (c_int, ?*X509_STORE_CTX) callconv(.C) c_int;
pub const AlpnCallback = *const fn (?*SSL, *?[*]const u8, *u8, [*]const u8, c_uint, ?*anyopaque) callconv(.C) c_int;
pub const ServernameCallback = *const fn (?*SSL, ?*c_int, ?*anyopaque) callconv(.C) c_int;

/// Every function the engine calls, looked up by its field name.
pub const Api = struct {
    TLS_server_method: *const fn () callconv(.C) ?*const SSL_METHOD,
    TLS_client_method: *const fn () callconv(.C) ?*const SSL_METHOD,
    SSL_CTX_new: *const fn (?*const SSL_METHOD) callconv(.C) ?*SSL_CTX,
    SSL_CTX_free: *const fn (?*SSL_CTX) callconv(.C) void,
    SSL_CTX_ctrl: *const fn (?*SSL_CTX, c_int, c_long, ?*anyopaque) callconv(.C) c_long,
    SSL_CTX_callback_ctrl: *const fn (?*SSL_CTX, c_int, ?*const fn () callconv(.C) void) callconv(.C) c_long,
    SSL_CTX_use_certificate: *const fn (?*SSL_CTX, ?*X509) callconv(.C) c_int,
    SSL_CTX_use_PrivateKey: *const fn (?*SSL_CTX, ?*EVP_PKEY) callconv(.C) c_int,
    SSL_CTX_check_private_key: *const fn (?*const SSL_CTX) callconv(.C) c_int,
    SSL_CTX_set_verify: *const fn (?*SSL_CTX, c_int, ?VerifyCallback) callconv(.C) void,
    SSL_CTX_set_alpn_select_cb: *const fn (?*SSL_CTX, ?AlpnCallback, ?*anyopaque) callconv(.C) void,
    SSL_CTX_get_cert_store: *const fn (?*const SSL_CTX) callconv(.C) ?*X509_STORE,
    SSL_CTX_add_client_CA: *const fn (?*SSL_CTX, ?*X509) callconv(.C) c_int,
    SSL_CTX_set_session_id_context: *const fn (?*SSL_CTX, [*]const u8, c_uint) callconv(.C) c_int,
    SSL_new: *const fn (?*SSL_CTX) callconv(.C) ?*SSL,
    SSL_free: *const fn (?*SSL) callconv(.C) void,
    SSL_set_bio: *const fn (?*SSL, ?*BIO, ?*BIO) callconv(.C) void,
    SSL_get_rbio: *const fn (?*const SSL) callconv(.C) ?*BIO,
    SSL_get_wbio: *const fn (?*const SSL) callconv(.C) ?*BIO,
    SSL_set_accept_state: *const fn (?*SSL) callconv(.C) void,
    SSL_set_connect_state: *const fn (?*SSL) callconv(.C) void,
    SSL_do_handshake: *const fn (?*SSL) callconv(.C) c_int,
    SSL_read: *const fn (?*SSL, [*]u8, c_int) callconv(.C) c_int,
    SSL_write: *const fn (?*SSL, [*]const u8, c_int) callconv(.C) c_int,
    SSL_shutdown: *const fn (?*SSL) callconv(.C) c_int,
    SSL_pending: *const fn (?*const SSL) callconv(.C) c_int,
    SSL_get_error: *const fn (?*const SSL, c_int) callconv(.C) c_int,
    SSL_ctrl: *const fn (?*SSL, c_int, c_long, ?*anyopaque) callconv(.C) c_long,
    SSL_set_SSL_CTX: *const fn (?*SSL, ?*SSL_CTX) callconv(.C) ?*SSL_CTX,
    SSL_set_alpn_protos: *const fn (?*SSL, [*]const u8, c_uint) callconv(.C) c_int,
    SSL_set1_host: *const fn (?*SSL, [*:0]const u8) callconv(.C) c_int,
    SSL_get0_param: *const fn (?*SSL) callconv(.C) ?*X509_VERIFY_PARAM,
    X509_VERIFY_PARAM_set1_ip_asc: *const fn (?*X509_VERIFY_PARAM, [*:0]const u8) callconv(.C) c_int,
    SSL_get_version: *const fn (?*const SSL) callconv(.C) ?[*:0]const u8,
    SSL_get_current_cipher: *const fn (?*const SSL) callconv(.C) ?*const SSL_CIPHER,
    SSL_CIPHER_standard_name: *const fn (?*const SSL_CIPHER) callconv(.C) ?[*:0]const u8,
    SSL_get0_alpn_selected: *const fn (?*const SSL, *?[*]const u8, *c_uint) callconv(.C) void,
    SSL_get_servername: *const fn (?*const SSL, c_int) callconv(.C) ?[*:0]const u8,
    SSL_get_verify_result: *const fn (?*const SSL) callconv(.C) c_long,
    X509_verify_cert_error_string: *const fn (c_long) callconv(.C) ?[*:0]const u8,
    SSL_get1_peer_certificate: *const fn (?*const SSL) callconv(.C) ?*X509,
    SSL_select_next_proto: *const fn (*?[*]u8, *u8, [*]const u8, c_uint, [*]const u8, c_uint) callconv(.C) c_int,
    BIO_new: *const fn (?*const BIO_METHOD) callconv(.C) ?*BIO,
    BIO_s_mem: *const fn () callconv(.C) ?*const BIO_METHOD,
    BIO_new_mem_buf: *const fn ([*]const u8, c_int) callconv(.C) ?*BIO,
    BIO_free: *const fn (?*BIO) callconv(.C) c_int,
    BIO_write: *const fn (?*BIO, [*]const u8, c_int) callconv(.C) c_int,
    BIO_read: *const fn (?*BIO, [*]u8, c_int) callconv(.C) c_int,
    BIO_ctrl_pending: *const fn (?*BIO) callconv(.C) usize,
    PEM_read_bio_X509: *const fn (?*BIO, ?*?*X509, ?*anyopaque, ?*anyopaque) callconv(.C) ?*X509,
    PEM_read_bio_X509_AUX: *const fn (?*BIO, ?*?*X509, ?*anyopaque, ?*anyopaque) callconv(.C) ?*X509,
    PEM_read_bio_PrivateKey: *const fn (?*BIO, ?*?*EVP_PKEY, ?*anyopaque, ?[*:0]const u8) callconv(.C) ?*EVP_PKEY,
    X509_free: *const fn (?*X509) callconv(.C) void,
    X509_STORE_add_cert: *const fn (?*X509_STORE, ?*X509) callconv(.C) c_int,
    EVP_PKEY_free: *const fn (?*EVP_PKEY) callconv(.C) void,
    i2d_X509: *const fn (?*const X509, ?*?[*]u8) callconv(.C) c_int,
    ERR_get_error: *const fn () callconv(.C) c_ulong,
    ERR_peek_last_error: *const fn () callconv(.C) c_ulong,
    ERR_clear_error: *const fn () callconv(.C) void,
    ERR_error_string_n: *const fn (c_ulong, [*]u8, usize) callconv(.C) void,
};

/// The global scope: the process and every library it loaded with RTLD_GLOBAL (Node itself).
const rtld_default: ?*anyopaque = if (builtin.os.tag.isDarwin()) @ptrFromInt(@as(usize, @bitCast(@as(isize, -2)))) else null;

var api: Api = undefined;
var found = false;
var lookup_once = std.once(lookUp);

fn lookUp() void {
    inline for (@typeInfo(Api).@"struct".fields) |field| {
        const address = std.c.dlsym(rtld_default, field.name) orelse return;
        @field(api, field.name) = @ptrCast(@alignCast(address));
    }
    found = true;
}

/// OpenSSL's functions, or null when the process has none (looked up once, thread-safe).
pub fn get() ?*const Api {
    lookup_once.call();
    if (!found) return null;
    assert(@intFromPtr(api.SSL_new) != 0);
    return &api;
}

/// The error code to report for the call that just failed (0: none queued), leaving the
/// thread's queue empty: Node's own OpenSSL calls on this thread read the same queue.
pub fn takeError(ssl: *const Api) u32 {
    const code = ssl.ERR_peek_last_error();
    ssl.ERR_clear_error();
    // ERR_PACK's codes fit 31 bits (library 8 bits at 23, reason 23 bits).
    return @truncate(code & 0x7fff_ffff);
}

test "openssl: a test binary has no OpenSSL, and says so instead of crashing" {
    // The test runner links no OpenSSL (Node does): the lookup finds nothing, once.
    if (get()) |found_api| {
        try std.testing.expect(@intFromPtr(found_api.SSL_read) != 0);
    } else {
        try std.testing.expect(!found);
    }
}
