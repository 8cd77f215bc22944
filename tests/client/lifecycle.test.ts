/**
 * The client's lifecycle: start() and onBoot (gnet's listener-less engine, its action
 * ignored), the ticker, stop() with live connections of every transport (each onClose, then
 * onShutdown, then stop resolves), the `signal` option; and client conns as ordinary Conns
 * (context, asyncWrite, wake, close, codecs).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Action, Client, LineCodec, type Conn, type Engine, type EventHandler } from '../../host/index.js';
import { zgnetError } from '../support/handlers.js';
import { Counter, deferred, until, within } from '../support/wait.js';
import { collect, collector, expectEcho, withClient } from '../support/client.js';
import { zgnetEcho } from '../support/echo-backends.js';
import { testMode } from '../support/mode.js';

describe(`client lifecycle (${testMode})`, () => {
  test('start() calls onBoot with a listener-less engine and ignores its Shutdown; the ticker runs', { timeout: 20_000 }, async () => {
    let engine: Engine | undefined;
    const ticks = new Counter('onTick');
    const handler: EventHandler = {
      onBoot(e) {
        engine = e;
        return Action.Shutdown; // gnet's Client.Start ignores it
      },
      onTick() {
        ticks.inc();
        return { delayMs: 5 };
      },
    };
    const server = await zgnetEcho('tcp');
    try {
      await withClient(handler, async (client) => {
        assert.ok(engine, 'onBoot ran inside start()');
        assert.equal(engine.mode, testMode);
        assert.deepEqual(engine.addrs, []);
        assert.equal(engine.countConnections(), -1);
        assert.throws(() => engine!.dup(), zgnetError('ERR_EMPTY_ENGINE'));
        assert.throws(() => engine!.dupListener('tcp', server.addrs[0]!), zgnetError('ERR_EMPTY_ENGINE'));
        await assert.rejects(engine.stop(), zgnetError('ERR_EMPTY_ENGINE'));
        await ticks.wait(3);
        await client.dial(server.addrs[0]!); // still running
      }, { ticker: true });
    } finally {
      await server.close();
    }
  });

  test('stop() with live tcp, unix and udp conns: every onClose(null), then onShutdown, then it resolves', { timeout: 30_000 }, async () => {
    const servers = await Promise.all((['tcp', 'unix', 'udp'] as const).map((t) => zgnetEcho(t)));
    const events: string[] = [];
    const handler: EventHandler = {
      onClose: (c, err) => void events.push(`close ${c.context as string} ${err}`),
      onShutdown: () => void events.push('shutdown'),
    };
    try {
      const client = new Client(handler, { mode: testMode, numEventLoop: 2 });
      await client.start();
      const names: string[] = [];
      for (let i = 0; i < 9; i++) {
        const server = servers[i % 3]!;
        const name = `${['tcp', 'unix', 'udp'][i % 3]}${i}`;
        names.push(name);
        await client.dial(server.addrs[0]!, { context: name });
      }
      await until('the stream servers saw their conns', () => servers[0]!.engine.countConnections() === 3 && servers[1]!.engine.countConnections() === 3);
      const stopping = client.stop();
      let resolved = false;
      void stopping.then(() => (resolved = true));
      await within('client.stop()', 10_000, stopping);
      assert.ok(resolved);
      assert.equal(events.length, 10);
      assert.equal(events.at(-1), 'shutdown', 'onShutdown comes after every onClose');
      assert.deepEqual(events.slice(0, 9).sort(), names.map((n) => `close ${n} null`).sort());
      await until('the servers saw the client go', () => servers[0]!.engine.countConnections() === 0 && servers[1]!.engine.countConnections() === 0);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  test('an aborted `signal` option stops the client the same way', { timeout: 20_000 }, async () => {
    const server = await zgnetEcho('tcp');
    const events: string[] = [];
    const stop = new AbortController();
    try {
      const client = new Client({ onClose: () => void events.push('close'), onShutdown: () => void events.push('shutdown') }, { mode: testMode, signal: stop.signal });
      await client.start();
      await client.dial(server.addrs[0]!);
      stop.abort();
      await within('client.stop() after the abort', 10_000, client.stop());
      assert.deepEqual(events, ['close', 'shutdown']);
      await assert.rejects(client.dial(server.addrs[0]!), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
    } finally {
      await server.close();
    }
  });

  test('client conns are ordinary Conns: context, asyncWrite, wake, a codec, close resolving after onClose', { timeout: 20_000 }, async () => {
    const server = await zgnetEcho('tcp');
    const codec = new LineCodec();
    const lines: string[] = [];
    const woken = new Counter('onTraffic from wake');
    const closed = deferred<Error | null>();
    const handler: EventHandler = {
      onOpen(c) {
        c.write('first\nsec'); // written before onOpen returns: goes out first
      },
      onTraffic(c) {
        if (c.inboundBuffered() === 0) woken.inc();
        // One line per call, the rest left for wake(): gnet's best practice.
        const frame = codec.decode(c);
        if (frame !== null) lines.push(frame.toString());
        if (c.inboundBuffered() > 0) void c.wake();
      },
      onClose(c, err) {
        assert.deepEqual(c.context, { who: 'me' });
        closed.resolve(err);
      },
    };
    try {
      await withClient(handler, async (client) => {
        const c: Conn = await client.dial(server.addrs[0]!, { context: { who: 'me' } });
        await c.asyncWrite('ond\nthird\n');
        await until('three lines', () => lines.length === 3);
        assert.deepEqual(lines, ['first', 'second', 'third']);
        await c.wake();
        assert.ok(woken.value >= 1, 'wake() runs onTraffic with nothing buffered');
        assert.equal(c.outboundBuffered(), 0);
        await c.close();
        assert.equal(closed.settled, true, 'close() resolves after onClose');
        assert.equal(await closed.promise, null);
        assert.equal(c.context, undefined, 'context is cleared after onClose');
        await assert.rejects(c.asyncWrite('late'), zgnetError('ERR_CONN_CLOSED'));
      });
    } finally {
      await server.close();
    }
  });

  test('a Shutdown action from a client conn stops the client (every onClose, then onShutdown)', { timeout: 20_000 }, async () => {
    const server = await zgnetEcho('tcp');
    const events: string[] = [];
    try {
      const client = new Client(
        {
          onTraffic: (c) => {
            collect(c);
            return Action.Shutdown;
          },
          onClose: () => void events.push('close'),
          onShutdown: () => void events.push('shutdown'),
        },
        { mode: testMode },
      );
      await client.start();
      const a = await client.dial(server.addrs[0]!, { context: collector(2) });
      await client.dial(server.addrs[0]!);
      await a.asyncWrite('hi');
      await expectEcho(a, Buffer.from('hi'), 'the echo before Shutdown');
      await within('the client stopping itself', 10_000, client.stop());
      assert.deepEqual(events, ['close', 'close', 'shutdown']);
    } finally {
      await server.close();
    }
  });
});
