/**
 * The flush-on-close bound in wasm mode (host/engine/conn.ts FLUSH_ON_CLOSE_MS): a socket
 * that was ended with bytes still queued keeps flushing while the peer takes some of them;
 * one that takes nothing for FLUSH_ON_CLOSE_MS is destroyed and the loss logged.
 *
 * Progress is what libuv has handed to the kernel: Node's `writableLength` drops only when a
 * whole write completes (one 32 MiB write would look stalled until its end), so the handle's
 * own queue size, which libuv lowers with every partial write, is watched as well.
 */
import type * as net from 'node:net';
import type { Logger } from '../api.js';
import { FLUSH_ON_CLOSE_MS } from '../engine/conn.js';

/** How often a flushing socket's progress is looked at: a tenth of the bound. */
const CHECK_MS = FLUSH_ON_CLOSE_MS / 10;

/** Bytes Node and libuv still hold for `s`. */
function queued(s: net.Socket): number {
  const handle = (s as unknown as { _handle?: { writeQueueSize?: number } | null })._handle;
  return s.writableLength + (handle?.writeQueueSize ?? 0);
}

/**
 * Watches an ending socket until it closes; destroys it after FLUSH_ON_CLOSE_MS without
 * progress. `whenWritten`: destroy it too once nothing is queued (shutdown: the socket is
 * not waiting for anything else); else a written socket is left to its FIN.
 */
export function cutOffWithoutProgress(s: net.Socket, logger: Logger, peer: string, whenWritten = false): void {
  if (s.destroyed) return;
  let last = queued(s);
  let stalledSince = Date.now();
  const timer = setInterval(() => {
    const now = queued(s);
    if (now === 0) {
      if (whenWritten) s.destroy();
      return; // written: the FIN and the peer's close are the kernel's and Node's now
    }
    if (now < last) {
      last = now;
      stalledSince = Date.now();
      return;
    }
    if (Date.now() - stalledSince < FLUSH_ON_CLOSE_MS) return;
    logger.warn(`${peer}: took nothing for ${FLUSH_ON_CLOSE_MS} ms while closing: ${now} queued bytes dropped`);
    s.destroy();
  }, CHECK_MS);
  timer.unref();
  s.once('close', () => clearInterval(timer));
}
