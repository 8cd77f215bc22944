/**
 * Echo servers for tests that need something to dial or proxy to: zgnet's own in the mode under
 * test, and plain node:net / node:dgram ones.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { echo } from './handlers.js';
import { removePath, startServer, unixPath, type Server } from './server.js';

export type Transport = 'tcp' | 'unix' | 'udp';

/** A zgnet echo server on loopback (port 0) or a fresh unix path; `close()` also removes the path. */
export async function zgnetEcho(transport: Transport, options: { numEventLoop?: number } = {}): Promise<Server & Backend> {
  const path = transport === 'unix' ? unixPath('client-echo') : '';
  const listen = transport === 'unix' ? `unix://${path}` : `${transport}://127.0.0.1:0`;
  const server = await startServer({ onTraffic: echo }, listen, options);
  return Object.assign(server, {
    addr: server.addrs[0]!,
    async close() {
      await server.shutdown();
      if (path) removePath(path);
    },
  });
}

export interface Backend {
  addr: string;
  close(): Promise<void>;
}

/** A plain node:net echo server (tcp on loopback, or unix). */
export async function nodeEcho(transport: 'tcp' | 'unix'): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  const path = transport === 'unix' ? unixPath('node-echo') : '';
  await new Promise<void>((resolve) => (path ? server.listen(path, resolve) : server.listen(0, '127.0.0.1', resolve)));
  return {
    addr: path ? `unix://${path}` : `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      if (path) removePath(path);
    },
  };
}

/** A plain node:dgram echo socket on 127.0.0.1: every datagram goes back to its sender. */
export async function nodeUdpEcho(): Promise<Backend> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    addr: `udp://127.0.0.1:${socket.address().port}`,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

