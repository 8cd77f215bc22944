/**
 * The fallback engine's own internals (host/fallback/), whatever ZGNET_MODE says: engines are
 * created with `mode: 'wasm'`. The public behaviour is the conformance suite's; here: the
 * hand-over between the fast path (the chunk Node read) and the wasm ring, codecs mixed with
 * next()/peek() on a connection, readBufferCap slicing, and what wasm mode cannot do.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { describe, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Action, LineCodec, run, type Conn, type Engine, type EventHandler, type Options, type ZgnetError } from '../host/index.js';
import { Random } from './support/random.js';

const quietLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Runs `handler` in wasm mode on `addr`; resolves with the engine once booted. */
async function serve(handler: EventHandler, addr: string, options: Options = {}): Promise<{ engine: Engine; done: Promise<void> }> {
  let booted!: (e: Engine) => void;
  const boot = new Promise<Engine>((resolve) => (booted = resolve));
  const done = run({ ...handler, onBoot: (e) => void booted(e) }, addr, { mode: 'wasm', logger: quietLogger, ...options });
  const engine = await Promise.race([boot, done.then(() => Promise.reject(new Error('run() resolved before onBoot')))]);
  assert.equal(engine.mode, 'wasm');
  return { engine, done };
}

async function stop(engine: Engine, done: Promise<void>): Promise<void> {
  await engine.stop().catch(() => {});
  await done;
}

function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(':') + 1));
}

/** Writes `data` in random pieces, yielding between them so that they arrive as many reads. */
async function sendInPieces(socket: net.Socket, data: Buffer, rng: Random, maxPiece: number): Promise<void> {
  for (let at = 0; at < data.length; ) {
    const n = Math.min(rng.int(1, maxPiece), data.length - at);
    if (!socket.write(data.subarray(at, at + n))) await new Promise((r) => socket.once('drain', r));
    at += n;
    if (rng.int(0, 3) === 0) await new Promise((r) => setImmediate(r));
  }
  socket.end();
}

function connect(addr: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(portOf(addr), '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

describe('fallback engine (wasm)', () => {
  for (const readBufferCap of [65536, 1024]) {
    test(`random next/peek/discard/read across the fast path and the wasm ring keep one stream (readBufferCap ${readBufferCap})`, { timeout: 30_000 }, async () => {
      const rng = new Random(4242 + readBufferCap);
      const sent = rng.bytes(512 * 1024);
      const consumed: Buffer[] = [];
      let consumedBytes = 0;
      let received = 0; // what onTraffic has been shown so far: consumed + buffered
      const problems: string[] = [];
      let closed!: () => void;
      const closedP = new Promise<void>((r) => (closed = r));
      const take = (b: Buffer | null, what: string) => {
        if (b === null) return problems.push(`${what} returned null`);
        consumed.push(Buffer.from(b));
        consumedBytes += b.length;
      };
      const handler: EventHandler = {
        onTraffic(c) {
          const buffered = c.inboundBuffered();
          const fresh = consumedBytes + buffered - received;
          if (fresh <= 0 || fresh > readBufferCap) problems.push(`onTraffic saw ${fresh} new bytes (cap ${readBufferCap})`);
          received = consumedBytes + buffered;
          for (let ops = rng.int(0, 4); ops > 0; ops--) {
            const have = c.inboundBuffered();
            const k = rng.int(1, 3000);
            switch (rng.int(0, 5)) {
              case 0: {
                const b = c.next(k);
                if (k <= have) take(b, `next(${k})`);
                else if (b !== null) problems.push(`next(${k}) with ${have} buffered returned ${b.length} bytes`);
                break;
              }
              case 1: {
                const p = c.peek(k);
                if (k > have) {
                  if (p !== null) problems.push(`peek(${k}) with ${have} buffered is not null`);
                  break;
                }
                const copy = Buffer.from(p!);
                if (c.discard(k) !== k) problems.push(`discard(${k}) did not drop ${k}`);
                take(copy, 'peek');
                break;
              }
              case 2: {
                const target = Buffer.alloc(k);
                const n = c.read(target);
                if (n !== Math.min(k, have)) problems.push(`read of ${k} with ${have} buffered gave ${n}`);
                take(target.subarray(0, n), 'read');
                break;
              }
              case 3:
                take(c.next(), 'next()');
                break;
              case 4: {
                // All but a byte or three: the smallest leftovers the ring gets.
                const keep = rng.int(1, 3);
                if (have > keep) take(c.next(have - keep), 'next(all but a few)');
                break;
              }
              default:
                break; // leave everything for later
            }
            if (c.inboundBuffered() + consumedBytes !== received) problems.push('inboundBuffered does not add up');
          }
        },
        onClose(c, err) {
          if ((err as NodeJS.ErrnoException | null)?.code !== 'EOF') problems.push(`onClose got ${String(err)}`);
          take(c.next(), 'next() in onClose');
          closed();
        },
      };
      const { engine, done } = await serve(handler, 'tcp://127.0.0.1:0', { readBufferCap });
      try {
        const client = await connect(engine.addrs[0]!);
        client.resume();
        await sendInPieces(client, sent, rng, 20_000);
        await closedP;
        assert.deepEqual(problems, []);
        assert.equal(Buffer.concat(consumed).equals(sent), true, 'the bytes consumed are the bytes sent, in order');
        client.destroy();
      } finally {
        await stop(engine, done);
      }
    });
  }

  test('codec.decode mixed with peek()/next() on a conn hands out every line once, in order', { timeout: 30_000 }, async () => {
    const rng = new Random(99);
    const lines = Array.from({ length: 3000 }, (_, i) => `line ${i} ${'x'.repeat(rng.int(0, 300))}`);
    const codec = new LineCodec();
    const got: string[] = [];
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    const handler: EventHandler = {
      onTraffic(c) {
        for (;;) {
          if (rng.int(0, 1) === 0) {
            const frame = codec.decode(c);
            if (frame === null) break;
            got.push(frame.toString());
          } else {
            const all = c.peek();
            const end = all === null ? -1 : all.indexOf(10);
            if (end < 0) break;
            got.push(c.next(end + 1)!.subarray(0, end).toString());
          }
        }
      },
      onClose: () => closed(),
    };
    const { engine, done } = await serve(handler, 'tcp://127.0.0.1:0');
    try {
      const client = await connect(engine.addrs[0]!);
      client.resume();
      await sendInPieces(client, Buffer.from(lines.map((l) => `${l}\n`).join('')), rng, 5000);
      await closedP;
      assert.equal(got.length, lines.length);
      assert.deepEqual(got, lines);
      client.destroy();
    } finally {
      await stop(engine, done);
    }
  });

  test('a UDP datagram longer than readBufferCap is truncated to it', { timeout: 10_000 }, async () => {
    const seen: number[] = [];
    const { engine, done } = await serve({ onTraffic: (c) => void seen.push(c.write(c.next()!)) }, 'udp://127.0.0.1:0', { readBufferCap: 1024 });
    const client = dgram.createSocket('udp4');
    try {
      const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
      client.send(Buffer.alloc(3000, 7), portOf(engine.addrs[0]!), '127.0.0.1');
      const echoed = await reply;
      assert.equal(echoed.length, 1024);
      assert.deepEqual(seen, [1024]);
    } finally {
      client.close();
      await stop(engine, done);
    }
  });

  test('an idle connection lets go of its last read: the chunk is collectable once onTraffic returned', { timeout: 10_000 }, async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    let chunk: WeakRef<ArrayBufferLike> | undefined;
    const { engine, done } = await serve(
      {
        onTraffic(c) {
          const view = c.next()!;
          chunk ??= new WeakRef(view.buffer);
          c.write(Buffer.from(view));
        },
      },
      'tcp://127.0.0.1:0',
    );
    const client = net.connect(portOf(engine.addrs[0]!), '127.0.0.1');
    try {
      const echoed = new Promise<Buffer>((resolve) => client.once('data', resolve));
      client.write('hello');
      assert.equal((await echoed).toString(), 'hello');
      // The connection stays open, idle: nothing of zgnet's may keep what it read last. (deref()
      // keeps its target alive until the job ends: each gc() runs in a later job than it.)
      let collected = false;
      for (let i = 0; i < 20 && !collected; i++) {
        await new Promise((r) => setTimeout(r, 5));
        gc();
        collected = chunk!.deref() === undefined;
      }
      assert.ok(collected, 'the chunk last read is still referenced after its callback');
    } finally {
      client.destroy();
      await stop(engine, done);
    }
  });

  test('the peer closing gives onClose the EOF error in Node\'s shape (code EOF, syscall read)', { timeout: 10_000 }, async () => {
    let closeErr: unknown;
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    const { engine, done } = await serve(
      {
        onClose: (_c, err) => {
          closeErr = err;
          closed();
        },
      },
      'tcp://127.0.0.1:0',
    );
    try {
      const client = await connect(engine.addrs[0]!);
      client.end();
      await closedP;
      const err = closeErr as NodeJS.ErrnoException;
      assert.equal(err.code, 'EOF');
      assert.equal(err.syscall, 'read');
      assert.equal(typeof err.errno, 'number');
      client.destroy();
    } finally {
      await stop(engine, done);
    }
  });

  test('what node:net hides is ERR_UNSUPPORTED_OP; the ignored options start normally', { timeout: 10_000 }, async () => {
    const isUnsupported = (err: ZgnetError) => err.code === 'ERR_UNSUPPORTED_OP';
    await assert.rejects(run({}, 'tcp://127.0.0.1:0', { mode: 'wasm', bindToDevice: 'lo', logger: quietLogger }), isUnsupported);
    // multicastInterfaceIndex is supported in wasm mode too: tests/conformance/multicast.test.ts.

    let opened!: (c: Conn) => void;
    const conn = new Promise<Conn>((r) => (opened = r));
    const { engine, done } = await serve({ onOpen: (c) => void opened(c) }, 'tcp://127.0.0.1:0', {
      edgeTriggeredIO: true,
      reusePort: true,
      tcpKeepAliveMs: 30_000,
      tcpKeepCount: 3,
      socketRecvBuffer: 1 << 16,
    });
    try {
      const client = await connect(engine.addrs[0]!);
      const c = await conn;
      assert.throws(() => engine.dupListener('tcp', engine.addrs[0]!), isUnsupported);
      assert.throws(() => engine.dupListener('tcp', '127.0.0.1:1'), (err: ZgnetError) => err.code === 'ERR_INVALID_NETWORK_ADDRESS');
      assert.throws(() => c.setReadBuffer(1 << 16), isUnsupported);
      assert.throws(() => c.setWriteBuffer(1 << 16), isUnsupported);
      assert.throws(() => c.setLinger(0), isUnsupported);
      assert.throws(() => c.sendTo('x', 'udp://127.0.0.1:9'), isUnsupported);
      c.setKeepAlive(true, 10_000, 2_000, 4); // idle applied; interval and count validated only
      assert.throws(() => c.setKeepAlivePeriod(10), (err: ZgnetError) => err.code === 'ERR_INVALID_ARGUMENT');
      // register/enroll work in wasm mode (tests/conformance/proxy.test.ts); what they refuse:
      await assert.rejects(c.eventLoop.register('tcp://'), (err: ZgnetError) => err.code === 'ERR_INVALID_NETWORK_ADDRESS');
      await assert.rejects(c.eventLoop.enroll(new net.Socket()), (err: ZgnetError) => err.code === 'ERR_INVALID_NET_CONN');
      client.destroy();
    } finally {
      await stop(engine, done);
    }
  });

  test('Close from onTraffic with a wasm-ring leftover: onClose still reads it, later writes throw ERR_CONN_CLOSED', { timeout: 10_000 }, async () => {
    let inClose = -1;
    let after = -1;
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    let calls = 0;
    const { engine, done } = await serve(
      {
        onTraffic() {
          // First call keeps everything (it moves to the ring), the second closes.
          return ++calls === 1 ? Action.None : Action.Close;
        },
        onClose(c) {
          inClose = c.inboundBuffered();
          setImmediate(() => {
            try {
              c.write('late');
            } catch (err) {
              after = (err as { code?: string }).code === 'ERR_CONN_CLOSED' ? 0 : -1;
            }
            closed();
          });
        },
      },
      'tcp://127.0.0.1:0',
    );
    try {
      const client = await connect(engine.addrs[0]!);
      client.write('hello');
      await new Promise((r) => setTimeout(r, 50));
      client.write('world');
      await closedP;
      assert.equal(inClose, 10);
      assert.equal(after, 0);
      client.destroy();
    } finally {
      await stop(engine, done);
    }
  });
});
