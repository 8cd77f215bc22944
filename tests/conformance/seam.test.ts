/**
 * What both engines share through host/engine: the flush-on-close bound, the task queue's
 * bounded turns, the errors a user can act on (system errors naming the address, wrong-typed
 * arguments), and the warning for a handler callback zgnet never calls.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Action, Client, run, ZgnetError, type Conn, type Logger } from '../../host/index.js';
import { TaskQueue, TASKS_PER_TURN } from '../../host/engine/task-queue.js';
import { testMode } from '../support/mode.js';
import { StreamPeer } from '../support/clients.js';
import { echo, zgnetError } from '../support/handlers.js';
import { LOOPBACK, recordingLogger, startServer } from '../support/server.js';
import { until, within } from '../support/wait.js';

const MIB = 1024 * 1024;
/** Enough clients and bytes to still be mid-transfer when stop() runs; ZGNET_FLUSH_CLIENTS=100 for the note's figure. */
const FLUSH_CLIENTS = Number(process.env.ZGNET_FLUSH_CLIENTS ?? 16);
const FLUSH_BYTES = 8 * MIB;

/** A server that answers each client's first byte with FLUSH_BYTES, written at once (all queued). */
function bulkWriter(accepted: Map<string, number>, after: Action = Action.None) {
  const payload = Buffer.alloc(FLUSH_BYTES, 0x5a);
  return {
    onTraffic(c: Conn) {
      c.discard();
      accepted.set(c.remoteAddr, c.write(payload));
      return after;
    },
  };
}

describe(`flush on close and stop (${testMode})`, () => {
  test(`stop() delivers what write() accepted: ${FLUSH_CLIENTS} clients mid-transfer of 8 MiB`, { timeout: 60_000 }, async () => {
    const accepted = new Map<string, number>();
    const server = await startServer(bulkWriter(accepted), LOOPBACK.tcp);
    const peers: StreamPeer[] = [];
    try {
      for (let i = 0; i < FLUSH_CLIENTS; i++) peers.push(await StreamPeer.connect(server.addrs[0]!));
      for (const p of peers) await p.write('go');
      await until('every client receiving', () => peers.every((p) => p.received > 0) && accepted.size === FLUSH_CLIENTS);
      const midTransfer = peers.filter((p) => p.received < FLUSH_BYTES).length;
      const stopAt = Date.now();
      const stopped = server.engine.stop();
      await within('every stream ended', 30_000, Promise.all(peers.map((p) => p.waitEnd(30_000))));
      await stopped;
      if (process.env.ZGNET_FLUSH_CLIENTS) console.log(`stop() to the last byte: ${Date.now() - stopAt} ms`);
      const short = peers.filter((p) => p.received !== FLUSH_BYTES).length;
      const received = peers.reduce((sum, p) => sum + p.received, 0);
      assert.equal(midTransfer > 0, true, 'stop() ran while transfers were still under way');
      assert.equal(
        short, 0,
        `${short} of ${FLUSH_CLIENTS} clients short: ${received} of ${FLUSH_CLIENTS * FLUSH_BYTES} bytes received (${midTransfer} mid-transfer at stop)`,
      );
      for (const n of accepted.values()) assert.equal(n, FLUSH_BYTES);
    } finally {
      for (const p of peers) p.destroy();
      await server.shutdown();
    }
  });

  test('Action.Close right after a large write delivers it all, then FIN', { timeout: 30_000 }, async () => {
    const accepted = new Map<string, number>();
    const server = await startServer(bulkWriter(accepted, Action.Close), LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('go');
      const all = await peer.readToEnd(20_000);
      assert.equal(all.length, FLUSH_BYTES);
      assert.equal(peer.error, null);
    } finally {
      await server.shutdown();
    }
  });
});

describe(`errors a user can act on (${testMode})`, () => {
  test('a bind failure is a ZgnetError with Node\'s code/errno/syscall and the address in its message', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await assert.rejects(startServer({}, `tcp://127.0.0.1:${port}`), (err: unknown) => {
        assert.ok(err instanceof ZgnetError, String(err));
        const e = err as ZgnetError & { errno: number; syscall: string; address: string; port: number };
        assert.equal(e.code, 'EADDRINUSE');
        assert.equal(e.syscall, 'bind');
        assert.equal(typeof e.errno, 'number');
        assert.equal(e.message, `bind EADDRINUSE 127.0.0.1:${port}`);
        assert.equal(e.port, port);
        return true;
      });
    } finally {
      blocker.close();
    }
  });

  test('a refused dial is a ZgnetError ECONNREFUSED naming the address', { timeout: 20_000 }, async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new Client({}, { mode: testMode, logger: recordingLogger() });
    await client.start();
    try {
      await assert.rejects(client.dial(`tcp://127.0.0.1:${port}`), (err: unknown) => {
        assert.ok(err instanceof ZgnetError, String(err));
        assert.equal((err as ZgnetError).code, 'ECONNREFUSED');
        assert.equal(err.message, `connect ECONNREFUSED 127.0.0.1:${port}`);
        return true;
      });
    } finally {
      await client.stop();
    }
  });

  test('wrong-typed arguments to Conn methods: ERR_INVALID_ARGUMENT, the connection unharmed', { timeout: 20_000 }, async () => {
    const seen: string[] = [];
    const bad: [string, (c: Conn) => unknown][] = [
      ['write(null)', (c) => c.write(null as unknown as string)],
      ['write(42)', (c) => c.write(42 as unknown as string)],
      ['write({})', (c) => c.write({} as unknown as string)],
      ['writev(null)', (c) => c.writev(null as unknown as Uint8Array[])],
      ['writev([1])', (c) => c.writev([1] as unknown as Uint8Array[])],
      ['next("x")', (c) => c.next('x' as unknown as number)],
      ['next(NaN)', (c) => c.next(NaN)],
      ['peek({})', (c) => c.peek({} as unknown as number)],
      ['discard("all")', (c) => c.discard('all' as unknown as number)],
      ['read(null)', (c) => c.read(null as unknown as Uint8Array)],
      ['setLinger("1")', (c) => c.setLinger('1' as unknown as number)],
    ];
    const server = await startServer(
      {
        onTraffic(c) {
          for (const [name, call] of bad) {
            try {
              call(c);
              seen.push(`${name}: no error`);
            } catch (err) {
              seen.push(err instanceof ZgnetError ? `${name}: ${err.code}` : `${name}: ${String(err)}`);
            }
          }
          echo(c);
        },
      },
      LOOPBACK.tcp,
    );
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('ping');
      assert.equal((await peer.read(4)).toString(), 'ping', 'the connection still echoes');
      assert.deepEqual(
        seen,
        bad.map(([name]) => `${name}: ERR_INVALID_ARGUMENT`),
      );
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('asyncWrite(undefined) rejects ERR_INVALID_ARGUMENT', { timeout: 20_000 }, async () => {
    let result: Promise<void> | undefined;
    const server = await startServer(
      {
        onTraffic(c) {
          result = c.asyncWrite(undefined as unknown as string);
          echo(c);
        },
      },
      LOOPBACK.tcp,
    );
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('x');
      await peer.read(1);
      await assert.rejects(result!, zgnetError('ERR_INVALID_ARGUMENT'));
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('a handler callback zgnet never calls (onData) is warned about, naming the known ones', async () => {
    const logger = recordingLogger();
    // onBoot returning Shutdown: run() resolves at once, after the engine was made.
    await run({ onBoot: () => Action.Shutdown, onData() {}, onTraffic: echo } as never, LOOPBACK.tcp, { mode: testMode, logger });
    const warnings = logger.entries.filter((e) => e.level === 'warn' && /never called/.test(e.message));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /onData/);
    assert.match(warnings[0]!.message, /onTraffic/);
  });
});

describe('task queue', () => {
  const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

  test(`runs tasks in order, at most ${TASKS_PER_TURN} per turn, with I/O turns between`, async () => {
    const turns: number[] = [];
    let ran = 0;
    const queue = new TaskQueue((turn) => {
      const before = ran;
      turn();
      turns.push(ran - before);
    }, quiet);
    const order: number[] = [];
    const total = TASKS_PER_TURN * 2 + 10;
    for (let i = 0; i < total; i++) {
      queue.enqueue(() => {
        order.push(i);
        ran++;
      });
    }
    let ioRan = false;
    setImmediate(() => (ioRan = true));
    await until('all tasks ran', () => ran === total, 5_000);
    assert.deepEqual(order, Array.from({ length: total }, (_, i) => i));
    assert.deepEqual(turns, [TASKS_PER_TURN, TASKS_PER_TURN, 10]);
    assert.equal(ioRan, true);
  });

  test('a task queued by a task waits for the next turn; a throwing task is logged, the rest run', async () => {
    const logger = recordingLogger();
    const queue = new TaskQueue((turn) => turn(), logger);
    const log: string[] = [];
    queue.enqueue(() => {
      log.push('a');
      queue.enqueue(() => log.push('c'));
    });
    queue.enqueue(() => {
      throw new Error('boom');
    });
    queue.enqueue(() => log.push('b'));
    await until('three tasks', () => log.length === 3, 5_000);
    assert.deepEqual(log, ['a', 'b', 'c']);
    assert.equal(logger.entries.filter((e) => e.level === 'error').length, 1);
  });
});
