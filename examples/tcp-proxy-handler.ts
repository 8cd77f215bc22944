/**
 * The proxy's event handler (examples/tcp-proxy.ts serves it; the torture test runs it too):
 * each accepted connection dials `upstream()` from its own event loop (`c.eventLoop.register`)
 * and the pair forwards bytes both ways. Flow control: when one side's outbound queue passes
 * the high-water mark (`writable` false) the other side stops being read until it drains
 * (`onWritable` → `resumeRead`). A FIN goes on to the other side once what came before it has
 * (`onEnd` → `end()`; serve it with `allowHalfOpen: true`); a close of either side closes the
 * other after what was queued for it is delivered.
 */
import type { Conn, EventHandler } from '../host/index.js';

/** Each side of a pair knows the other; `peer` is null while the back end is being dialled. */
interface Side {
  peer: Conn | null;
  /** The side was closed before its peer existed: the dial's result is closed on arrival. */
  closed: boolean;
  /** The side's peer sent FIN before the back end existed: it is forwarded on arrival. */
  ended: boolean;
}

export function proxyHandler(upstream: () => string): EventHandler {
  return {
    onOpen(client) {
      if (client.context !== undefined) return; // the back end's own onOpen (it has its Side already)
      const side: Side = { peer: null, closed: false, ended: false };
      client.context = side;
      client.pauseRead(); // nothing to forward to yet
      client.eventLoop.register(upstream(), { peer: client, closed: false, ended: false } satisfies Side).then(
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
}
