/** A raw conversation with a server, for the example suites (HTTP, Redis). */
import type net from 'node:net';

/**
 * Sends `chunks` on a new connection (50 ms between them) and collects what comes back (latin1)
 * until the server closes (FIN or reset) or nothing arrives for `quietMs`.
 */
export function exchange(
  connect: () => net.Socket,
  chunks: (string | Uint8Array)[],
  quietMs = 300,
): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect();
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closedByServer });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), quietMs);
    };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      arm();
    });
    socket.on('end', () => finish(true));
    socket.on('error', (err: Error & { code?: string }) => (err.code === 'ECONNRESET' ? finish(true) : reject(err)));
    socket.on('connect', async () => {
      for (const [i, c] of chunks.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, 50));
        if (!socket.destroyed) socket.write(c);
      }
      arm();
    });
  });
}
