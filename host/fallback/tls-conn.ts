/**
 * A TLS connection of the fallback engine: a `StreamConn` whose socket is a node:tls
 * `TLSSocket` that finished its handshake (onOpen comes after it). Reads and writes are
 * plaintext, as on any stream; `c.tls` describes the session; a TLS failure after onOpen
 * (an alert, a client certificate refused after a TLS 1.3 handshake) reaches onClose as
 * ERR_TLS_HANDSHAKE.
 */
import type { TLSSocket } from 'node:tls';
import type { TlsInfo } from '../api.js';
import { handshakeError, isTlsFailure, tlsInfoOf } from '../tls/session.js';
import { StreamConn, type NodeConnOwner } from './connection.js';
import type { FallbackEventLoop } from './event-loop.js';

export class TlsStreamConn extends StreamConn {
  private readonly info: TlsInfo;

  constructor(owner: NodeConnOwner, loop: FallbackEventLoop, socket: TLSSocket, network: 'tcp' | 'unix', localAddr: string, remoteAddr: string) {
    super(owner, loop, socket, network, localAddr, remoteAddr);
    this.info = tlsInfoOf(socket);
  }

  override get tls(): TlsInfo {
    return this.info;
  }

  protected override socketError(err: Error): Error {
    return isTlsFailure(err) ? handshakeError(err) : err;
  }
}
