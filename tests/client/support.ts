/**
 * Pieces the client suites share: a Client in the mode under test that is always stopped, a
 * quiet logger that keeps errors, zgnet and node:net echo servers, and an exchange that sends
 * a payload through a client conn and collects the echo byte for byte.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Client, type ClientOptions, type Conn, type EventHandler } from '../../host/index.js';
import { sameBytes } from '../conformance/support/clients.js';
import { echo } from '../conformance/support/handlers.js';
import { recordingLogger, removePath, startServer, unixPath, type Server } from '../conformance/support/server.js';
import { deferred, within, type Deferred } from '../conformance/support/wait.js';
import { testMode } from '../support/mode.js';

export { testMode };

/** Starts a Client in the mode under test, runs `body`, and stops it whatever happens. */
export async function withClient<T>(
  handler: EventHandler,
  body: (client: Client, logger: ReturnType<typeof recordingLogger>) => Promise<T>,
  options: ClientOptions = {},
): Promise<T> {
  const logger = recordingLogger();
  const client = new Client(handler, { mode: testMode, logger, ...options });
  await within('client.start()', 10_000, client.start());
  try {
    return await body(client, logger);
  } finally {
    await within('client.stop()', 10_000, client.stop());
  }
}

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

/**
 * What a client conn's context holds while it waits for an echo: onTraffic (see
 * `collect`) appends what arrives until `expected` bytes are in.
 */
export interface Collector {
  expected: number;
  chunks: Buffer[];
  size: number;
  done: Deferred<Buffer>;
}

export function collector(expected: number): Collector {
  return { expected, chunks: [], size: 0, done: deferred<Buffer>() };
}

/** onTraffic of a collecting client: copies what arrived into the conn's Collector. */
export function collect(c: Conn): void {
  const x = c.context as Collector | undefined;
  const data = c.next();
  if (x === undefined || data === null || data.length === 0) return;
  x.chunks.push(Buffer.from(data));
  x.size += data.length;
  if (x.size >= x.expected) x.done.resolve(Buffer.concat(x.chunks, x.size));
}

/** Waits for the Collector in `c.context` and compares what came back with `sent`. */
export async function expectEcho(c: Conn, sent: Buffer, what: string, ms = 20_000): Promise<void> {
  const x = c.context as Collector;
  const echoed = await within(`${what}: the echo of ${sent.length} bytes (have ${x.size})`, ms, x.done.promise);
  assert.equal(sameBytes(echoed, sent), null, `${what}: echoed bytes differ`);
}
