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
import type { Conn, EventHandler } from '../host/index.js';
import { cliArgs, numberFlag, serve } from './cli.js';

/** Each side of a pair knows the other; `peer` is null while the back end is being dialled. */
interface Side {
  peer: Conn | null;
  /** The side was closed before its peer existed: the dial's result is closed on arrival. */
  closed: boolean;
  /** The side's peer sent FIN before the back end existed: it is forwarded on arrival. */
  ended: boolean;
}

const args = cliArgs('tcp-proxy', { listen: '127.0.0.1:8080', upstream: '127.0.0.1:9000', mode: 'auto', loops: '1', 'high-water-mark': String(256 * 1024) });
const listen = args.listen;
const upstream = `tcp://${args.upstream}`;

const handler: EventHandler = {
  onBoot(engine) {
    process.stdout.write(`listening ${(engine.addrs[0] ?? '').replace(/^[a-z0-9]+:\/\//, '')}\n`);
  },

  onOpen(client) {
    if (client.context !== undefined) return; // the back end's own onOpen (it has its Side already)
    const side: Side = { peer: null, closed: false, ended: false };
    client.context = side;
    client.pauseRead(); // nothing to forward to yet
    client.eventLoop.register(upstream, { peer: client, closed: false, ended: false } satisfies Side).then(
      (back) => {
        if (side.closed) return void back.close();
        side.peer = back;
        if (side.ended) back.end();
        client.resumeRead();
      },
      () => void client.close(), // the back end is unreachable
    );
  },

  onTraffic(c) {
    const peer = (c.context as Side).peer;
    if (peer === null) return;
    // The other side closed (its onClose closes this one next): nothing can go to it now.
    if ((peer.context as Side | undefined)?.closed !== false) return void c.discard();
    const data = c.next();
    if (data !== null && data.length > 0) peer.write(data); // copied or sent at once: the view may go
    if (!peer.writable) c.pauseRead(); // onWritable(peer) resumes it
  },

  /** The FIN goes on to the other side once what came before it has. */
  onEnd(c) {
    const side = c.context as Side;
    if (side.peer === null) side.ended = true;
    else side.peer.end();
  },

  onWritable(c) {
    (c.context as Side).peer?.resumeRead();
  },

  onClose(c) {
    const side = c.context as Side | undefined;
    if (side === undefined) return;
    side.closed = true;
    // What was queued for the peer still goes out before its close completes.
    void side.peer?.close();
  },
};

await serve('tcp-proxy', handler, `tcp://${listen}`, {
  mode: args.mode as 'native' | 'wasm' | 'auto',
  numEventLoop: numberFlag('tcp-proxy', args, 'loops'),
  outboundHighWaterMark: numberFlag('tcp-proxy', args, 'high-water-mark'),
  tcpNoDelay: true,
  allowHalfOpen: true,
  logLevel: 'warn',
});
