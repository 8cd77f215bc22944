/**
 * client-loadgen: bench/tools/loadgen.c written with zgnet's Client, so that the benchmark can
 * set it beside the C load generator on the same echo server (how far is a zgnet client from
 * a C epoll client, and where does the difference go?).
 *
 *   node dist/bench/client-loadgen.js --proto tcp|udp|unix --addr 127.0.0.1:PORT|[::1]:PORT|/path.sock
 *        -c CONNS -s SIZE -d SECONDS [--warmup SECONDS] [--pipeline K] [--server-pid PID]
 *        [--mode native|wasm] [--loops N]
 *
 * The same protocol as loadgen.c: every stream connection keeps K messages of SIZE bytes in
 * flight, taken from a pseudo-random pool at a per-connection, per-message offset, verifies
 * every echoed byte and records each message's round trip (written → last byte back);
 * UDP sockets (connected: dialled `udp://`) ping-pong one datagram carrying a sequence
 * number and the socket id, a datagram not back within 200 ms counts as lost. Connections
 * are dialled at most 64 at a time; the clock starts once all are up, warm-up first.
 *
 * Output: one JSON line with loadgen.c's fields ({"proto","conns","size","pipeline","seconds",
 * "msgs","msgs_per_sec","mib_per_sec","p50_us","p99_us","errors","lost","connect_failures"},
 * "server_cpu_s"/"server_cpu_s_per_mmsg" with --server-pid) plus "client", "client_cpu_s"
 * and "client_cpu_s_per_mmsg" (this process, user + system, over the measured window).
 * Exit status as loadgen.c: 0 ok; 1 if every connection failed, any error, or no message in
 * the window; 2 on bad usage or a setup failure.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client, type Conn, type EventHandler } from '../host/index.js';

// ---------------------------------------------------------------------------------- options

function die(message: string): never {
  process.stderr.write(`client-loadgen: ${message}\n`);
  process.exit(2);
}

function arg(names: string[], fallback: string | undefined): string | undefined {
  for (const name of names) {
    const i = process.argv.indexOf(name);
    if (i > 0) {
      if (i + 1 >= process.argv.length) die(`${name} needs a value`);
      return process.argv[i + 1];
    }
  }
  return fallback;
}

function num(names: string[], fallback: number, min: number, max: number, integer = true): number {
  const text = arg(names, String(fallback))!;
  const v = Number(text);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) die(`bad ${names[0]}: ${text} (allowed ${min}..${max})`);
  return v;
}

const proto = arg(['--proto', '-P'], 'tcp') as 'tcp' | 'udp' | 'unix';
if (!['tcp', 'udp', 'unix'].includes(proto)) die('--proto must be tcp, udp or unix');
const addrArg = arg(['--addr', '-a'], undefined) ?? die('--addr is required');
const CONNS = num(['--conns', '-c'], 1, 1, 1_000_000);
const SIZE = num(['--size', '-s'], 64, 1, 64 << 20);
const SECONDS = num(['--duration', '--seconds', '-d'], 5, 0.001, 86400, false);
const WARMUP = num(['--warmup', '-w'], 1, 0, 86400, false);
const PIPELINE = num(['--pipeline', '-k'], 1, 1, 65536);
const SERVER_PID = num(['--server-pid', '-p'], 0, 0, 2 ** 31 - 1);
const MODE = arg(['--mode'], 'native') as 'native' | 'wasm';
const LOOPS = num(['--loops'], 1, 1, 256);
if (proto === 'udp' && SIZE > 65507) die('--size: a UDP datagram holds at most 65507 bytes');
if (proto === 'udp' && PIPELINE !== 1) die('--pipeline is for tcp/unix; udp does ping-pong');
const target = proto === 'unix' ? `unix://${addrArg}` : `${proto}://${addrArg.replace(/^localhost:/, '127.0.0.1:')}`;

const CONNECT_BATCH = 64;
const CONNECT_TIMEOUT_MS = 10_000;
const DRAIN_MS = 250;
const UDP_TIMEOUT_MS = 200;
const UDP_SCAN_MS = 5;
const POOL_SPREAD = 4096;

// ---------------------------------------------------------------------------------- pool

/** SIZE + 4096 pseudo-random bytes (loadgen.c's xorshift64, so the bytes match). */
const pool = (() => {
  const n = SIZE + POOL_SPREAD;
  const out = Buffer.allocUnsafe(n);
  let x = 0x9e3779b97f4a7c15n;
  const mask = (1n << 64n) - 1n;
  for (let i = 0; i < n; i++) {
    x ^= (x << 13n) & mask;
    x ^= x >> 7n;
    x ^= (x << 17n) & mask;
    out[i] = Number((x >> 24n) & 0xffn);
  }
  return out;
})();

/** Per-connection, per-message offset into the pool (loadgen.c's msg_off). */
function msgOff(id: number, m: number): number {
  return ((Math.imul(id, 2654435761) >>> 0) + (Math.imul(m >>> 0, 97) >>> 0)) & (POOL_SPREAD - 1);
}

// ---------------------------------------------------------------------------------- histogram
// loadgen.c's log-linear histogram in ns: exact below 128, then 64 sub-buckets per power of two.
const H_SUB_BITS = 7;
const H_SUB = 1 << H_SUB_BITS;
const H_HALF = H_SUB >> 1;
const H_MAX_EXP = 42;
const hist = new Float64Array(H_SUB + (H_MAX_EXP - H_SUB_BITS + 1) * H_HALF);
let hTotal = 0;
let hMin = Infinity;
let hMax = 0;

function histRecord(ns: number): void {
  let v = Math.max(0, Math.round(ns));
  if (v > 2 ** (H_MAX_EXP + 1) - 1) v = 2 ** (H_MAX_EXP + 1) - 1;
  let idx: number;
  if (v < H_SUB) {
    idx = v;
  } else {
    const e = Math.floor(Math.log2(v));
    const shift = e - H_SUB_BITS + 1;
    const mant = Math.floor(v / 2 ** shift);
    idx = H_SUB + (shift - 1) * H_HALF + (mant - H_HALF);
  }
  hist[idx]!++;
  hTotal++;
  if (v < hMin) hMin = v;
  if (v > hMax) hMax = v;
}

function histPctUs(p: number): number {
  if (hTotal === 0) return 0;
  const target = Math.max(1, Math.ceil(p * hTotal));
  let cum = 0;
  for (let i = 0; i < hist.length; i++) {
    cum += hist[i]!;
    if (cum >= target) {
      let mid: number;
      if (i < H_SUB) {
        mid = i;
      } else {
        const k = i - H_SUB;
        const shift = Math.floor(k / H_HALF) + 1;
        mid = ((k % H_HALF) + H_HALF) * 2 ** shift + 2 ** shift / 2;
      }
      return Math.min(Math.max(mid, hMin), hMax) / 1000;
    }
  }
  return hMax / 1000;
}

// ---------------------------------------------------------------------------------- state

let mStart = Infinity;
let mEnd = Infinity;
let draining = false;
let msgs = 0;
let errors = 0;
let lost = 0;
let connectFailures = 0;
let disconnects = 0;
let late = 0;
let logged = 0;

function logerr(message: string): void {
  if (logged++ < 5) process.stderr.write(`client-loadgen: ${message}\n`);
  else if (logged === 6) process.stderr.write('client-loadgen: (further errors not shown)\n');
}

/** ms, fractional; performance.now() is monotonic and sub-microsecond here. */
const now = () => performance.now();
const inWindow = (t: number) => t >= mStart && t < mEnd;

interface StreamState {
  id: number;
  /** Messages fully written, and fully echoed. */
  nextMsg: number;
  recvMsgs: number;
  /** Bytes of message recvMsgs already read back. */
  recvPos: number;
  sentBytes: number;
  recvBytes: number;
  /** Send time (ms) of the messages in flight, slot m % PIPELINE. */
  ts: Float64Array;
  failed: boolean;
}

interface DatagramState {
  id: number;
  seq: number;
  waiting: boolean;
  sentAt: number;
  dgram: Buffer;
  failed: boolean;
}

const streams: StreamState[] = [];
const datagrams: { c: Conn; s: DatagramState }[] = [];
let alive = 0;

function fail(c: Conn, s: StreamState | DatagramState, message: string): void {
  if (s.failed) return;
  s.failed = true;
  errors++;
  logerr(`conn ${s.id}: ${message}`);
  void c.close();
}

// ---------------------------------------------------------------------------------- stream

/** Writes messages until PIPELINE are in flight (each one write: zgnet buffers what the kernel does not take). */
function streamSend(c: Conn, s: StreamState): void {
  if (draining) return;
  const limit = s.recvMsgs + PIPELINE;
  const t = now();
  while (s.nextMsg < limit) {
    const m = s.nextMsg++;
    s.ts[m % PIPELINE] = t;
    const off = msgOff(s.id, m);
    c.write(pool.subarray(off, off + SIZE));
    s.sentBytes += SIZE;
  }
}

function streamTraffic(c: Conn, s: StreamState): void {
  const data = c.next();
  if (data === null || data.length === 0 || s.failed) return;
  const n = data.length;
  if (s.recvBytes + n > s.sentBytes) return fail(c, s, `verification: got ${s.recvBytes + n} bytes back, only ${s.sentBytes} sent`);
  s.recvBytes += n;
  const t = now();
  let p = 0;
  let completed = false;
  while (p < n) {
    const take = Math.min(SIZE - s.recvPos, n - p);
    const start = msgOff(s.id, s.recvMsgs) + s.recvPos;
    if (data.compare(pool, start, start + take, p, p + take) !== 0) {
      let i = 0;
      while (data[p + i] === pool[start + i]) i++;
      return fail(c, s, `verification: message ${s.recvMsgs} byte ${s.recvPos + i} is 0x${data[p + i]!.toString(16)}, sent 0x${pool[start + i]!.toString(16)}`);
    }
    p += take;
    s.recvPos += take;
    if (s.recvPos === SIZE) {
      if (inWindow(t)) {
        histRecord((t - s.ts[s.recvMsgs % PIPELINE]!) * 1e6);
        msgs++;
      }
      s.recvMsgs++;
      s.recvPos = 0;
      completed = true;
    }
  }
  if (draining) {
    if (s.recvBytes === s.sentBytes) void c.close();
    return;
  }
  if (completed) streamSend(c, s);
}

// ---------------------------------------------------------------------------------- udp

function udpHeader(dst: Buffer, id: number, seq: number): void {
  const h = Buffer.allocUnsafe(8);
  h.writeUInt32LE(seq >>> 0, 0);
  h.writeUInt32LE(id >>> 0, 4);
  h.copy(dst, 0, 0, Math.min(8, SIZE));
}

function udpSend(c: Conn, s: DatagramState): void {
  udpHeader(s.dgram, s.id, s.seq);
  s.sentAt = now();
  s.waiting = true;
  c.write(s.dgram); // a datagram the socket refuses is dropped: it times out and counts as lost
}

/** A reply to a datagram already given up on (loadgen.c's udp_is_late, for SIZE >= 8). */
function udpIsLate(s: DatagramState, p: Buffer): boolean {
  if (p.length !== SIZE) return false;
  const h = Math.min(8, SIZE);
  if (p.compare(s.dgram, h, SIZE, h, SIZE) !== 0) return false;
  if (h < 8) return true;
  return p.readUInt32LE(4) === s.id && p.readUInt32LE(0) < s.seq;
}

function udpTraffic(c: Conn, s: DatagramState): void {
  const p = c.next();
  if (p === null || p.length === 0) return;
  const t = now();
  if (s.waiting && p.length === SIZE && p.equals(s.dgram)) {
    if (inWindow(t)) {
      histRecord((t - s.sentAt) * 1e6);
      msgs++;
    }
    s.waiting = false;
    s.seq++;
    if (!draining) udpSend(c, s);
    return;
  }
  if (udpIsLate(s, p)) {
    late++;
    return;
  }
  errors++;
  logerr(`conn ${s.id}: verification: unexpected ${p.length}-byte datagram (expected ${SIZE} bytes, seq ${s.seq})`);
}

function udpScan(): void {
  const t = now();
  for (const { c, s } of datagrams) {
    if (s.failed || !s.waiting || t - s.sentAt < UDP_TIMEOUT_MS) continue;
    if (inWindow(t)) lost++;
    s.waiting = false;
    s.seq++;
    if (!draining) udpSend(c, s);
  }
}

// ---------------------------------------------------------------------------------- cpu

function procCpuSeconds(pid: number): number | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After ")": state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(11) stime(12)
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// ---------------------------------------------------------------------------------- main

const handler: EventHandler = {
  onOpen(c) {
    alive++;
    const s = c.context as StreamState | DatagramState;
    if (proto !== 'udp') streamSend(c, s as StreamState);
  },
  onTraffic(c) {
    if (proto === 'udp') udpTraffic(c, c.context as DatagramState);
    else streamTraffic(c, c.context as StreamState);
  },
  onClose(c, err) {
    alive--;
    const s = c.context as StreamState | DatagramState;
    if (err !== null && !draining && !s.failed) {
      disconnects++;
      s.failed = true;
      errors++;
      logerr(`conn ${s.id}: ${(err as Error & { code?: string }).code === 'EOF' ? 'server closed the connection' : err.message}`);
    }
  },
};

const client = new Client(handler, { mode: MODE, numEventLoop: LOOPS, tcpNoDelay: true, logLevel: 'warn' });
try {
  await client.start();
} catch (err) {
  die(`cannot start the client: ${(err as Error).message}`);
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => (mEnd = Math.min(mEnd, now())));

// Connect phase: at most CONNECT_BATCH dials under way at once.
const t0 = now();
let nextId = 0;
async function dialer(): Promise<void> {
  while (nextId < CONNS && now() - t0 < CONNECT_TIMEOUT_MS) {
    const id = nextId++;
    const state: StreamState | DatagramState =
      proto === 'udp'
        ? { id, seq: 0, waiting: false, sentAt: 0, dgram: Buffer.from(pool.subarray(msgOff(id, 0), msgOff(id, 0) + SIZE)), failed: false }
        : { id, nextMsg: 0, recvMsgs: 0, recvPos: 0, sentBytes: 0, recvBytes: 0, ts: new Float64Array(PIPELINE), failed: false };
    try {
      const c = await client.dial(target, { context: state });
      if (proto === 'udp') datagrams.push({ c, s: state as DatagramState });
      else streams.push(state as StreamState);
    } catch (err) {
      connectFailures++;
      logerr(`conn ${id}: connect: ${(err as Error).message}`);
    }
  }
}
await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, CONNS) }, dialer));
connectFailures += CONNS - nextId;
if (proto === 'udp') for (const { c, s } of datagrams) udpSend(c, s);

// Measured window, after warm-up.
mStart = now() + WARMUP * 1000;
mEnd = mStart + SECONDS * 1000;
const scan = proto === 'udp' ? setInterval(udpScan, UDP_SCAN_MS) : undefined;
let cpu0: number | null = null;
let own0 = 0;
await new Promise<void>((resolve) => {
  const startTimer = setTimeout(() => {
    cpu0 = SERVER_PID ? procCpuSeconds(SERVER_PID) : null;
    own0 = ownCpuSeconds();
  }, Math.max(0, mStart - now()));
  const tick = setInterval(() => {
    if (now() >= mEnd || alive === 0) {
      clearInterval(tick);
      clearTimeout(startTimer);
      resolve();
    }
  }, 5);
});
if (now() < mEnd) mEnd = now(); // every connection failed, or interrupted
const cpu1 = SERVER_PID ? procCpuSeconds(SERVER_PID) : null;
const own1 = ownCpuSeconds();

// Drain: stop sending; in-flight echoes are still verified (not counted); then close.
draining = true;
if (scan) clearInterval(scan);
for (const { c } of datagrams) void c.close();
const drainEnd = now() + DRAIN_MS;
while (alive > 0 && now() < drainEnd && proto !== 'udp') {
  if (streams.every((s) => s.failed || s.recvBytes === s.sentBytes)) break;
  await new Promise((r) => setTimeout(r, 1));
}
await client.stop();

const secs = Number.isFinite(mStart) && mEnd > mStart ? (mEnd - mStart) / 1000 : 0;
const out: Record<string, unknown> = {
  proto,
  conns: CONNS,
  size: SIZE,
  pipeline: PIPELINE,
  seconds: Number(secs.toFixed(3)),
  msgs,
  msgs_per_sec: secs > 0 ? Number((msgs / secs).toFixed(1)) : 0,
  mib_per_sec: secs > 0 ? Number(((msgs * SIZE) / 1048576 / secs).toFixed(2)) : 0,
  p50_us: Number(histPctUs(0.5).toFixed(1)),
  p99_us: Number(histPctUs(0.99).toFixed(1)),
  errors,
  lost,
  connect_failures: connectFailures,
};
if (SERVER_PID) {
  const cpu = cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null;
  out.server_cpu_s = cpu === null ? null : Number(cpu.toFixed(2));
  out.server_cpu_s_per_mmsg = cpu === null ? null : msgs ? Number((cpu / (msgs / 1e6)).toFixed(3)) : 0;
}
out.client = `zgnet-${client.mode}`;
const ownCpu = own1 - own0;
out.client_cpu_s = Number(ownCpu.toFixed(2));
out.client_cpu_s_per_mmsg = msgs ? Number((ownCpu / (msgs / 1e6)).toFixed(3)) : 0;
process.stdout.write(`${JSON.stringify(out)}\n`);

if (disconnects || late) process.stderr.write(`client-loadgen: disconnects=${disconnects} late_udp_replies=${late}\n`);
let rc = 0;
if (connectFailures >= CONNS) {
  process.stderr.write('client-loadgen: every connection failed\n');
  rc = 1;
}
if (errors) {
  process.stderr.write(`client-loadgen: ${errors} error(s)\n`);
  rc = 1;
}
if (msgs === 0 && rc === 0) {
  process.stderr.write('client-loadgen: no message completed in the measured window\n');
  rc = 1;
}
process.exit(rc);
