/**
 * Pieces the client suites share: a Client in the mode under test that is always stopped, and an
 * exchange that sends a payload through a client conn and collects the echo byte for byte.
 */
import assert from 'node:assert/strict';
import { Client, type ClientOptions, type Conn, type EventHandler } from '../../host/index.js';
import { sameBytes } from './clients.js';
import { testMode } from './mode.js';
import { recordingLogger } from './server.js';
import { deferred, within, type Deferred } from './wait.js';

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
