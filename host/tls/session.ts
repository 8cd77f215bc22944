/**
 * A TLS session as both modes report it: `c.tls` (what the handshake agreed on; null on a
 * plain connection) and `ERR_TLS_HANDSHAKE` for what failed in the TLS layer rather than in
 * the socket.
 */
import type { TLSSocket } from 'node:tls';
import type { TlsInfo } from '../api.js';
import { ErrorCode, ZgnetError } from '../errors.js';

/** Read once the handshake finished (the certificate is gone once the socket is). */
export function tlsInfoOf(socket: TLSSocket): TlsInfo {
  const cipher = socket.getCipher();
  const servername = (socket as TLSSocket & { servername?: string | false }).servername;
  return Object.freeze({
    protocol: socket.getProtocol() ?? '',
    cipher: cipher?.standardName ?? cipher?.name ?? '',
    alpnProtocol: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : null,
    servername: typeof servername === 'string' && servername !== '' ? servername : null,
    authorized: socket.authorized,
    peerCertificate: socket.getPeerX509Certificate() ?? null,
  });
}

/**
 * node:tls reports OpenSSL's failures (alerts, bad records, certificates that do not verify,
 * a handshake timeout) without a `syscall`; the socket's own failures (ECONNRESET) have one.
 */
export function isTlsFailure(err: Error): boolean {
  return typeof (err as { syscall?: unknown }).syscall !== 'string';
}

/** ERR_TLS_HANDSHAKE carrying node:tls's error (its OpenSSL code) as `cause`. */
export function handshakeError(err: Error): ZgnetError {
  const code = (err as { code?: unknown }).code;
  return new ZgnetError(ErrorCode.TLS_HANDSHAKE, typeof code === 'string' ? `${code}: ${err.message}` : err.message, { cause: err });
}
