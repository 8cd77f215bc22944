/**
 * Client.dial: many at once (spread by least-connections, every one echoing), the failures a
 * dial reports (refused, missing unix path, bad address, aborted signal), and dialling a
 * client that has not started or has stopped.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Client, type Conn } from '../../host/index.js';
import { zgnetError } from '../support/handlers.js';
import { unixPath } from '../support/server.js';
import { Counter, settle, until } from '../support/wait.js';
import { collect, collector, expectEcho, withClient } from '../support/client.js';
import { zgnetEcho } from '../support/echo-backends.js';
import { testMode } from '../support/mode.js';

const DIALS = 128;
const LOOPS = 4;

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function isAbortError(err: Error): boolean {
  assert.equal(err.name, 'AbortError', String(err));
  return true;
}

describe(`client dial (${testMode})`, () => {
  for (const transport of ['tcp', 'unix'] as const) {
    test(`${transport}: ${DIALS} concurrent dials spread evenly over ${LOOPS} loops, and every one echoes`, { timeout: 60_000 }, async () => {
      const server = await zgnetEcho(transport, { numEventLoop: 2 });
      const opened = new Counter('onOpen');
      const closed = new Counter('onClose');
      try {
        await withClient({ onOpen: () => void opened.inc(), onClose: () => void closed.inc(), onTraffic: collect }, async (client) => {
          const conns: Conn[] = await Promise.all(
            Array.from({ length: DIALS }, (_, i) => client.dial(server.addrs[0]!, { context: collector(16 + i) })),
          );
          assert.equal(opened.value, DIALS);
          const perLoop = new Array<number>(LOOPS).fill(0);
          for (const c of conns) perLoop[c.eventLoop.index]!++;
          assert.deepEqual(perLoop, new Array<number>(LOOPS).fill(DIALS / LOOPS), 'least-connections counts dials in flight');
          await until('the server saw every conn', () => server.engine.countConnections() === DIALS);
          await Promise.all(
            conns.map(async (c, i) => {
              const message = Buffer.alloc(16 + i, i & 0xff);
              await c.asyncWrite(message);
              await expectEcho(c, message, `conn ${i}`);
            }),
          );
          // Half close themselves, the rest are closed by stop().
          await Promise.all(conns.filter((_, i) => i % 2 === 0).map((c) => c.close()));
          assert.equal(closed.value, DIALS / 2, 'close() resolves after onClose ran');
        }, { numEventLoop: LOOPS });
        assert.equal(closed.value, DIALS);
        await until('the server saw every conn close', () => server.engine.countConnections() === 0);
      } finally {
        await server.close();
      }
    });
  }

  test('a refused tcp dial rejects with ECONNREFUSED; a missing unix path with ENOENT; neither opens anything', { timeout: 20_000 }, async () => {
    const opened = new Counter('onOpen');
    await withClient({ onOpen: () => void opened.inc() }, async (client) => {
      const port = await closedPort();
      await assert.rejects(client.dial(`tcp://127.0.0.1:${port}`), (err: Error & { code?: string; syscall?: string; errno?: number }) => {
        assert.equal(err.code, 'ECONNREFUSED');
        assert.equal(err.syscall, 'connect');
        assert.equal(typeof err.errno, 'number');
        return true;
      });
      await assert.rejects(client.dial(`unix://${unixPath('missing')}`), (err: Error & { code?: string }) => err.code === 'ENOENT');
      await settle(20);
      assert.equal(opened.value, 0);
    });
  });

  test('bad addresses reject with ERR_INVALID_NETWORK_ADDRESS or ERR_UNSUPPORTED_PROTOCOL', { timeout: 20_000 }, async () => {
    await withClient({}, async (client) => {
      for (const addr of ['tcp://', 'tcp://127.0.0.1', '127.0.0.1:80', 'tcp://127.0.0.1:80/path', 'unix://']) {
        await assert.rejects(client.dial(addr), zgnetError('ERR_INVALID_NETWORK_ADDRESS'), addr);
      }
      await assert.rejects(client.dial('quic://127.0.0.1:80'), zgnetError('ERR_UNSUPPORTED_PROTOCOL'));
      await assert.rejects(client.dial('tcp://127.0.0.1:80', { signal: 'no' as unknown as AbortSignal }), zgnetError('ERR_INVALID_OPTION'));
    });
  });

  test('an aborted signal rejects with an AbortError: before the dial, right after it, during the lookup, while connecting', { timeout: 20_000 }, async () => {
    const server = await zgnetEcho('tcp');
    const opened = new Counter('onOpen');
    try {
      await withClient({ onOpen: () => void opened.inc() }, async (client) => {
        await assert.rejects(client.dial(server.addrs[0]!, { signal: AbortSignal.abort() }), isAbortError);

        const now = new AbortController();
        const dialling = client.dial(server.addrs[0]!, { signal: now.signal });
        now.abort();
        await assert.rejects(dialling, isAbortError);

        // localhost needs a lookup (the threadpool): the abort lands while it is under way.
        const port = server.addrs[0]!.split(':').at(-1);
        const lookup = new AbortController();
        const looking = client.dial(`tcp://localhost:${port}`, { signal: lookup.signal });
        lookup.abort(new Error('changed my mind'));
        await assert.rejects(looking, (err: Error) => isAbortError(err) && (err.cause as Error).message === 'changed my mind');

        // After the connect() went out (a few microtasks in), before any I/O could complete it.
        const connecting = new AbortController();
        const inFlight = client.dial(server.addrs[0]!, { signal: connecting.signal });
        for (let i = 0; i < 50; i++) await null;
        connecting.abort();
        await assert.rejects(inFlight, isAbortError);

        await settle(50);
        assert.equal(opened.value, 0, 'an aborted dial never opens');
        // The client still works, and nothing was left half-open on either side.
        await client.dial(server.addrs[0]!);
        assert.equal(opened.value, 1);
        await until('the server holds only the last conn', () => server.engine.countConnections() === 1);
      });
    } finally {
      await server.close();
    }
  });

  test('before start() dial is ERR_EMPTY_ENGINE; after stop() ERR_ENGINE_IN_SHUTDOWN, and start() again too', { timeout: 20_000 }, async () => {
    const client = new Client({}, { mode: testMode });
    await assert.rejects(client.dial('tcp://127.0.0.1:1'), zgnetError('ERR_EMPTY_ENGINE'));
    await assert.rejects(client.stop(), zgnetError('ERR_EMPTY_ENGINE'));
    await client.start();
    assert.equal(client.mode, testMode);
    await assert.rejects(client.start(), zgnetError('ERR_UNSUPPORTED_OP'));
    await client.stop();
    await client.stop(); // a second stop waits for the same end
    await assert.rejects(client.dial('tcp://127.0.0.1:1'), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
    await assert.rejects(client.enroll(new net.Socket()), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
    await assert.rejects(client.start(), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
  });

  test('client options are validated up front (server-only options are refused)', () => {
    for (const bad of [{ lb: 'round-robin' }, { reusePort: true }, { numEventLoop: 300 }, { readBufferCap: -1 }, { nope: 1 }]) {
      assert.throws(() => new Client({}, bad as never), zgnetError('ERR_INVALID_OPTION'), JSON.stringify(bad));
    }
    assert.throws(() => new Client(null as never), zgnetError('ERR_INVALID_OPTION'));
  });
});
