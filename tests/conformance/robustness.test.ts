/**
 * What users do wrong and what peers do wrong: many connections at once, peers that reset,
 * handlers that throw or return Promises, writes after close, closing and stopping twice.
 * The engine must keep serving everyone else and never throw where nobody catches.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Action, ZgnetError, type Conn, type EventHandler } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { Random } from '../support/random.js';
import { StreamPeer } from '../support/clients.js';
import { echo, zgnetError } from '../support/handlers.js';
import { LOOPBACK, startServer } from '../support/server.js';
import { Counter, deferred, settle, until, within } from '../support/wait.js';

/** Records uncaught exceptions and unhandled rejections while a test runs. */
function watchUncaught(): { errors: unknown[]; dispose(): void } {
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    errors,
    dispose() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

function isPeerGone(err: Error | null): boolean {
  if (err === null) return false;
  const code = String((err as Error & { code?: unknown }).code ?? '');
  return code === 'ECONNRESET' || code === 'EPIPE' || /EOF/.test(code) || /EOF/.test(err.message);
}

describe(`many connections (${testMode})`, () => {
  test('1000 concurrent connections, each echoing its own message', { timeout: 40_000 }, async () => {
    const total = 1000;
    const batch = 100; // connect in waves so the listen backlog never overflows
    const opened = new Counter('onOpen');
    const closed = new Counter('onClose');
    const server = await startServer({ onOpen: () => void opened.inc(), onClose: () => void closed.inc(), onTraffic: echo }, LOOPBACK.tcp, { numEventLoop: 2 });
    const peers: StreamPeer[] = [];
    try {
      const rng = new Random(1000);
      for (let start = 0; start < total; start += batch) {
        const wave = await Promise.all(Array.from({ length: batch }, () => StreamPeer.connect(server.addrs[0]!)));
        peers.push(...wave);
      }
      await opened.wait(total, 20_000);
      assert.equal(server.engine.countConnections(), total, 'all of them open at once');
      const messages = peers.map(() => rng.bytes(rng.int(1, 2048)));
      await Promise.all(
        peers.map(async (p, i) => {
          await p.write(messages[i]!);
          const back = await p.read(messages[i]!.length, `echo ${i}`, 20_000);
          assert.ok(back.equals(messages[i]!), `conn ${i}: echo differs (seed ${rng.seed})`);
        }),
      );
      for (const p of peers) p.end();
      await closed.wait(total, 20_000);
      assert.equal(server.engine.countConnections(), 0);
    } finally {
      for (const p of peers) p.destroy();
      await server.shutdown();
    }
  });
});

describe(`misbehaving peers (${testMode})`, () => {
  test('a peer that closes gets onClose with an error (its EOF); a local close gets null', { timeout: 20_000 }, async () => {
    const errs: Array<Error | null> = [];
    const closed = new Counter('onClose');
    const server = await startServer({ onTraffic: echo, onClose: (_c, err) => void (errs.push(err), closed.inc()) }, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('x');
      await peer.read(1);
      peer.end();
      await closed.wait(1);
      assert.ok(errs[0] instanceof Error, 'the peer\'s EOF is passed to onClose');
      assert.ok(isPeerGone(errs[0]!), `an EOF (or reset) error, got ${errs[0]!.message}`);
    } finally {
      await server.shutdown();
    }
  });

  test('a peer that resets mid-stream: onClose gets ECONNRESET (or EOF); the engine keeps serving others', { timeout: 20_000 }, async () => {
    const errs: Array<Error | null> = [];
    const closed = new Counter('onClose');
    const handler: EventHandler = {
      onTraffic: echo,
      onClose: (_c, err) => void (errs.push(err), closed.inc()),
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const other = await StreamPeer.connect(server.addrs[0]!);
      const victim = await StreamPeer.connect(server.addrs[0]!);
      await victim.write(Buffer.alloc(100_000, 1));
      await victim.read(1000);
      victim.reset(); // RST with echoes still in flight
      await closed.wait(1);
      assert.ok(errs[0] instanceof Error, `onClose got ${errs[0]}`);
      assert.ok(isPeerGone(errs[0]!), `ECONNRESET or EOF, got ${(errs[0] as Error & { code?: string }).code} ${errs[0]!.message}`);
      await other.write('still here');
      assert.equal((await other.read(10)).toString(), 'still here');
      const late = await StreamPeer.connect(server.addrs[0]!);
      await late.write('new');
      assert.equal((await late.read(3)).toString(), 'new');
      other.destroy();
      late.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('a reset while the server streams to the peer: onClose gets the error, nothing is thrown', { timeout: 20_000 }, async () => {
    const watch = watchUncaught();
    const closeErr = deferred<Error | null>();
    const handler: EventHandler = {
      onTraffic(c) {
        c.discard();
        for (let i = 0; i < 16; i++) c.write(Buffer.alloc(1024 * 1024, i));
      },
      onClose: (_c, err) => closeErr.resolve(err),
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const victim = await StreamPeer.connect(server.addrs[0]!);
      await victim.write('go');
      await victim.read(64 * 1024);
      victim.reset();
      const err = await within('onClose', 10_000, closeErr.promise);
      assert.ok(err instanceof Error && isPeerGone(err), `ECONNRESET, EPIPE or EOF, got ${err}`);
      await settle(20);
      assert.deepEqual(watch.errors, []);
    } finally {
      watch.dispose();
      await server.shutdown();
    }
  });
});

describe(`misbehaving handlers (${testMode})`, () => {
  test('a throwing onTraffic closes only its conn; onClose gets the error; logger.error is called; others keep working', { timeout: 20_000 }, async () => {
    const watch = watchUncaught();
    const boom = new Error('boom from onTraffic');
    const closeErr = deferred<Error | null>();
    const handler: EventHandler = {
      onTraffic(c) {
        const d = c.next()!;
        if (d.toString() === 'throw') throw boom;
        c.write(d);
      },
      onClose(_c, err) {
        if (err !== null && !closeErr.settled) closeErr.resolve(err);
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const good = await StreamPeer.connect(server.addrs[0]!);
      const bad = await StreamPeer.connect(server.addrs[0]!);
      await bad.write('throw');
      await bad.waitEnd();
      const err = await within('onClose of the throwing conn', 10_000, closeErr.promise);
      assert.ok(err === boom || (err as Error).cause === boom, `onClose got ${err}`);
      assert.ok(server.logger.entries.some((e) => e.level === 'error'), 'logger.error was called');
      await good.write('fine');
      assert.equal((await good.read(4)).toString(), 'fine');
      assert.equal(server.engine.countConnections(), 1);
      good.destroy();
      assert.deepEqual(watch.errors, []);
    } finally {
      watch.dispose();
      await server.shutdown();
    }
  });

  test('a throwing onOpen closes that conn with the error; a throwing onClose or onTick does not stop the engine', { timeout: 20_000 }, async () => {
    const watch = watchUncaught();
    const closeErrs: Array<Error | null> = [];
    const closed = new Counter('onClose');
    let opens = 0;
    let ticks = 0;
    const handler: EventHandler = {
      onOpen() {
        if (opens++ === 0) throw new Error('boom from onOpen');
      },
      onTraffic: echo,
      onClose(_c, err) {
        closeErrs.push(err);
        closed.inc();
        throw new Error('boom from onClose');
      },
      onTick() {
        ticks++;
        throw new Error('boom from onTick');
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp, { ticker: true });
    try {
      const first = await StreamPeer.connect(server.addrs[0]!);
      await first.waitEnd();
      await closed.wait(1);
      assert.match(String(closeErrs[0]?.message ?? closeErrs[0]?.cause), /boom from onOpen/);
      const second = await StreamPeer.connect(server.addrs[0]!);
      await second.write('ok');
      assert.equal((await second.read(2)).toString(), 'ok');
      second.end();
      await closed.wait(2);
      const third = await StreamPeer.connect(server.addrs[0]!);
      await third.write('ok3');
      assert.equal((await third.read(3)).toString(), 'ok3', 'the engine serves after onClose threw');
      third.destroy();
      assert.ok(ticks >= 1);
      const errorLines = server.logger.entries.filter((e) => e.level === 'error').length;
      assert.ok(errorLines >= 3, `every exception is logged (${errorLines})`);
      assert.deepEqual(watch.errors, []);
    } finally {
      watch.dispose();
      await server.shutdown();
    }
  });

  test('a handler returning a Promise: treated as None, with a warning; the conn stays open', { timeout: 20_000 }, async () => {
    const watch = watchUncaught();
    const handler: EventHandler = {
      async onTraffic(c: Conn) {
        echo(c); // the synchronous part runs inside the callback
        return Action.Close; // ...but the Promise is not awaited: this Close is ignored
      },
    } as unknown as EventHandler;
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('one');
      assert.equal((await peer.read(3)).toString(), 'one');
      await peer.write('two');
      assert.equal((await peer.read(3)).toString(), 'two');
      assert.equal(server.engine.countConnections(), 1);
      assert.ok(server.logger.entries.some((e) => e.level === 'warn'), 'a warning was logged');
      peer.destroy();
      assert.deepEqual(watch.errors, []);
    } finally {
      watch.dispose();
      await server.shutdown();
    }
  });

  test('a handler whose returned Promise rejects does not cause an unhandled rejection', { timeout: 20_000 }, async () => {
    const watch = watchUncaught();
    const handler = {
      async onTraffic(c: Conn) {
        echo(c);
        await null;
        throw new Error('late failure');
      },
    } as unknown as EventHandler;
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('abc');
      assert.equal((await peer.read(3)).toString(), 'abc');
      await settle(20);
      assert.deepEqual(watch.errors, []);
      peer.destroy();
    } finally {
      watch.dispose();
      await server.shutdown();
    }
  });

  test('after close: write and writev do not throw uncaught, asyncWrite rejects ERR_CONN_CLOSED, wake and close resolve quietly (TestClosedWakeUp, TestDisconnectedAsyncWrite)', { timeout: 20_000 }, async () => {
    const watch = watchUncaught();
    let conn: Conn | undefined;
    const closed = deferred();
    let trafficAfterClose = 0;
    const handler: EventHandler = {
      onTraffic(c) {
        if (closed.settled) trafficAfterClose++;
        conn = c;
        c.discard();
      },
      onClose: () => closed.resolve(),
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('hello');
      await until('onTraffic', () => conn !== undefined);
      peer.end();
      await within('onClose', 10_000, closed.promise);
      const c = conn!;
      for (const attempt of [() => c.write('late'), () => c.writev([Buffer.from('la'), Buffer.from('te')])]) {
        try {
          const n = attempt();
          assert.equal(typeof n, 'number');
        } catch (err) {
          assert.ok(err instanceof ZgnetError, `a ZgnetError if anything, got ${String(err)}`);
        }
      }
      await assert.rejects(c.asyncWrite('late'), zgnetError('ERR_CONN_CLOSED'));
      await assert.rejects(c.asyncWritev([Buffer.from('late')]), zgnetError('ERR_CONN_CLOSED'));
      await within('wake() on a closed conn', 10_000, c.wake().catch(() => {}));
      await within('close() on a closed conn', 10_000, c.close());
      await within('close() again', 10_000, c.close());
      await settle(20);
      assert.equal(trafficAfterClose, 0, 'onTraffic never runs after onClose');
      assert.deepEqual(watch.errors, []);
      await server.engine.stop();
      await assert.rejects(server.engine.stop(), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
      await within('close() after the engine stopped', 10_000, c.close());
      await assert.rejects(c.asyncWrite('x'), zgnetError('ERR_CONN_CLOSED'));
      assert.deepEqual(watch.errors, []);
    } finally {
      watch.dispose();
      await server.shutdown();
    }
  });

  test('asyncWrite repeated from outside after the peer left: the first failure is ERR_CONN_CLOSED (TestDisconnectedAsyncWrite)', { timeout: 20_000 }, async () => {
    const watch = watchUncaught();
    const failure = deferred<unknown>();
    const handler: EventHandler = {
      onTraffic(c) {
        c.next(0);
        const timer = setInterval(() => {
          c.asyncWrite('tick').catch((err: unknown) => {
            clearInterval(timer);
            if (!failure.settled) failure.resolve(err);
          });
        }, 10);
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('hello');
      peer.destroy();
      const err = await within('an asyncWrite failing', 10_000, failure.promise);
      assert.ok(err instanceof ZgnetError, String(err));
      assert.equal(err.code, 'ERR_CONN_CLOSED');
      assert.deepEqual(watch.errors, []);
    } finally {
      watch.dispose();
      await server.shutdown();
    }
  });
});
