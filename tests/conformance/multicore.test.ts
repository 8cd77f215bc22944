/**
 * Handler modules and several cores (issue 12). A handler module's loops run where the mode
 * puts them: wasm mode runs each loop in a worker process of its own (the main process accepts
 * and passes sockets), native mode on a worker thread of its own (the Zig engine hands accepted
 * connections to the loop's thread), so each `who` answer names a distinct place (pid.threadId)
 * per loop, never the test's own. Everything else — placement by every `lb` policy, reuse-port,
 * handlerData in every instance, onBoot/onShutdown once on the main thread, Shutdown from a
 * connection's loop, stop from the main thread, a throwing handler, modules that cannot be used,
 * a worker that dies, fds and child processes back to their baseline — is asserted in both modes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run, type Engine, type LoadBalancing, type Options } from '../../host/index.js';
import { BOOT_HOOK, PLACE, type MulticoreData } from '../fixtures/multicore-handler.js';
import { testMode } from '../support/mode.js';
import { StreamPeer, hostPort } from '../support/clients.js';
import { crc32 } from '../support/crc32.js';
import { zgnetError } from '../support/handlers.js';
import { recordingLogger, removePath, unixPath } from '../support/server.js';
import { until, within } from '../support/wait.js';

const fixture = (name: string) => new URL(`../fixtures/${name}.js`, import.meta.url);
const HANDLER = fixture('multicore-handler');
/** Where the test itself runs: onBoot and onShutdown run here, no loop does. */
const MAIN = PLACE;

const logs: string[] = [];
after(() => logs.forEach((f) => fs.rmSync(f, { force: true })));

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** This process's children still alive (worker processes left behind). */
function children(): number[] {
  const mine: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === process.pid && fields[0] !== 'Z') mine.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return mine;
}

/** TCP sockets listening on `port` in this network namespace (/proc/net/tcp, state 0A). */
function listeningSockets(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A') count++;
    }
  }
  return count;
}

interface Started {
  engine: Engine;
  done: Promise<void>;
  log: string;
  events(): Array<{ event: string; place: string }>;
}

async function start(loops: number, options: Options = {}, tag = 'data'): Promise<Started> {
  const log = path.join(os.tmpdir(), `zgnet-multicore-${process.pid}-${logs.length}.log`);
  logs.push(log);
  fs.writeFileSync(log, '');
  const hooks = globalThis as Record<symbol, unknown>;
  const booted = new Promise<Engine>((resolve) => (hooks[BOOT_HOOK] = resolve));
  const data: MulticoreData = { log, tag };
  const done = run(HANDLER, 'tcp://127.0.0.1:0', { mode: testMode, numEventLoop: loops, handlerData: data, logger: recordingLogger(), ...options });
  done.catch(() => {});
  const engine = await within('boot', 20_000, Promise.race([booted, done.then(() => Promise.reject(new Error('run() resolved before boot')))]));
  const events = () =>
    fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => ({ event: l.split(' ')[0]!, place: l.split(' ')[1]! }));
  return { engine, done, log, events };
}

async function readLine(peer: StreamPeer): Promise<string> {
  const chunks: Buffer[] = [];
  for (;;) {
    const byte = await peer.read(1);
    if (byte[0] === 0x0a) return Buffer.concat(chunks).toString();
    chunks.push(byte);
  }
}

async function who(peer: StreamPeer): Promise<{ place: string; loop: number; tag: string; fromFunction: string }> {
  await peer.write('who\n');
  const [place, loop, tag, fromFunction] = (await readLine(peer)).split(' ');
  return { place: place!, loop: Number(loop), tag: tag!, fromFunction: fromFunction! };
}

async function stopped(s: Started, peers: StreamPeer[]): Promise<void> {
  for (const p of peers) p.destroy();
  await s.engine.stop().catch(() => {});
  await within('run() settling', 20_000, s.done.catch(() => {}));
}

function expectedLoop(lb: LoadBalancing, i: number, loops: number, peer: StreamPeer): number {
  if (lb !== 'source-addr-hash') return i % loops; // least-connections: all stay open, so it also takes them in turn
  return crc32(hostPort(peer.socket.localAddress!, peer.socket.localPort!)) % loops;
}

describe(`handler modules (${testMode})`, () => {
  test('a plain object with several loops logs once how to use several cores', { timeout: 20_000 }, async () => {
    const loggers = [recordingLogger(), recordingLogger()];
    for (const logger of loggers) {
      const done = run({ onBoot: () => 2 }, 'tcp://127.0.0.1:0', { mode: testMode, numEventLoop: 2, logger });
      await within('run() after onBoot Shutdown', 10_000, done);
    }
    const hints = loggers.map((l) => l.entries.filter((e) => e.level === 'info' && /handler module/.test(e.message)).length);
    assert.deepEqual(hints, [1, 0]);
  });

  test('engine.stats() on the main thread adds up the loops on threads or processes', { timeout: 30_000 }, async () => {
    const s = await start(2, { lb: 'round-robin' });
    const peers: StreamPeer[] = [];
    try {
      const a = await StreamPeer.connect(s.engine.addrs[0]!);
      peers.push(a);
      await a.write('hello\n');
      assert.equal((await a.read(6)).toString(), 'hello\n');
      const b = await StreamPeer.connect(s.engine.addrs[0]!);
      peers.push(b);
      await b.write('big 1000\n');
      await b.read(1000);
      const open = () => {
        const st = s.engine.stats();
        return st.connections === 2 && st.accepted === 2 && st.bytesRead === 15 && st.loops.every((l) => l.connections === 1);
      };
      await until('both loops counted, bytes read included', open);
      a.destroy();
      b.destroy();
      // Bytes written by a connection still open on another thread count once it closes.
      await until('both closes and every byte written counted', () => {
        const st = s.engine.stats();
        return st.closed === 2 && st.connections === 0 && st.bytesWritten === 1006;
      });
      const loops = [...s.engine.stats().loops].sort((x, y) => x.bytesRead - y.bytesRead);
      assert.deepEqual(loops, [
        { connections: 0, bytesRead: 6, bytesWritten: 6 },
        { connections: 0, bytesRead: 9, bytesWritten: 1000 },
      ]);
    } finally {
      await stopped(s, peers);
    }
    const after = s.engine.stats();
    assert.deepEqual({ accepted: after.accepted, closed: after.closed, bytesRead: after.bytesRead, bytesWritten: after.bytesWritten }, {
      accepted: 2, closed: 2, bytesRead: 15, bytesWritten: 1006,
    });
  });

  for (const loops of [2, 4]) {
    for (const lb of ['round-robin', 'least-connections', 'source-addr-hash'] as const) {
      test(`${loops} loops, ${lb}: placement, places, handlerData, countConnections`, { timeout: 60_000 }, async () => {
        const fds = openFds();
        const s = await start(loops, { lb }, `tag-${loops}`);
        const peers: StreamPeer[] = [];
        try {
          const byLoop = new Map<number, string>();
          for (let i = 0; i < 2 * loops; i++) {
            const peer = await StreamPeer.connect(s.engine.addrs[0]!);
            peers.push(peer);
            const w = await who(peer);
            assert.equal(w.loop, expectedLoop(lb, i, loops, peer), `conn ${i}`);
            assert.equal(w.tag, `tag-${loops}`, 'the constructor got handlerData');
            assert.equal(w.fromFunction, `tag-${loops}`, 'handlerData() returns it');
            if (!byLoop.has(w.loop)) byLoop.set(w.loop, w.place);
            assert.equal(byLoop.get(w.loop), w.place, `loop ${w.loop} is one process or thread`);
          }
          const places = new Set(byLoop.values());
          assert.equal(places.size, byLoop.size, 'one process or thread per loop');
          assert.ok(!places.has(MAIN), 'no loop serves on the main thread');
          await until('every worker counted', () => s.engine.countConnections() === 2 * loops);
        } finally {
          await stopped(s, peers);
        }
        const events = s.events();
        assert.deepEqual(events.filter((e) => e.event === 'boot').map((e) => e.place), [MAIN], 'onBoot once, main thread');
        assert.deepEqual(events.filter((e) => e.event === 'shutdown').map((e) => e.place), [MAIN], 'onShutdown once, main thread');
        assert.equal(events.filter((e) => e.event === 'close').length, 2 * loops, 'every onClose ran');
        await until('no worker process left', () => children().length === 0);
        await until(`fds back to ${fds}`, () => openFds() <= fds);
      });
    }
  }

  test('reuse-port: every loop accepts on a listener of its own, each connection served off the main thread', { timeout: 60_000 }, async () => {
    const loops = 2;
    const s = await start(loops, { reusePort: true });
    const peers: StreamPeer[] = [];
    try {
      const port = Number(s.engine.addrs[0]!.split(':').pop());
      // Native mode opens one SO_REUSEPORT listener per loop; wasm mode (Node 20 has no reusePort) accepts once, here.
      assert.equal(listeningSockets(port), testMode === 'native' ? loops : 1);
      const placeOf = new Map<number, string>();
      for (let i = 0; i < 8; i++) {
        const peer = await StreamPeer.connect(s.engine.addrs[0]!);
        peers.push(peer);
        const w = await who(peer);
        assert.ok(w.loop >= 0 && w.loop < loops);
        assert.notEqual(w.place, MAIN);
        if (!placeOf.has(w.loop)) placeOf.set(w.loop, w.place);
        assert.equal(placeOf.get(w.loop), w.place, `loop ${w.loop} is one process or thread`);
      }
      await until('every connection counted', () => s.engine.countConnections() === 8);
    } finally {
      await stopped(s, peers);
    }
    assert.equal(s.events().filter((e) => e.event === 'close').length, 8);
  });

  test('Shutdown returned on one loop stops every loop, every onClose runs', { timeout: 60_000 }, async () => {
    const s = await start(2);
    const peers = [await StreamPeer.connect(s.engine.addrs[0]!), await StreamPeer.connect(s.engine.addrs[0]!)];
    try {
      const loopsSeen = [await who(peers[0]!), await who(peers[1]!)].map((w) => w.loop);
      assert.deepEqual(loopsSeen, [0, 1]);
      await peers[1]!.write('shutdown\n');
      await within('run() resolving after Shutdown', 20_000, s.done);
      await Promise.all(peers.map((p) => p.waitEnd()));
      assert.equal(s.events().filter((e) => e.event === 'close').length, 2);
      assert.equal(s.events().filter((e) => e.event === 'shutdown').length, 1);
    } finally {
      await stopped(s, peers);
    }
    await until('no worker process left', () => children().length === 0);
  });

  test('stop() from the main process flushes what every loop queued', { timeout: 60_000 }, async () => {
    const s = await start(2);
    const peers = [await StreamPeer.connect(s.engine.addrs[0]!), await StreamPeer.connect(s.engine.addrs[0]!)];
    const size = 4 * 1024 * 1024;
    try {
      await Promise.all(peers.map((p) => who(p)));
      await Promise.all(peers.map((p) => p.write(`big ${size}\n`)));
      // Wait until both loops have started answering: the rest is queued when stop() comes.
      await Promise.all(peers.map((p) => until('the answer starting', () => p.buffered > 0)));
      await s.engine.stop();
      const bodies = await Promise.all(peers.map((p) => p.readToEnd(20_000)));
      assert.deepEqual(bodies.map((b) => b.length), [size, size]);
      await within('run() resolving', 20_000, s.done);
      assert.equal(s.events().filter((e) => e.event === 'close').length, 2);
    } finally {
      await stopped(s, peers);
    }
  });

  test('a handler throwing on one loop closes only that connection', { timeout: 60_000 }, async () => {
    const s = await start(2);
    const peers = [await StreamPeer.connect(s.engine.addrs[0]!), await StreamPeer.connect(s.engine.addrs[0]!)];
    try {
      await Promise.all(peers.map((p) => who(p)));
      await peers[0]!.write('throw\n');
      await peers[0]!.waitEnd();
      await peers[1]!.write('still here\n');
      assert.equal((await peers[1]!.read(11)).toString(), 'still here\n');
      const again = await StreamPeer.connect(s.engine.addrs[0]!);
      peers.push(again);
      assert.equal((await who(again)).tag, 'data');
      await until('count after the close', () => s.engine.countConnections() === 2);
    } finally {
      await stopped(s, peers);
    }
  });

  test('an object default export reads handlerData(); module paths and file: URL strings', { timeout: 60_000 }, async () => {
    const file = fileURLToPath(fixture('handler-object'));
    for (const spec of [path.relative(process.cwd(), file), fixture('handler-object').href]) {
      // The object has no onBoot to tell a port: a unix path is known beforehand.
      const sock = unixPath('object');
      const stop = new AbortController();
      const done = run(spec, `unix://${sock}`, { mode: testMode, numEventLoop: 2, handlerData: { n: 7 }, logger: recordingLogger(), signal: stop.signal });
      done.catch(() => {});
      await until('listening', () => fs.existsSync(sock));
      const peer = await StreamPeer.connect(`unix://${sock}`);
      try {
        await peer.write('x');
        const line = await readLine(peer);
        assert.match(line, /^\d+\.\d+ \{"n":7\}$/);
        assert.notEqual(line.split(' ')[0], MAIN);
      } finally {
        peer.destroy();
        stop.abort();
        await within('run() after abort', 20_000, done);
        removePath(sock);
      }
    }
  });

  test('pauseRead() in onOpen holds the first bytes on worker loops too, until resumeRead()', { timeout: 60_000 }, async () => {
    // Wasm mode passes each socket to a worker process, and used to start it flowing after
    // onOpen whatever onOpen asked: a proxy pausing until its back end is dialled lost them.
    const sock = unixPath('paused');
    const stop = new AbortController();
    const done = run(fixture('paused-open'), `unix://${sock}`, { mode: testMode, numEventLoop: 2, logger: recordingLogger(), signal: stop.signal });
    done.catch(() => {});
    await until('listening', () => fs.existsSync(sock));
    const peers = await Promise.all([0, 1, 2, 3].map(() => StreamPeer.connect(`unix://${sock}`)));
    try {
      await Promise.all(peers.map((p, i) => p.write(`first ${i}\n`)));
      for (const [i, p] of peers.entries()) assert.equal(await readLine(p), `first ${i}`);
    } finally {
      for (const p of peers) p.destroy();
      stop.abort();
      await within('run() after abort', 20_000, done);
      removePath(sock);
    }
  });

  test('a module with one loop runs in this process', { timeout: 30_000 }, async () => {
    const s = await start(1);
    const peer = await StreamPeer.connect(s.engine.addrs[0]!);
    try {
      assert.equal((await who(peer)).place, MAIN);
    } finally {
      await stopped(s, [peer]);
    }
  });

  const unusable: Array<[string, URL | string, RegExp]> = [
    ['a missing module', './no/such/module.js', /cannot be imported/],
    ['a module that throws at import', fixture('throws-at-import'), /refuses to load/],
    ['a default export that is not a handler', fixture('not-a-handler'), /object or class/],
  ];
  for (const [what, spec, detail] of unusable) {
    test(`${what}: run() rejects ERR_HANDLER_MODULE`, { timeout: 30_000 }, async () => {
      await assert.rejects(run(spec, 'tcp://127.0.0.1:0', { mode: testMode, numEventLoop: 2 }), zgnetError('ERR_HANDLER_MODULE', detail));
    });
  }

  test('a module that throws in the loops\' processes or threads: run() rejects, no worker left', { timeout: 30_000 }, async () => {
    const fds = openFds();
    await assert.rejects(
      run(fixture('throws-in-worker'), 'tcp://127.0.0.1:0', { mode: testMode, numEventLoop: 2, logger: recordingLogger() }),
      zgnetError('ERR_HANDLER_MODULE', /no workers here/),
    );
    assert.deepEqual(children(), []);
    await until(`fds back to ${fds}`, () => openFds() <= fds);
  });

  test('a worker (process or thread) that dies stops the engine: run() rejects ERR_WORKER_EXITED', { timeout: 60_000 }, async () => {
    const fds = openFds();
    const s = await start(2);
    const peers = [await StreamPeer.connect(s.engine.addrs[0]!), await StreamPeer.connect(s.engine.addrs[0]!)];
    try {
      await Promise.all(peers.map((p) => who(p)));
      await peers[1]!.write('exit\n');
      await assert.rejects(within('run() rejecting', 20_000, s.done), zgnetError('ERR_WORKER_EXITED', /loop 1/));
      await peers[0]!.waitEnd();
      assert.equal(s.events().filter((e) => e.event === 'shutdown').length, 1);
    } finally {
      await stopped(s, peers);
    }
    await until('no worker process left', () => children().length === 0);
    await until(`fds back to ${fds}`, () => openFds() <= fds);
  });
});
