/**
 * A TLS dial of the fallback engine: node:tls's `connect` with zgnet's validated options; the
 * connection opens on 'secureConnect'. The handshake is bounded as an accepted one's is
 * (HANDSHAKE_TIMEOUT_MS after the TCP connect): a server that never answers cannot hold a
 * dial forever.
 */
import * as tls from 'node:tls';
import type { ResolvedAddr } from '../address.js';
import type { ResolvedOptions } from '../options.js';
import { HANDSHAKE_TIMEOUT_MS, type DialTls } from '../tls/options.js';

export function dialTlsSocket(target: ResolvedAddr, config: DialTls, o: ResolvedOptions, failed: (err: Error) => void): tls.TLSSocket {
  // node:tls passes the socket options (allowHalfOpen, noDelay, keep-alive) on to net; its types omit them.
  const common = {
    secureContext: config.context,
    rejectUnauthorized: config.rejectUnauthorized,
    ALPNProtocols: config.ALPNProtocols,
    // allowHalfOpen: the engine ends the socket itself, after onClose (as for accepted ones).
    allowHalfOpen: true,
    ...(config.servername === undefined ? {} : { servername: config.servername }),
  };
  const socket =
    target.network === 'unix'
      ? tls.connect({ ...common, path: target.path } as tls.ConnectionOptions)
      : tls.connect({
          ...common,
          host: target.host,
          port: target.port,
          noDelay: o.tcpNoDelay,
          keepAlive: o.tcpKeepAliveMs > 0,
          keepAliveInitialDelay: o.tcpKeepAliveMs,
        } as tls.ConnectionOptions);
  let timer: NodeJS.Timeout | undefined;
  socket.once('connect', () => {
    timer = setTimeout(() => {
      failed(Object.assign(new Error(`no TLS handshake within ${HANDSHAKE_TIMEOUT_MS} ms`), { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' }));
    }, HANDSHAKE_TIMEOUT_MS);
  });
  const stop = () => clearTimeout(timer);
  socket.once('secureConnect', stop);
  socket.once('close', stop);
  return socket;
}
