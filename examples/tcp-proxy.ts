/**
 * A TCP proxy on zgnet, in gnet's pattern: each accepted connection dials its back end from the
 * same event loop (`c.eventLoop.register`), and bytes flow both ways with no unbounded
 * buffering — when one side's outbound queue passes the high-water mark (`c.writable` false),
 * the other side stops being read (`pauseRead`: TCP pushes back on its peer) until the queue
 * drains (`onWritable` → `resumeRead`). Memory per connection pair is bounded by about twice
 * `outboundHighWaterMark` plus one read, whatever the peers do.
 *
 *   node dist/examples/tcp-proxy.js --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000
 *                                   [--mode native|wasm|auto] [--loops N] [--high-water-mark BYTES]
 *
 * Prints "listening <host:port>" once bound (port 0: a free port); SIGTERM/SIGINT stop it.
 * A FIN is forwarded as HAProxy does (`allowHalfOpen`: `onEnd` → the other side's `end()`): a
 * client that sends and half-closes still gets the whole answer, and the pair closes once both
 * directions have ended. A reset or error on either side closes the other after what was
 * queued for it is delivered (bounded by the flush-on-close bound); a back end that cannot be
 * reached closes the client at once.
 */
import type { Engine, EventHandler } from '../host/index.js';
import { cliArgs, numberFlag, serve } from './cli.js';
import { proxyHandler } from './tcp-proxy-handler.js';

const args = cliArgs('tcp-proxy', { listen: '127.0.0.1:8080', upstream: '127.0.0.1:9000', mode: 'auto', loops: '1', 'high-water-mark': String(256 * 1024) });
const listen = args.listen;
const upstream = `tcp://${args.upstream}`;

const handler = {
  ...proxyHandler(() => upstream),
  onBoot(engine: Engine) {
    process.stdout.write(`listening ${(engine.addrs[0] ?? '').replace(/^[a-z0-9]+:\/\//, '')}\n`);
  },
} satisfies EventHandler;

await serve('tcp-proxy', handler, `tcp://${listen}`, {
  mode: args.mode as 'native' | 'wasm' | 'auto',
  numEventLoop: numberFlag('tcp-proxy', args, 'loops'),
  outboundHighWaterMark: numberFlag('tcp-proxy', args, 'high-water-mark'),
  tcpNoDelay: true,
  allowHalfOpen: true,
  logLevel: 'warn',
});
