/**
 * A byte-stream torture run: streams of seeded bytes written by a zgnet server in random
 * shapes (write, writev, asyncWrite, asyncWritev, codec.write, from onTick, from another loop's execute;
 * 1 B to 8 MiB, mostly small), read by slow node:net readers that pause at random, half of
 * them through a zgnet proxy (`register`ed back ends, pauseRead/onWritable flow control) and
 * some echoed back through it by a node:net upstream, with a busy process on every core.
 * The proxy is the example's own handler (examples/tcp-proxy-handler.ts); half the streams
 * end with the sender's `end()`, which the proxy forwards, so the reader sees the end right
 * after the last byte, and the sender's `bytesRead`/`bytesWritten` are checked against what
 * was asked and sent. Every stream is checked by length and sha256; a mismatch names the seed, the first
 * differing byte and the surplus or deficit. Used by tests/conformance/torture.test.ts
 * (bounded) and bench/torture.mjs (long).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import { FixedLengthCodec, run, type Conn, type Engine, type EventHandler, type EventLoop, type Mode, type Options } from '../../../host/index.js';
import { proxyHandler } from '../../../examples/tcp-proxy-handler.js';
import { Random } from '../../support/random.js';
import { startServer, type Server } from './server.js';
import { TORTURE_PROXY_BOOT, type TortureProxyData } from './torture-proxy.js';
import { within } from './wait.js';

const MiB = 1024 * 1024;
const HEADER = 9;
/** Frames of one byte: what codec.write puts on the wire is the payload itself, so the stream check holds. */
const bytesCodec = new FixedLengthCodec(1);

/** The stream of seed `seed`: AES-128-CTR keystream, so both ends regenerate it cheaply. */
export function streamBytes(seed: number): crypto.Cipher {
  const key = crypto.createHash('sha256').update(`zgnet torture ${seed}`).digest().subarray(0, 16);
  return crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
}

/** Mostly small, some big, a few huge (up to 8 MiB), never past `left`. */
export function messageSize(rng: Random, left: number): number {
  const r = rng.next();
  const n = r < 0.6 ? rng.int(1, 256) : r < 0.9 ? rng.int(257, 64 * 1024) : r < 0.98 ? rng.int(64 * 1024 + 1, MiB) : rng.int(MiB, 8 * MiB);
  return Math.min(n, left);
}

interface Plan {
  rng: Random;
  bytes: crypto.Cipher;
  left: number;
  /** A deferred write (onTick, another loop's execute) is out: the next waits for it. */
  waiting: boolean;
  /** Half-close once everything is written: the reader sees the end after the last byte. */
  halfClose: boolean;
  ended: boolean;
  seed: number;
  total: number;
}

/** The sender: a header (u32 seed, u32 length, one spare byte) asks for a stream. */
function senderHandler(problems: string[]): EventHandler & { loops: EventLoop[] } {
  const loops: EventLoop[] = [];
  const onTick = new Map<Conn, () => void>();
  const pump = (c: Conn): void => {
    const plan = c.context as Plan | undefined;
    if (plan === undefined) return;
    while (plan.left > 0 && !plan.waiting && c.writable) {
      const size = messageSize(plan.rng, plan.left);
      plan.left -= size;
      const data = plan.bytes.update(Buffer.alloc(size));
      const shape = plan.rng.int(0, 6);
      const split = (): Buffer[] => {
        const cut = plan.rng.int(0, size);
        return [data.subarray(0, cut), data.subarray(cut)].filter((p) => p.length > 0);
      };
      if (shape === 0) c.write(data);
      else if (shape === 1) c.writev(split());
      else if (shape === 6) bytesCodec.write(c, data);
      else if (shape === 2 || shape === 3) {
        // A later write may overtake an asyncWrite (wasm mode runs it on the loop's next
        // turn, as gnet does): the stream goes on once it settled.
        plan.waiting = true;
        const sent = shape === 2 ? c.asyncWrite(data) : c.asyncWritev(split());
        sent.then(() => {
          plan.waiting = false;
          if (c.context === plan) pump(c);
        }, () => {});
      } else {
        plan.waiting = true;
        const finish = () => {
          if (c.context !== plan) return;
          c.write(data);
          plan.waiting = false;
          pump(c);
        };
        const other = loops.find((l) => l !== c.eventLoop);
        if (shape === 4 || other === undefined) onTick.set(c, finish);
        else void other.execute(() => void c.eventLoop.execute(finish)).catch(() => {});
      }
    }
    endIfDone(c, plan);
  };
  const endIfDone = (c: Conn, plan: Plan): void => {
    if (plan.left > 0 || plan.waiting || !plan.halfClose || plan.ended) return;
    plan.ended = true;
    c.end();
  };
  return {
    loops,
    onOpen(c) {
      if (!loops.includes(c.eventLoop)) loops.push(c.eventLoop);
    },
    onTick() {
      const due = [...onTick.values()];
      onTick.clear();
      for (const finish of due) finish();
      return { delayMs: 2 };
    },
    onTraffic(c) {
      if (c.context !== undefined) return void c.discard();
      const header = c.next(HEADER);
      if (header === null) return;
      const seed = header.readUInt32BE(0);
      if (c.bytesRead < HEADER) problems.push(`stream seed ${seed}: bytesRead ${c.bytesRead} after a ${HEADER}-byte header`);
      const rng = new Random(seed ^ 0x5eed);
      c.context = { rng, bytes: streamBytes(seed), left: header.readUInt32BE(4), waiting: false, halfClose: rng.next() < 0.5, ended: false, seed, total: header.readUInt32BE(4) } satisfies Plan;
      pump(c);
    },
    onWritable(c) {
      pump(c);
    },
    onClose(c) {
      const plan = c.context as Plan | undefined;
      // A half-closed stream's reader saw the end, so every byte had reached the kernel.
      if (plan?.ended === true && c.bytesWritten !== plan.total) problems.push(`stream seed ${plan.seed}: bytesWritten ${c.bytesWritten} of ${plan.total} after end()`);
    },
  };
}

export interface TortureOptions {
  seed: number;
  mode: Mode;
  /** Streams to run (fewer if `deadlineMs` passes first). */
  streams: number;
  /** Streams at once. */
  concurrency: number;
  deadlineMs: number;
  /** A busy process on every core while it runs. */
  hog: boolean;
  /**
   * The sender's proxy as a handler module with 2 loops: on worker threads (native) or
   * worker processes (wasm) instead of this thread.
   */
  threads: boolean;
}

export interface TortureResult {
  streams: number;
  bytes: number;
  mismatches: string[];
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Compares what arrived with what was sent: null, or where they part and by how much. */
export function describeMismatch(what: string, sent: Buffer, got: Buffer): string | null {
  const same = got.length === sent.length && crypto.createHash('sha256').update(got).digest().equals(crypto.createHash('sha256').update(sent).digest());
  if (same) return null;
  const at = firstDifference(sent, got);
  const delta = got.length - sent.length;
  const found = at < got.length ? sent.indexOf(got.subarray(at, at + 64)) : -1;
  return `${what}: ${got.length} of ${sent.length} bytes (${delta >= 0 ? 'surplus' : 'deficit'} ${Math.abs(delta)}), first difference at byte ${at}` +
    (found >= 0 ? `; the bytes there are the sent stream's from ${found}` : '');
}

/** One stream: `length` bytes of `seed` read by a slow reader (and echoed back when `echo`). */
function runStream(port: number, seed: number, length: number, echo: boolean, rng: Random): Promise<{ sent: Buffer; got: Buffer; echoed: Buffer | null }> {
  const sent = streamBytes(seed).update(Buffer.alloc(length));
  const pauses = rng.int(0, 3);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => finish(), 60_000);
    const finish = () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ sent, got: Buffer.concat(chunks), echoed: null });
    };
    s.on('error', reject);
    s.on('connect', () => {
      const header = Buffer.alloc(HEADER);
      header.writeUInt32BE(seed, 0);
      header.writeUInt32BE(length, 4);
      s.write(echo ? sent : header);
    });
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      if (pauses > 0 && rng.next() < 0.05) {
        s.pause();
        setTimeout(() => s.resume(), rng.int(1, 20));
      }
      // Past the length: wait a little for a surplus to show up, then judge.
      if (size >= length) setTimeout(finish, 200).unref();
    });
    s.on('end', finish);
  });
}

let moduleProxies = 0;

/** The proxy as a handler module (support/torture-proxy.ts): running once its onBoot ran. */
async function startModuleProxy(upstream: string, options: Options): Promise<Pick<Server, 'addrs' | 'shutdown'>> {
  const tag = `proxy-${moduleProxies++}`;
  const hooks = globalThis as Record<symbol, unknown>;
  const boots = (hooks[TORTURE_PROXY_BOOT] ??= new Map<string, (engine: Engine) => void>()) as Map<string, (engine: Engine) => void>;
  const booted = new Promise<Engine>((resolve) => boots.set(tag, resolve));
  const data: TortureProxyData = { upstream, tag };
  const done = run(new URL('./torture-proxy.js', import.meta.url), 'tcp://127.0.0.1:0', { ...options, handlerData: data });
  done.catch(() => {});
  const engine = await within('the proxy on worker loops', 30_000, Promise.race([booted, done.then(() => Promise.reject(new Error('run() resolved before boot')))]));
  boots.delete(tag);
  return {
    addrs: [...engine.addrs],
    async shutdown() {
      await engine.stop().catch(() => {});
      await within('the proxy on worker loops stopping', 20_000, done.catch(() => {}));
    },
  };
}

function startHog(): ChildProcess[] {
  return os.cpus().map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
}

export async function runTorture(o: TortureOptions): Promise<TortureResult> {
  const hogs = o.hog ? startHog() : [];
  const servers: Pick<Server, 'addrs' | 'shutdown'>[] = [];
  const echo = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const result: TortureResult = { streams: 0, bytes: 0, mismatches: [] };
  try {
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as net.AddressInfo).port;
    const sender = await startServer(senderHandler(result.mismatches), 'tcp://127.0.0.1:0', { mode: o.mode, numEventLoop: 2, ticker: true, logLevel: 'warn' });
    servers.push(sender);
    const senderAddr = sender.addrs[0]!;
    const proxyOptions = { mode: o.mode, numEventLoop: 2, outboundHighWaterMark: 256 * 1024, allowHalfOpen: true, logLevel: 'warn' } as const;
    const senderProxy = o.threads
      ? await startModuleProxy(senderAddr, proxyOptions)
      : await startServer(proxyHandler(() => senderAddr), 'tcp://127.0.0.1:0', proxyOptions);
    servers.push(senderProxy);
    const echoProxy = await startServer(proxyHandler(() => `tcp://127.0.0.1:${echoPort}`), 'tcp://127.0.0.1:0', { mode: o.mode, outboundHighWaterMark: 256 * 1024, allowHalfOpen: true, logLevel: 'warn' });
    servers.push(echoProxy);
    const portOf = (s: Pick<Server, 'addrs'>) => Number(/:(\d+)$/.exec(s.addrs[0]!)![1]);
    const rng = new Random(o.seed);
    const deadline = Date.now() + o.deadlineMs;
    let next = 0;
    const worker = async () => {
      while (next < o.streams && Date.now() < deadline) {
        const n = next++;
        const seed = (o.seed * 1000003 + n) >>> 0;
        const kind = rng.int(0, 2); // 0: direct, 1: through the proxy, 2: echoed through the proxy
        const length = rng.next() < 0.3 ? rng.int(1, 64 * 1024) : rng.int(64 * 1024, 8 * MiB);
        const port = kind === 0 ? portOf(sender) : kind === 1 ? portOf(senderProxy) : portOf(echoProxy);
        const { sent, got } = await runStream(port, seed, length, kind === 2, new Random(seed));
        result.streams++;
        result.bytes += got.length;
        const what = `seed ${o.seed} stream ${n} (${['direct', 'through the proxy', 'echoed through the proxy'][kind]}, stream seed ${seed})`;
        const mismatch = describeMismatch(what, sent, got);
        if (mismatch !== null) result.mismatches.push(mismatch);
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    for (const h of hogs) h.kill('SIGKILL');
    for (const s of servers.reverse()) await s.shutdown();
    await new Promise((r) => echo.close(r));
  }
  return result;
}
