/**
 * The node:net twin of examples/redis-server.ts: the same parser and commands
 * (examples/redis-commands.ts), so the benchmark compares only the I/O. As a Node user would
 * write it: a 'data' handler that joins a request split across chunks, runs every complete
 * request and answers them in one socket.write.
 *
 *   node dist/bench/servers/net-redis.js [--addr 127.0.0.1:0]
 * Prints "listening <host:port>"; SIGTERM/SIGINT close everything and exit 0.
 */
import net from 'node:net';
import { cliArgs } from '../../examples/cli.js';
import { RedisCommands, newSession } from '../../examples/redis-commands.js';

const { addr } = cliArgs('net-redis', { addr: '127.0.0.1:0' });
const colon = addr.lastIndexOf(':');
const redis = new RedisCommands({ port: Number(addr.slice(colon + 1)) });
const out = redis.out;
const sockets = new Set<net.Socket>();

const server = net.createServer({ noDelay: true }, (socket) => {
  sockets.add(socket);
  const session = newSession();
  let pending: Buffer | null = null; // an incomplete request, kept for the next chunk
  socket.on('data', (chunk: Buffer) => {
    if (session.close) return; // QUIT or a protocol error: nothing more is read
    const data: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
    if (session.need > 0 && data.length < session.need) {
      pending = data;
      return;
    }
    out.reset();
    const used = redis.feed(data, session);
    pending = used < data.length ? data.subarray(used) : null;
    if (out.pos > 0) socket.write(Buffer.from(out.view())); // `out` is reused: the socket gets a copy
    if (session.close) socket.end();
  });
  socket.on('error', () => {}); // a reset peer must not kill the server
  socket.on('close', () => sockets.delete(socket));
});
server.on('error', (err: Error & { code?: string }) => {
  console.error(`net-redis: ${err.code ?? ''} ${err.message}`);
  process.exit(1);
});
server.listen({ host: addr.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(addr.slice(colon + 1)) }, () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(`listening ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    for (const s of sockets) s.destroy();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
