/**
 * TLS of the native engine, host side: the checked options (host/tls/options.ts) handed to
 * Zig, which builds OpenSSL contexts from them (zig-src/engine/tls_context.zig) and runs every
 * handshake, decryption and encryption in its loops; ciphertext never reaches JavaScript.
 * Here: the flags and PEM texts at the boundary, `c.tls` from what a handshake agreed on, and
 * OpenSSL's error codes as ERR_TLS_CONFIG / ERR_TLS_HANDSHAKE messages.
 */
import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import type { TlsInfo } from '../api.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import { tlsConfigError, type DialTls, type Pem, type ServerTls, type TlsPem } from '../tls/options.js';
import { engineApi, L, type EngineApi } from './binding.js';

/** tls_context.zig `Flags` bits. */
const FLAG_REQUEST_CERT = 1 << 1;
const FLAG_REJECT_UNAUTHORIZED = 1 << 2;
const FLAG_TLS13_ONLY = 1 << 3;
const EMPTY = Buffer.alloc(0);
/** Room for c.tls's texts and a typical peer certificate; a bigger one is asked again. */
const INFO_BYTES = 8 * 1024;

/** Node's bundled CAs as one PEM text: a dial's default trust, as node:tls's. */
let bundledRoots: Buffer | undefined;

function pemBytes(value: Pem | undefined): Buffer {
  if (value === undefined) return EMPTY;
  const parts = Array.isArray(value) ? value : [value];
  return Buffer.concat(parts.flatMap((p) => [typeof p === 'string' ? Buffer.from(p) : p, Buffer.from('\n')]));
}

/** ALPN's wire form: each name after its length byte. */
function alpnWire(protocols: readonly string[] | undefined): Buffer {
  if (protocols === undefined) return EMPTY;
  return Buffer.concat(protocols.map((p) => Buffer.concat([Buffer.from([Buffer.byteLength(p)]), Buffer.from(p)])));
}

/** OpenSSL's text for an error code, or what a tls_io.zig `Failure` means. */
export function tlsReason(api: EngineApi, code: number): string {
  if (code === L.tls_failure_peer_closed) return 'the peer closed the connection during the handshake';
  if (code === L.tls_failure_timeout) return 'no handshake within the time allowed';
  if (code === L.tls_failure_out_of_memory) return 'out of memory';
  if (code === 0) return 'the TLS session failed';
  const text = Buffer.allocUnsafe(256);
  const n = api.zg_tls_error_text(code >>> 0, text, text.length);
  return n > 0 ? text.toString('latin1', 0, n) : `OpenSSL error ${code}`;
}

/**
 * The codes node:tls gives a certificate its verification refused, by OpenSSL's X509_V_ERR_*
 * value (x509_vfy.h); a name or address the certificate does not carry is node's
 * ERR_TLS_CERT_ALTNAME_INVALID. A result not listed keeps OpenSSL's reason's code.
 */
const VERIFY_CODES: Record<number, string> = {
  2: 'UNABLE_TO_GET_ISSUER_CERT',
  9: 'CERT_NOT_YET_VALID',
  10: 'CERT_HAS_EXPIRED',
  18: 'DEPTH_ZERO_SELF_SIGNED_CERT',
  19: 'SELF_SIGNED_CERT_IN_CHAIN',
  20: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  21: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  22: 'CERT_CHAIN_TOO_LONG',
  23: 'CERT_REVOKED',
  26: 'INVALID_PURPOSE',
  27: 'CERT_UNTRUSTED',
  28: 'CERT_REJECTED',
  62: 'ERR_TLS_CERT_ALTNAME_INVALID',
  64: 'ERR_TLS_CERT_ALTNAME_INVALID',
};

/** OpenSSL's reason as node:tls names its errors' codes ("wrong version number" → ERR_SSL_WRONG_VERSION_NUMBER). */
function reasonCode(code: number, text: string): string {
  if (code >= L.tls_verify_failure_first && code < L.tls_verify_failure_limit) {
    return VERIFY_CODES[code - L.tls_verify_failure_first] ?? 'ERR_SSL_CERTIFICATE_VERIFY_FAILED';
  }
  if (code > 0 && code < 2 ** L.tls_err_lib_shift) return code === L.tls_failure_timeout ? 'ERR_TLS_HANDSHAKE_TIMEOUT' : 'ECONNRESET';
  const reason = text.slice(text.lastIndexOf(':') + 1).trim();
  return `ERR_SSL_${reason.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/** ERR_TLS_HANDSHAKE for a TLS failure Zig reported (a close record with syscall `tls`). */
export function tlsFailureError(api: EngineApi, code: number): ZgnetError {
  const text = tlsReason(api, code);
  const cause = Object.assign(new Error(text), { code: reasonCode(code, text) });
  return new ZgnetError(ErrorCode.TLS_HANDSHAKE, `${cause.code}: ${text}`, { cause });
}

function refused(api: EngineApi, handle: number, what: string): never {
  if (api.zg_tls_available() === 0) throw new ZgnetError(ErrorCode.UNSUPPORTED_OP, 'this Node process has no OpenSSL to serve TLS natively');
  const code = api.zg_engine_tls_error(handle);
  throw tlsConfigError(`${what}: the certificate, key or CA cannot be used`, new Error(code > 0 ? tlsReason(api, code) : 'refused by OpenSSL'));
}

function load(api: EngineApi, handle: number, name: string, pem: TlsPem, what: string): void {
  const n = Buffer.from(name);
  const cert = pemBytes(pem.cert);
  const key = pemBytes(pem.key);
  const pass = Buffer.from(pem.passphrase ?? '');
  const ca = pemBytes(pem.ca);
  const r = api.zg_engine_tls_load(handle, n, n.length, cert, cert.length, key, key.length, pass, pass.length, ca, ca.length);
  if (r < 0) refused(api, handle, what);
}

/** Makes engine `handle` a TLS server (before start): the default certificate, then each SNI name's. */
export function configureServer(api: EngineApi, handle: number, config: ServerTls): void {
  const o = config.contextOptions;
  const flags =
    (config.requestCert ? FLAG_REQUEST_CERT : 0) | (config.rejectUnauthorized ? FLAG_REJECT_UNAUTHORIZED : 0) | (o.minVersion === 'TLSv1.3' ? FLAG_TLS13_ONLY : 0);
  const alpn = alpnWire(config.ALPNProtocols);
  const r = api.zg_engine_tls_server(handle, flags, config.handshakeTimeoutMs, alpn, alpn.length);
  if (r < 0) refused(api, handle, 'tls');
  load(api, handle, '', { cert: o.cert as Pem, key: o.key as Pem, passphrase: o.passphrase, ca: o.ca as Pem | undefined }, 'tls');
  for (const [name, pem] of config.sniPem) load(api, handle, name, pem, `tls.sni[${JSON.stringify(name)}]`);
}

/** Makes the dial `slot` (connecting) a TLS client of `host`; its handshake starts once connected. */
export function configureDial(api: EngineApi, handle: number, loop: number, slot: number, generation: number, config: DialTls, host: string): void {
  const flags = (config.rejectUnauthorized ? FLAG_REJECT_UNAUTHORIZED : 0) | (config.minVersion === 'TLSv1.3' ? FLAG_TLS13_ONLY : 0);
  const alpn = alpnWire(config.ALPNProtocols);
  // As node:tls: the certificate must carry `servername`, else the dialled host — a name (also
  // sent as SNI) or an address (an IP SAN; no SNI for it). Zig tells the two apart.
  const servername = Buffer.from(config.servername ?? host);
  const cert = pemBytes(config.pem.cert);
  const key = pemBytes(config.pem.key);
  const pass = Buffer.from(config.pem.passphrase ?? '');
  const ca = config.pem.ca === undefined ? (bundledRoots ??= pemBytes(rootCertificates as string[])) : pemBytes(config.pem.ca);
  const r = api.zg_conn_tls_dial(
    handle, loop, slot, generation, flags, alpn, alpn.length, servername, servername.length,
    cert, cert.length, key, key.length, pass, pass.length, ca, ca.length,
  );
  if (r < 0) throw tlsConfigError('tls: the native engine refused the dial options');
}

/** c.tls of an open TLS connection (null: a plain one), read once after its handshake. */
export function tlsInfo(api: EngineApi, handle: number, loop: number, slot: number, generation: number): TlsInfo | null {
  let out = Buffer.allocUnsafe(INFO_BYTES);
  let n = api.zg_conn_tls_info(handle, loop, slot, generation, out, out.length);
  if (n > out.length) {
    out = Buffer.allocUnsafe(n);
    n = api.zg_conn_tls_info(handle, loop, slot, generation, out, out.length);
  }
  if (n <= 0 || n > out.length) return null;
  const words = L.tls_info_words;
  const len = (i: number) => out.readInt32LE(i * 4);
  let at = words * 4;
  const take = (i: number) => {
    const bytes = out.subarray(at, at + len(i));
    at += len(i);
    return bytes;
  };
  const protocol = take(0).toString('latin1');
  const cipher = take(1).toString('latin1');
  const alpn = take(2).toString('latin1');
  const servername = take(3).toString('latin1');
  const der = take(4);
  const peerCertificate = der.length > 0 ? new X509Certificate(Buffer.from(der)) : null;
  return Object.freeze({
    protocol,
    cipher,
    alpnProtocol: alpn === '' ? null : alpn,
    servername: servername === '' ? null : servername,
    authorized: peerCertificate !== null && len(5) === 0,
    peerCertificate,
  });
}

/** Whether the native engine can serve TLS here (OpenSSL found in this process). */
export function nativeTlsAvailable(): boolean {
  return engineApi().zg_tls_available() === 1;
}
