/**
 * Actions and the engine's lifecycle (gnet's behaviour): Close and Shutdown returned
 * from each callback, writes from onOpen going out before its action, close() and stop() from
 * outside, the order of callbacks during shutdown, the ticker, and AbortSignal.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { Action, type Conn, type EventHandler } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { DatagramPeer, StreamPeer, endpoint } from '../support/clients.js';
import { echo, zgnetError } from '../support/handlers.js';
import { LOOPBACK, startServer } from '../support/server.js';
import { Counter, deferred, settle, until, within } from '../support/wait.js';

/** What a TCP connect to `protoAddr` meets: 'connected', or the error's code. */
function connectOutcome(protoAddr: string): Promise<string> {
  const ep = endpoint(protoAddr);
  return new Promise<string>((resolve) => {
    const s = net.connect({ host: ep.host, port: ep.port });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
  });
}

describe(`actions (${testMode})`, () => {
  test('Close returned from onBoot is None: the engine serves', { timeout: 20_000 }, async () => {
    const server = await startServer({ onBoot: () => Action.Close, onTraffic: echo }, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('ping');
      assert.equal((await peer.read(4)).toString(), 'ping');
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('Shutdown returned from onBoot: run() resolves, listeners close, no other callback runs', { timeout: 20_000 }, async () => {
    const calls: string[] = [];
    const server = await startServer(
      {
        onBoot: () => Action.Shutdown,
        onOpen: () => void calls.push('onOpen'),
        onTraffic: () => void calls.push('onTraffic'),
        onClose: () => void calls.push('onClose'),
        onTick: () => void calls.push('onTick'),
        onShutdown: () => void calls.push('onShutdown'),
      },
      LOOPBACK.tcp,
      { ticker: true },
    );
    await within('run() after Shutdown from onBoot', 10_000, server.done);
    assert.equal(await connectOutcome(server.addrs[0]!), 'ECONNREFUSED', 'the listener is closed');
    await settle(50);
    assert.deepEqual(calls, []);
  });

  for (const numEventLoop of [1, 2]) {
    test(`engine.stop() inside onBoot (${numEventLoop} loop${numEventLoop > 1 ? 's' : ''}): a clean stop, onShutdown runs, stop() and run() resolve`, { timeout: 20_000 }, async () => {
      const unhandled: unknown[] = [];
      const note = (reason: unknown) => void unhandled.push(reason);
      process.on('unhandledRejection', note);
      const calls: string[] = [];
      let stopped: Promise<void> | undefined;
      let server: Awaited<ReturnType<typeof startServer>> | undefined;
      try {
        server = await startServer(
          {
            onBoot(engine) {
              stopped = engine.stop();
            },
            onOpen: () => void calls.push('onOpen'),
            onTick: () => void calls.push('onTick'),
            onShutdown: () => void calls.push('onShutdown'),
          },
          LOOPBACK.tcp,
          { ticker: true, numEventLoop },
        );
        await within('run() after stop() in onBoot', 10_000, server.done);
        assert.ok(stopped, 'onBoot ran');
        await within('the promise stop() returned', 1_000, stopped);
        assert.equal(await connectOutcome(server.addrs[0]!), 'ECONNREFUSED', 'the listener is closed');
        await settle(50);
        assert.deepEqual(calls, ['onShutdown']);
        assert.deepEqual(unhandled, [], 'no unhandled rejection');
      } finally {
        process.off('unhandledRejection', note);
        await server?.shutdown();
      }
    });
  }

  for (const size of [9, 16 * 1024 * 1024]) {
    test(`onOpen writes ${size} bytes then returns Close: the peer gets them all, then the end`, { timeout: 20_000 }, async () => {
      const out = Buffer.alloc(size, 0x61);
      out.write('andypan\r\n');
      const closed = deferred<Error | null>();
      const handler: EventHandler = {
        onOpen(c) {
          c.write(out);
          return Action.Close;
        },
        onClose: (_c, err) => closed.resolve(err),
      };
      const server = await startServer(handler, LOOPBACK.tcp);
      try {
        const peer = await StreamPeer.connect(server.addrs[0]!);
        const got = await peer.readToEnd();
        assert.equal(peer.error, null);
        assert.equal(got.length, size);
        assert.ok(got.equals(out));
        assert.equal(await within('onClose', 10_000, closed.promise), null);
        assert.equal(server.engine.countConnections(), 0);
      } finally {
        await server.shutdown();
      }
    });
  }

  test('onOpen writes then returns Shutdown: the peer gets the greeting and run() resolves', { timeout: 20_000 }, async () => {
    const calls: string[] = [];
    const handler: EventHandler = {
      onOpen(c) {
        c.write('andypan\r\n');
        return Action.Shutdown;
      },
      onClose: (_c, err) => void calls.push(`onClose ${err}`),
      onShutdown: () => void calls.push('onShutdown'),
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      assert.equal((await peer.readToEnd()).toString(), 'andypan\r\n');
      await within('run() after Shutdown from onOpen', 10_000, server.done);
      assert.deepEqual(calls, ['onClose null', 'onShutdown']);
    } finally {
      await server.shutdown();
    }
  });

  test('onTraffic echoes then returns Close: the peer gets the echo; Shutdown from onClose stops the engine (TestCloseActionError)', { timeout: 20_000 }, async () => {
    const calls: string[] = [];
    const handler: EventHandler = {
      onTraffic(c) {
        const target = new Uint8Array(c.inboundBuffered());
        c.read(target);
        c.write(target);
        return Action.Close;
      },
      onClose(_c, err) {
        calls.push(`onClose ${err}`);
        return Action.Shutdown;
      },
      onShutdown: () => void calls.push('onShutdown'),
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('Hello World!');
      assert.equal((await peer.readToEnd()).toString(), 'Hello World!');
      await within('run() after Shutdown from onClose', 10_000, server.done);
      assert.deepEqual(calls, ['onClose null', 'onShutdown']);
    } finally {
      await server.shutdown();
    }
  });

  test('onTraffic echoes with peek, write, discard then returns Shutdown: the peer gets the echo (TestShutdownActionError)', { timeout: 20_000 }, async () => {
    const handler: EventHandler = {
      onTraffic(c) {
        const data = c.peek(-1)!;
        c.write(data);
        c.discard(-1);
        return Action.Shutdown;
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('Hello World!');
      assert.equal((await peer.readToEnd()).toString(), 'Hello World!');
      await within('run() after Shutdown from onTraffic', 10_000, server.done);
    } finally {
      await server.shutdown();
    }
  });

  test('udp: onTraffic echoes then returns Shutdown: the peer gets the echo and run() resolves (TestUDPShutdown)', { timeout: 20_000 }, async () => {
    const handler: EventHandler = {
      onTraffic(c) {
        c.write(c.next()!);
        return Action.Shutdown;
      },
    };
    const server = await startServer(handler, LOOPBACK.udp);
    const peer = await DatagramPeer.open(server.addrs[0]!);
    try {
      await peer.send('Hello World!');
      assert.equal((await peer.receive()).toString(), 'Hello World!');
      await within('run() after Shutdown from onTraffic', 10_000, server.done);
    } finally {
      peer.close();
      await server.shutdown();
    }
  });

  test('any other returned value (-1, 7, a string, null) behaves as None (TestWakeConn)', { timeout: 20_000 }, async () => {
    const odd: unknown[] = [-1, 7, 'close', null, 1.5];
    let i = 0;
    const handler: EventHandler = {
      onOpen: () => odd[0] as Action,
      onTraffic(c) {
        echo(c);
        return odd[i++ % odd.length] as Action;
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      for (let k = 0; k < odd.length; k++) {
        await peer.write(`m${k}`);
        assert.equal((await peer.read(2)).toString(), `m${k}`);
      }
      assert.equal(server.engine.countConnections(), 1);
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });
});

describe(`closing and stopping from outside (${testMode})`, () => {
  test('c.close() from outside resolves after onClose ran; closing again resolves too', { timeout: 20_000 }, async () => {
    let conn: Conn | undefined;
    const opened = deferred();
    const closes: Array<Error | null> = [];
    const handler: EventHandler = {
      onOpen(c) {
        conn = c;
        opened.resolve();
      },
      onClose: (_c, err) => void closes.push(err),
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await within('onOpen', 10_000, opened.promise);
      const first = conn!.close();
      const second = conn!.close();
      await within('close()', 10_000, first);
      assert.deepEqual(closes, [null], 'close() resolved after onClose(c, null)');
      await within('the second close()', 10_000, second);
      await within('a third close() after the fact', 10_000, conn!.close());
      assert.deepEqual(closes, [null], 'onClose ran once');
      await peer.waitEnd();
      assert.equal(server.engine.countConnections(), 0);
    } finally {
      await server.shutdown();
    }
  });

  test('c.close() called inside onTraffic closes after the callback returns', { timeout: 20_000 }, async () => {
    const order: string[] = [];
    const handler: EventHandler = {
      onTraffic(c) {
        void c.close().then(() => order.push('close resolved'));
        c.write('bye');
        order.push('onTraffic returned');
      },
      onClose: () => void order.push('onClose'),
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('x');
      assert.equal((await peer.readToEnd()).toString(), 'bye');
      await until('close() resolving', () => order.length === 3);
      assert.deepEqual(order, ['onTraffic returned', 'onClose', 'close resolved']);
    } finally {
      await server.shutdown();
    }
  });

  test('a Conn kept after its onClose stays closed: writes to it throw ERR_CONN_CLOSED and never reach the connection that comes next', { timeout: 20_000 }, async () => {
    // A proxy or a pub/sub server keeps Conn references; one may outlive its connection. The
    // next connection (in native mode it takes the freed slot) must not receive its writes.
    let first: Conn | undefined;
    const firstClosed = deferred();
    const secondOpened = deferred<Conn>();
    const server = await startServer(
      {
        onOpen(c) {
          if (first === undefined) first = c;
          else secondOpened.resolve(c);
        },
        onTraffic: echo,
        onClose(c) {
          if (c === first) firstClosed.resolve();
        },
      },
      LOOPBACK.tcp,
    );
    try {
      const a = await StreamPeer.connect(server.addrs[0]!);
      const firstPort = (a.socket.address() as net.AddressInfo).port;
      a.destroy();
      await within('the first onClose', 10_000, firstClosed.promise);
      const b = await StreamPeer.connect(server.addrs[0]!);
      const second = await within('the second onOpen', 10_000, secondOpened.promise);
      assert.notEqual(second, first, 'a new connection is a new Conn');
      assert.throws(() => first!.write('stale'), zgnetError('ERR_CONN_CLOSED'));
      assert.throws(() => first!.writev([Buffer.from('stale')]), zgnetError('ERR_CONN_CLOSED'));
      await assert.rejects(first!.asyncWrite('stale'), zgnetError('ERR_CONN_CLOSED'));
      assert.equal(first!.remotePort, firstPort, 'its address is still the first peer\'s');
      await b.write('fresh');
      assert.equal((await b.read(5)).toString(), 'fresh');
      await settle(50);
      assert.equal(b.buffered, 0, 'nothing else reached the second connection');
      b.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('engine.stop(): onShutdown, then onClose(null) for every conn, then run() resolves; a second stop() rejects ERR_ENGINE_IN_SHUTDOWN', { timeout: 20_000 }, async () => {
    const events: string[] = [];
    const opened = new Counter('onOpen');
    const handler: EventHandler = {
      onOpen: () => void opened.inc(),
      onClose: (_c, err) => void events.push(`onClose ${err}`),
      onShutdown: () => void events.push('onShutdown'),
    };
    const server = await startServer(handler, LOOPBACK.tcp, { numEventLoop: 2 });
    try {
      const peers = await Promise.all([0, 1, 2].map(() => StreamPeer.connect(server.addrs[0]!)));
      await opened.wait(3);
      void server.done.then(() => events.push('run resolved'));
      await within('engine.stop()', 10_000, server.engine.stop());
      await within('run()', 10_000, server.done);
      await settle(0);
      assert.deepEqual(events, ['onShutdown', 'onClose null', 'onClose null', 'onClose null', 'run resolved']);
      await Promise.all(peers.map((p) => p.waitEnd()));
      await assert.rejects(server.engine.stop(), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
    } finally {
      await server.shutdown();
    }
  });

  test('engine.stop() twice at once: both resolve once the engine is down (gnet: Stop joins a shutdown under way)', { timeout: 20_000 }, async () => {
    let shutdowns = 0;
    const server = await startServer({ onShutdown: () => void shutdowns++ }, LOOPBACK.tcp);
    try {
      await within('two stop() calls', 10_000, Promise.all([server.engine.stop(), server.engine.stop()]));
      await within('run()', 10_000, server.done);
      assert.equal(shutdowns, 1, 'onShutdown ran once');
      await assert.rejects(server.engine.stop(), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
    } finally {
      await server.shutdown();
    }
  });

  test('Shutdown from onTraffic: that loop closes its conns, then onShutdown, then the other loops (gnet: shutdown order)', { timeout: 20_000 }, async () => {
    const events: string[] = [];
    const opened = new Counter('onOpen');
    const handler: EventHandler = {
      onOpen(c) {
        c.context = `conn${opened.value}@loop${c.eventLoop.index}`;
        opened.inc();
      },
      onTraffic: () => Action.Shutdown,
      onClose: (c, err) => void events.push(`onClose ${String(c.context)} ${err}`),
      onShutdown: () => void events.push('onShutdown'),
    };
    const server = await startServer(handler, LOOPBACK.tcp, { numEventLoop: 2, lb: 'round-robin' });
    try {
      const a = await StreamPeer.connect(server.addrs[0]!);
      await opened.wait(1);
      const b = await StreamPeer.connect(server.addrs[0]!);
      await opened.wait(2);
      await b.write('stop');
      await within('run()', 10_000, server.done);
      assert.equal(events.length, 3);
      assert.match(events[0]!, /^onClose conn1@loop\d null$/, 'the conn whose loop returned Shutdown closes first');
      assert.equal(events[1], 'onShutdown');
      assert.match(events[2]!, /^onClose conn0@loop\d null$/);
      assert.notEqual(events[0]!.match(/loop(\d)/)![1], events[2]!.match(/loop(\d)/)![1], 'round-robin put them on two loops');
      await Promise.all([a.waitEnd(), b.waitEnd()]);
    } finally {
      await server.shutdown();
    }
  });

  test('tasks still queued when the engine stops settle: wake() resolves, execute() and later writes settle too', { timeout: 20_000 }, async () => {
    // A wake() that wakes itself again always has a task queued; so does the loop when stop()
    // frees the engine. Each must settle, and the queue must not keep the process spinning.
    let lastWake: Promise<void> = Promise.resolve();
    let lastWrite: Promise<void> = Promise.resolve();
    let lastExecute: Promise<void> = Promise.resolve();
    const traffic = new Counter('onTraffic');
    const server = await startServer({
      onTraffic(c) {
        traffic.inc();
        lastWake = c.wake();
        lastWrite = c.asyncWrite(Buffer.from('x'));
        lastExecute = c.eventLoop.execute(() => {});
      },
    }, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('go');
      await traffic.wait(20);
      await within('engine.stop()', 10_000, server.engine.stop());
      await within('run()', 10_000, server.done);
      await within('the last wake()', 5_000, lastWake);
      await within('the last asyncWrite()', 5_000, lastWrite.catch(() => {}));
      await within('the last execute()', 5_000, lastExecute.catch(() => {}));
      const calls = traffic.value;
      await settle(50);
      assert.equal(traffic.value, calls, 'no onTraffic after the engine stopped');
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('aborting the signal stops the engine: onShutdown, every onClose, run() resolves', { timeout: 20_000 }, async () => {
    const controller = new AbortController();
    const events: string[] = [];
    const opened = deferred();
    const handler: EventHandler = {
      onOpen: () => opened.resolve(),
      onClose: (_c, err) => void events.push(`onClose ${err}`),
      onShutdown: () => void events.push('onShutdown'),
    };
    const server = await startServer(handler, LOOPBACK.tcp, { signal: controller.signal });
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await within('onOpen', 10_000, opened.promise);
      controller.abort();
      await within('run() after abort', 10_000, server.done);
      assert.deepEqual(events, ['onShutdown', 'onClose null']);
      await peer.waitEnd();
    } finally {
      await server.shutdown();
    }
  });
});

describe(`the flush bound on close (${testMode})`, () => {
  test('32 MiB to a client that half-closed and reads 64 KiB every 20 ms: all of it arrives, though it takes longer than the bound', { timeout: 60_000 }, async () => {
    // The close after the peer's FIN flushes for as long as the peer keeps taking bytes; only
    // FLUSH_ON_CLOSE_MS without progress cuts it. Here the flush takes about 10 s (> 5 s).
    const answer = crypto.randomBytes(32 * 1024 * 1024);
    const server = await startServer({
      onTraffic(c) {
        if (c.next() !== null) c.write(answer);
      },
    }, LOOPBACK.tcp);
    try {
      const port = Number(/:(\d+)$/.exec(server.addrs[0]!)![1]);
      const got = await within('the slow reader', 50_000, new Promise<Buffer>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => s.end('go'));
        const chunks: Buffer[] = [];
        s.pause();
        const timer = setInterval(() => {
          let taken = 0;
          for (let chunk: Buffer | null; taken < 64 * 1024 && (chunk = s.read() as Buffer | null) !== null;) {
            chunks.push(chunk);
            taken += chunk.length;
          }
        }, 20);
        s.on('error', (err) => (clearInterval(timer), reject(err)));
        s.on('end', () => (clearInterval(timer), s.destroy(), resolve(Buffer.concat(chunks))));
      }));
      assert.equal(got.length, answer.length, `${got.length} of ${answer.length} bytes`);
      assert.ok(got.equals(answer), 'the same bytes, in order');
    } finally {
      await server.shutdown();
    }
  });
});

describe(`ticker (${testMode})`, () => {
  test('the first tick comes right after boot, not after a period; Shutdown from onTick resolves run() (TestTick)', { timeout: 20_000 }, async () => {
    const events: string[] = [];
    let ticks = 0;
    // A tick held back by the default period (1000 ms) would come after this timer.
    let defaultPeriodElapsed = false;
    const handler: EventHandler = {
      onBoot() {
        events.push('onBoot');
        setTimeout(() => (defaultPeriodElapsed = true), 1000).unref();
      },
      onTick() {
        if (ticks === 0) events.push(defaultPeriodElapsed ? 'late first tick' : 'first tick');
        ticks++;
        if (ticks === 25) return { delayMs: 10, action: Action.Shutdown };
        return { delayMs: 10 };
      },
      onShutdown: () => void events.push('onShutdown'),
    };
    const server = await startServer(handler, LOOPBACK.tcp, { ticker: true });
    try {
      await within('run() after Shutdown from onTick', 15_000, server.done);
      assert.deepEqual(events, ['onBoot', 'first tick', 'onShutdown']);
      assert.ok(ticks >= 25 && ticks <= 26, `ticks: ${ticks}`);
      const after = ticks;
      await settle(50);
      assert.equal(ticks, after, 'no tick after run() resolved');
    } finally {
      await server.shutdown();
    }
  });

  test('delayMs is honoured between ticks; delayMs 0 never re-enters onTick synchronously', { timeout: 20_000 }, async () => {
    const stamps: number[] = [];
    const delays = [0, 0, 60, 120, 0, 80, 0];
    let inTick = false;
    let reentered = false;
    const finished = deferred();
    const handler: EventHandler = {
      onTick() {
        if (inTick) reentered = true;
        inTick = true;
        try {
          stamps.push(performance.now());
          const i = stamps.length - 1;
          if (i === delays.length) {
            finished.resolve();
            return { delayMs: 60_000 };
          }
          return { delayMs: delays[i]! };
        } finally {
          inTick = false;
        }
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp, { ticker: true });
    try {
      await within('the ticks', 15_000, finished.promise);
      assert.equal(reentered, false);
      delays.forEach((d, i) => {
        const gap = stamps[i + 1]! - stamps[i]!;
        // A lower bound only, with slack: Node starts a timer from the loop's cached clock, which
        // can lag performance.now() by the time the current turn has run. Ignoring the delay
        // would give gaps near 0.
        assert.ok(gap >= d * 0.85 - 1, `tick ${i + 1} came ${gap.toFixed(1)} ms after tick ${i}, asked for ${d}`);
      });
    } finally {
      await server.shutdown();
    }
  });

  test('onTick returning nothing waits the default 1000 ms; Close from onTick is None', { timeout: 20_000 }, async () => {
    const stamps: number[] = [];
    const third = deferred();
    let opened: Conn | undefined;
    const handler: EventHandler = {
      onOpen: (c) => void (opened = c),
      onTraffic: echo,
      onTick() {
        stamps.push(performance.now());
        if (stamps.length === 1) return undefined;
        if (stamps.length === 2) return { delayMs: 10, action: Action.Close };
        third.resolve();
        return { delayMs: 60_000 };
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp, { ticker: true });
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await within('three ticks', 10_000, third.promise);
      assert.ok(stamps[1]! - stamps[0]! >= 850, `second tick after ${(stamps[1]! - stamps[0]!).toFixed(1)} ms`);
      await peer.write('still open');
      assert.equal((await peer.read(10)).toString(), 'still open', 'Close from onTick closed nothing');
      assert.ok(opened);
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('Shutdown from onTick: onShutdown, then onClose(null) for each open conn, then run() resolves', { timeout: 20_000 }, async () => {
    const events: string[] = [];
    const opened = new Counter('onOpen');
    let stopNow = false;
    const handler: EventHandler = {
      onOpen: () => void opened.inc(),
      onClose: (_c, err) => void events.push(`onClose ${err}`),
      onShutdown: () => void events.push('onShutdown'),
      onTick: () => ({ delayMs: 10, action: stopNow ? Action.Shutdown : Action.None }),
    };
    const server = await startServer(handler, LOOPBACK.tcp, { ticker: true });
    try {
      const peers = await Promise.all([0, 1].map(() => StreamPeer.connect(server.addrs[0]!)));
      await opened.wait(2);
      assert.equal(server.engine.countConnections(), 2);
      stopNow = true;
      await within('run() after Shutdown from onTick', 10_000, server.done);
      assert.deepEqual(events, ['onShutdown', 'onClose null', 'onClose null']);
      await Promise.all(peers.map((p) => p.waitEnd()));
    } finally {
      await server.shutdown();
    }
  });
});
