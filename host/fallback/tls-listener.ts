/**
 * The fallback engine's TLS listener: a node:tls server with zgnet's validated options
 * (host/tls/options.ts). OpenSSL runs inside Node; the engine sees a `TLSSocket` once its
 * handshake finished ('secureConnection'). A handshake that fails or takes longer than
 * `handshakeTimeoutMs` ('tlsClientError': a plain-text client, a malformed ClientHello, a
 * peer that stalls, a refused client certificate) never reaches the handler: the engine
 * counts and logs it. Sockets still handshaking are kept here so that shutdown can drop them
 * at once instead of waiting for their timeout.
 */
import type * as net from 'node:net';
import * as tls from 'node:tls';
import { sniContext, type ServerTls } from '../tls/options.js';

/** A TLSSocket's underlying TCP/Unix socket (node:tls keeps it as `_parent`). */
type Wrapped = tls.TLSSocket & { _parent?: net.Socket | null };

const handshaking = new WeakMap<net.Server, Set<net.Socket>>();

export function tlsServer(config: ServerTls, socketOptions: net.ServerOpts): tls.Server {
  const server = tls.createServer({
    ...socketOptions,
    ...config.contextOptions,
    ALPNProtocols: config.ALPNProtocols,
    requestCert: config.requestCert,
    rejectUnauthorized: config.rejectUnauthorized,
    handshakeTimeout: config.handshakeTimeoutMs,
    // Unknown names (and no SNI at all) get the default certificate.
    SNICallback: config.sni.size === 0 ? undefined : (servername, done) => done(null, sniContext(config, servername)),
  });
  const pending = new Set<net.Socket>();
  handshaking.set(server, pending);
  server.on('connection', (raw: net.Socket) => pending.add(raw));
  const settled = (socket: Wrapped) => {
    if (socket._parent) pending.delete(socket._parent);
  };
  server.on('secureConnection', settled);
  // node:tls gives a failed handshake up without always closing its TCP socket (half-open
  // sockets wait for the peer): close both now.
  server.on('tlsClientError', (_err: Error, socket: Wrapped) => {
    socket._parent?.destroy();
    socket.destroy();
    settled(socket);
  });
  return server;
}

/** Drops the connections of `server` still in their handshake (engine shutdown). */
export function dropHandshakes(server: net.Server): void {
  const pending = handshaking.get(server);
  if (pending === undefined) return;
  for (const raw of pending) raw.destroy();
  pending.clear();
}
