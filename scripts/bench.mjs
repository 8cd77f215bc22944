// `npm run bench`: zgnet measured the way gnet measures itself, side by side with what a Node
// user would otherwise pick, in one run. Echo ping-pong through bench/tools/loadgen.c (TCP, UDP,
// Unix), HTTP plaintext through wrk, the Redis example against redis-server through
// redis-benchmark, TCP proxies (HAProxy, node:net) through the load generator, several cores (a
// handler module on 1 and 2 loops: echo with and without handler work, HTTP plaintext pipelined
// against node:http + cluster ×2), idle memory with 10,000 connections, and the codec micro
// benchmark. Writes bench/results/latest.md and latest.svg (raw numbers: bench/results/raw/).
// wrk, redis-tools, redis-server and haproxy are installed with apt-get when missing
// (scripts/apt.mjs; as root).
//
//   npm run bench                  quick (about 5 minutes; at most 6): TCP 64 B × 8/64/500 and 4 KiB × 64, UDP 64 B;
//                                  Redis SET and GET -P 16; proxy 64 B × 64; several cores, zgnet native
//                                  and wasm on 1 vs 2 loops (20 µs of handler work per message, also
//                                  net + cluster ×2; plain echo; HTTP pipelined ×16 against node:http +
//                                  cluster ×2); 2 s per run (the multicore cases 1 s), 3 rounds;
//                                  zgnet native/wasm, node:net|dgram, Bun.listen|udpSocket (installed from npm
//                                  into node_modules/.cache on first use), C epoll
//   npm run bench -- --full        the whole matrix (about 25 minutes)
//   options: --only REGEX (case ids, e.g. 'tcp-64B|http'), --servers zgnet-native,net,...,
//            --rounds N, --duration S, --warmup S, --loops N (zgnet event loops), --spin,
//            --http-conns N (256), --idle-conns N (10000),
//            --no-build, --no-micro, --time-limit S, --out DIR, --list, --help,
//            --render FILE.json (rewrite latest.md/.svg from a raw result file, measuring nothing)
//
// Rules it keeps: network only on 127.0.0.1 and unix sockets under os.tmpdir(); every server
// runs in its own process group and is killed at the end, even on failure or Ctrl-C; every wait
// is bounded. Server and load generator are pinned to different CPUs with taskset.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root, zigEnv, zigPath } from './zig.mjs';
import { REDIS_TOOLS, ensureCommands } from './apt.mjs';
import {
  echoCompetitors, httpCompetitors, listenAddr, loadgenAddr, multicoreCompetitors, multicoreHttpCompetitors, proxyCompetitors, redisCompetitors, tlsCompetitors,
} from '../bench/lib/competitors.mjs';
import { calibrate } from '../bench/servers/work.mjs';
import {
  canConnect, cpuPlan, cpuSampler, delay, freePort, installExitHooks, now, reasonFrom, removeOnExit, runBounded, startServer,
  stopServer, treeCpuSeconds, treeMemKb, which, wrap,
} from '../bench/lib/proc.mjs';
import { markdown, median, svg } from '../bench/lib/report.mjs';
import { alternateRounds } from '../bench/lib/rounds.mjs';

// ---------------------------------------------------------------------------------- options
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const KNOWN = {
  flags: ['full', 'spin', 'no-build', 'no-micro', 'list', 'help'],
  values: ['only', 'servers', 'rounds', 'duration', 'warmup', 'loops', 'time-limit', 'out', 'render', 'http-conns', 'idle-conns'],
};
if (flag('help')) {
  const lines = fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n');
  console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}
for (let i = 0; i < args.length; i++) {
  const name = args[i].replace(/^--/, '');
  if (KNOWN.values.includes(name) && i + 1 < args.length) i++;
  else if (!KNOWN.flags.includes(name)) {
    console.error(`bench: unknown or incomplete option ${args[i]} (see --help)`);
    process.exit(2);
  }
}
const full = flag('full');
const profile = full ? 'full' : 'quick';
const rounds = Number(opt('rounds', '3'));
const duration = Number(opt('duration', full ? '5' : '2'));
// The multicore cases have 4-5 competitors each: at 2 s per run the quick run's measurements
// would come to about 330 s, past its 300 s limit; at 1 s, about 290 s. --duration sets every case's.
const multicoreSeconds = Number(opt('duration', full ? '5' : '1'));
const warmupFirst = Number(opt('warmup', full ? '1' : '0.5'));
const warmupLater = Math.min(warmupFirst, full ? 0.5 : 0.1);
const spin = flag('spin');
const outDir = path.resolve(opt('out', path.join(root, 'bench', 'results')));
const only = opt('only', null) ? new RegExp(opt('only')) : null;
const serverFilter = opt('servers', null)?.split(',');
const timeLimitS = Number(opt('time-limit', full ? '3600' : '300'));
const plan = cpuPlan();
const loops = Number(opt('loops', String(Math.max(1, plan.serverCpus))));
const HTTP_CONNS = Number(opt('http-conns', '256'));
const PIPELINE_DEPTH = 16;
const REDIS_CLIENTS = 50;
const IDLE_CONNS = Number(opt('idle-conns', '10000'));

const LOADGEN = path.join(root, 'zig-out', 'bin', 'zgnet-loadgen');
const started = now();
// the time limit covers the measurements; building (usually a cached no-op) comes before it
let deadline = Infinity;
const outOfTime = () => now() > deadline;
const notes = [];

// ---------------------------------------------------------------------------------- cases
const sizeLabel = (s) => (s >= 1024 ? `${s / 1024} KiB` : `${s} B`);
const sizeId = (s) => (s >= 1024 ? `${s / 1024}KiB` : `${s}B`);
function echoCase(proto, size, conns) {
  const who = proto === 'udp' ? 'sockets' : 'conns';
  return {
    id: `${proto}-${sizeId(size)}-${conns}`,
    kind: 'echo',
    proto,
    size,
    conns,
    label: `${proto.toUpperCase()} ${sizeLabel(size)} · ${conns} ${who}`,
    short: `${proto.toUpperCase()} ${sizeLabel(size)} · ×${conns}`,
  };
}
function redisCase(test, pipeline) {
  const how = pipeline > 1 ? `pipelined ×${pipeline}` : 'no pipelining';
  return {
    id: `redis-${test}${pipeline > 1 ? `-p${pipeline}` : ''}`,
    kind: 'redis',
    test,
    pipeline,
    label: `redis-benchmark ${test.toUpperCase()}, ${how} · ${REDIS_CLIENTS} clients`,
    short: `Redis ${test.toUpperCase()} · ${how}`,
  };
}
/** TCP ping-pong through a proxy to the C echo server. */
function proxyCase(size, conns) {
  return { ...echoCase('tcp', size, conns), id: `proxy-${sizeId(size)}-${conns}`, kind: 'proxy', label: `proxy, TCP ${sizeLabel(size)} · ${conns} conns`, short: `proxy ${sizeLabel(size)} · ×${conns}` };
}
/**
 * Several cores (a handler module; wasm mode's loops are worker processes): `workUs` of
 * handler work per 64-byte message, or plain echo. Unpinned: the server's processes and the
 * load generator share every CPU, as on a server where zgnet is given them all.
 */
function multicoreCase(workUs) {
  const what = workUs > 0 ? `${workUs} µs of handler work per message` : 'plain echo';
  return {
    ...echoCase('tcp', 64, 64),
    id: workUs > 0 ? `multicore-work${workUs}us` : 'multicore-echo',
    kind: 'multicore',
    workUs,
    pinned: false,
    seconds: multicoreSeconds,
    label: `TCP 64 B · 64 conns, ${what}`,
    short: `multicore ${workUs > 0 ? `${workUs} µs work` : 'echo'}`,
  };
}
/** HTTP plaintext pipelined on several cores: zgnet's example on 1 and 2 loops against node:http + cluster ×2; unpinned, as above. */
const multicoreHttpCase = {
  id: 'multicore-http',
  kind: 'multicore-http',
  proto: 'http',
  pipeline: PIPELINE_DEPTH,
  pinned: false,
  seconds: multicoreSeconds,
  label: `HTTP plaintext, pipelined ×${PIPELINE_DEPTH} · ${HTTP_CONNS} conns, 1 vs 2 loops`,
  short: `multicore HTTP · pipelined ×${PIPELINE_DEPTH}`,
};
/** TLS: echo ping-pong over TLS, or full handshakes per second (bench/tools/tls_loadgen.c). */
function tlsCase(mode) {
  return mode === 'echo'
    ? { ...echoCase('tcp', 64, 64), id: 'tls-echo-64B-64', kind: 'tls', mode, label: 'TLS echo, 64 B · 64 conns', short: 'TLS 64 B · ×64' }
    : { id: 'tls-handshake', kind: 'tls', mode, proto: 'tcp', threads: 8, label: 'TLS full handshakes · 8 client threads', short: 'TLS handshakes' };
}
const quickCases = [
  echoCase('tcp', 64, 8), echoCase('tcp', 64, 64), echoCase('tcp', 64, 500), echoCase('tcp', 4096, 64), echoCase('udp', 64, 64),
  redisCase('set', 1), redisCase('get', PIPELINE_DEPTH), proxyCase(64, 64), multicoreCase(20), multicoreCase(0), multicoreHttpCase,
  { id: 'idle-10k', kind: 'idle', proto: 'tcp', label: `idle memory, ${IDLE_CONNS.toLocaleString('en-US')} connections` },
  tlsCase('echo'), tlsCase('handshake'),
];
const fullCases = [
  ...[64, 512, 4096].flatMap((s) => [8, 64, 500].map((c) => echoCase('tcp', s, c))),
  echoCase('udp', 64, 64),
  echoCase('udp', 512, 64),
  echoCase('unix', 512, 64),
  { id: 'http-plaintext', kind: 'http', proto: 'http', pipeline: 1, label: `HTTP plaintext · ${HTTP_CONNS} conns`, short: 'HTTP · no pipelining' },
  { id: 'http-pipeline16', kind: 'http', proto: 'http', pipeline: PIPELINE_DEPTH, label: `HTTP plaintext, pipelined ×${PIPELINE_DEPTH} · ${HTTP_CONNS} conns`, short: `HTTP · pipelined ×${PIPELINE_DEPTH}` },
  { id: 'idle-10k', kind: 'idle', proto: 'tcp', label: `idle memory, ${IDLE_CONNS.toLocaleString('en-US')} connections` },
  redisCase('set', 1), redisCase('get', 1), redisCase('set', PIPELINE_DEPTH), redisCase('get', PIPELINE_DEPTH),
  proxyCase(64, 64), proxyCase(4096, 64), proxyCase(64, 500),
  multicoreCase(20), multicoreCase(0), multicoreHttpCase,
  tlsCase('echo'), tlsCase('handshake'),
];
// --only picks from the whole matrix (every quick case is in it too)
const cases = only ? fullCases.filter((c) => only.test(c.id)) : full ? fullCases : quickCases;
if (flag('list')) {
  for (const c of cases) console.log(`${c.id.padEnd(18)} ${c.label}`);
  process.exit(0);
}
const runMicro = !flag('no-micro') && (!only || only.test('micro'));

// ---------------------------------------------------------------------------------- build
function rel(p) {
  return path.relative(root, p);
}

/** zig build <args>, bounded; returns an error text or null. */
function zigBuild(buildArgs, what) {
  let zig;
  try {
    zig = zigPath();
  } catch (err) {
    return err.message;
  }
  const t = Date.now();
  const r = spawnSync(zig, buildArgs, { cwd: root, env: zigEnv(), encoding: 'utf8', timeout: 600_000 });
  if (r.error) return `${what}: ${r.error.message}`;
  if (r.status !== 0) return `${what} failed: ${reasonFrom(`${r.stderr}`, `exit ${r.status}`)}`;
  console.log(`bench: ${what}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return null;
}

function build() {
  if (flag('no-build')) return;
  // Zig's cache makes these no-ops when nothing changed; they also make sure the engine we
  // measure is ReleaseFast, not a Debug build someone left in zig-out.
  const toolsErr = zigBuild(['build', 'bench-tools'], 'zig build bench-tools');
  const tlsToolsErr = cases.some((c) => c.kind === 'tls') ? zigBuild(['build', 'bench-tls-tools'], 'zig build bench-tls-tools (libssl-dev)') : null;
  if (tlsToolsErr) notes.push(tlsToolsErr);
  if (toolsErr) notes.push(`${toolsErr}${fs.existsSync(LOADGEN) ? ' (measured with the tools already in zig-out/bin)' : ''}`);
  const libErr = zigBuild(['build', '-Doptimize=ReleaseFast', '-Dcpu=baseline'], 'zig build -Doptimize=ReleaseFast');
  if (libErr) notes.push(`${libErr} (the zgnet engines use the artifacts already in zig-out, if any)`);
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const t = Date.now();
  const r = spawnSync(process.execPath, [tsc, '-p', root], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  const errors = (r.stdout.match(/error TS\d+/g) ?? []).length;
  console.log(`bench: tsc: ${((Date.now() - t) / 1000).toFixed(1)} s${errors ? ` (${errors} type errors, emitted anyway)` : ''}`);
  const mine = r.stdout.split('\n').filter((l) => /^(bench|examples)\//.test(l));
  if (mine.length) notes.push(`tsc: ${mine[0]}`);
}

// ---------------------------------------------------------------------------------- machine
function machine() {
  const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const git = (a) => spawnSync('git', a, { cwd: root, encoding: 'utf8' });
  const head = git(['rev-parse', '--short', 'HEAD']).stdout?.trim() || 'unknown';
  const dirty = (git(['status', '--porcelain', '--untracked-files=no']).stdout ?? '').trim() !== '';
  return {
    profile,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu,
    cores: os.availableParallelism(),
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    commit: `${head}${dirty ? ' + uncommitted changes' : ''}`,
    loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    pinning: plan.note,
    rounds,
    method:
      `${rounds} rounds per case, competitors alternating within each round (order rotated each round); ` +
      `${duration} s measured per run${multicoreSeconds !== duration ? ` (${multicoreSeconds} s in the multicore cases)` : ''} after ${warmupFirst} s warm-up (${warmupLater} s in later rounds: servers stay up for all cases of a protocol); ` +
      `medians over rounds, ratios = median / the baseline's median; server CPU from /proc/PID/stat over the measured window; peak RSS = VmHWM, reset per case; zgnet event loops: ${loops}`,
    command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
  };
}

// ---------------------------------------------------------------------------------- servers
const env = { ...process.env };
delete env.ZGNET_MODE; // each zgnet server names its mode; nothing may override it

/** Starts comp's server for `proto` (tcp, udp, unix; http, redis and proxy are tcp); `upstream`: a proxy's back end. */
async function launch(comp, proto, { nofile = 0, upstream = null, pinned = true } = {}) {
  for (const f of comp.needs ?? []) if (!fs.existsSync(f)) return { na: `${rel(f)} missing (build failed?)` };
  for (const cmd of comp.needsCommands ?? []) if (!which(cmd)) return { na: `${cmd} not installed` };
  const missing = comp.ensure?.(); // a competitor the bench installs itself (Bun)
  if (missing) return { na: missing };
  const stream = ['http', 'redis', 'proxy'].includes(proto) ? 'tcp' : proto;
  // a server that cannot say which port it bound (redis-server, haproxy) is given a free one
  const requested = comp.freePort ? `127.0.0.1:${await freePort()}` : listenAddr(stream, comp.id);
  if (requested.startsWith('/')) removeOnExit(requested);
  const temp = []; // files the competitor writes for its server (a generated config)
  const argv = wrap(comp.argv({ proto: stream, addr: requested, upstream, temp }), { cpus: pinned ? plan.server : null, nofile });
  for (const f of temp) removeOnExit(f);
  try {
    const probe = comp.readyWhenConnectable ? () => canConnect(requested) : undefined;
    const server = await startServer(argv, { cwd: root, env, label: comp.id, readyRe: comp.readyRe, probe });
    return { server, requested, temp, addr: comp.freePort ? requested : loadgenAddr(server.line, stream, requested) };
  } catch (err) {
    for (const f of temp) fs.rmSync(f, { force: true });
    return { na: err.message };
  }
}

async function stop(comp, s, where) {
  if (!s?.server) return;
  const how = await stopServer(s.server, 3000, comp.stopSignal);
  if (!how.clean) notes.push(`${comp.label} (${where}): ${how.how}`);
  if (s.requested?.startsWith('/')) fs.rmSync(s.requested, { force: true });
  for (const f of s.temp ?? []) fs.rmSync(f, { force: true });
}

function fmtRate(x) {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(1)} k`;
}

// ---------------------------------------------------------------------------------- echo
async function loadgenRun(kase, s, comp, warmup) {
  const seconds = kase.seconds ?? duration;
  const lg = [LOADGEN, '--proto', kase.proto, '--addr', s.addr, '-c', String(kase.conns), '-s', String(kase.size), '-d', String(seconds), '--warmup', String(warmup), '--server-pid', String(s.server.pid)];
  if (spin) lg.push('--spin');
  const sampler = comp.multiProcess ? cpuSampler(s.server.pid) : null;
  const r = await runBounded(wrap(lg, { cpus: kase.pinned === false ? null : plan.client }), { cwd: root, timeoutMs: (seconds + warmup + 25) * 1000 });
  const tEnd = now();
  sampler?.stop();
  const line = r.stdout.split('\n').reverse().find((l) => l.startsWith('{'));
  let j = null;
  try {
    j = line ? JSON.parse(line) : null;
  } catch {}
  const died = s.server.exited ? `server exited (${s.server.exited.signal ?? `exit ${s.server.exited.code}`}): ${reasonFrom(s.server.stderr(), 'no output')}` : null;
  if (r.timedOut) return { ok: false, reason: died ?? `load generator timed out after ${(seconds + warmup + 25).toFixed(0)} s` };
  if (!j) return { ok: false, reason: died ?? `load generator failed (exit ${r.code}): ${reasonFrom(r.stderr, 'no output')}` };
  if (r.code !== 0 || j.errors > 0 || j.connect_failures > 0) {
    const why = j.errors > 0 ? `${j.errors} echo errors` : j.connect_failures > 0 ? `${j.connect_failures} of ${kase.conns} connections failed` : `exit ${r.code}`;
    return { ok: false, reason: died ?? `${why}: ${reasonFrom(r.stderr, '')}` };
  }
  let cpuPerM = j.server_cpu_s_per_mmsg ?? null;
  if (sampler && j.msgs > 0) {
    // the window ended just before the load generator exited (its drain takes milliseconds)
    const cpu = sampler.cpuBetween(tEnd - j.seconds * 1000, tEnd);
    cpuPerM = cpu === null ? null : cpu / (j.msgs / 1e6);
  }
  return { ok: true, rate: j.msgs_per_sec, p50: j.p50_us, p99: j.p99_us, cpuPerM, lost: j.lost ?? 0, raw: j };
}

function summarize(kase, rows, baseId) {
  const base = rows.find((r) => r.comp.id === baseId);
  for (const r of rows) {
    const ok = r.rounds.filter((x) => x.ok);
    r.isBaseline = r.comp.id === baseId;
    if (r.status === 'skipped' && ok.length === 0) continue;
    if (ok.length === 0) {
      r.status = 'na';
      r.reason = r.reason ?? r.rounds.find((x) => !x.ok)?.reason ?? 'not run';
      continue;
    }
    r.status = 'ok';
    const failed = r.rounds.filter((x) => !x.ok);
    if (failed.length) r.notes.push(`${failed.length} of ${r.rounds.length} rounds failed: ${failed[0].reason}`);
    const lost = ok.reduce((a, x) => a + (x.lost ?? 0), 0);
    if (lost) r.notes.push(`${lost} datagrams lost`);
    r.median = {
      rate: median(ok.map((x) => x.rate)),
      p50: median(ok.map((x) => x.p50)),
      p99: median(ok.map((x) => x.p99)),
      cpuPerM: median(ok.map((x) => x.cpuPerM)),
    };
    r.cpuApprox = Boolean(r.comp.multiProcess);
  }
  // ratios of medians, so that the table can be checked by hand (rounds alternate, so both
  // medians come from the same stretch of time)
  const baseOk = base?.status === 'ok' ? base : null;
  for (const r of rows) {
    if (r.status !== 'ok') continue;
    r.ratio = r.isBaseline ? 1 : baseOk ? r.median.rate / baseOk.median.rate : null;
    r.cpuRatio = baseOk && r.median.cpuPerM !== null && baseOk.median.cpuPerM ? r.median.cpuPerM / baseOk.median.cpuPerM : null;
    if (!baseOk && !r.isBaseline) r.notes.push(`no ratio: baseline ${base?.status ?? 'missing'}`);
  }
}

/** The progress line of a load-generator run (echo, proxy). */
const loadgenLine = (kase, comp, res) =>
  `${fmtRate(res.rate).padStart(9)} msgs/s  p50 ${res.p50.toFixed(0)} µs  p99 ${res.p99.toFixed(0)} µs  cpu ${res.cpuPerM?.toFixed(2) ?? '—'} s/M`;

/** What every group passes to alternateRounds. */
const groupDefaults = () => ({ rounds, summarize, outOfTime, timeLimitS, notes });

async function runEchoGroup(proto, group, comps) {
  return alternateRounds({
    ...groupDefaults(),
    what: proto,
    group,
    comps,
    baseId: comps.find((c) => c.baseline?.includes(proto))?.id,
    launch: (comp) => launch(comp, proto),
    stop: (comp, s) => stop(comp, s, proto),
    measure: (kase, s, comp, round) => loadgenRun(kase, s, comp, round === 0 ? warmupFirst : warmupLater),
    describe: loadgenLine,
  });
}

/** One multicore case: its competitors all run the same handler work, calibrated here once. */
async function runMulticoreCase(kase, comps) {
  return alternateRounds({
    ...groupDefaults(),
    what: kase.id,
    group: [kase],
    comps,
    baseId: 'zgnet-wasm-1',
    launch: (comp) => launch(comp, 'tcp', { pinned: false }),
    stop: (comp, s) => stop(comp, s, kase.id),
    measure: (k, s, comp, round) => loadgenRun(k, s, comp, round === 0 ? warmupFirst : warmupLater),
    describe: loadgenLine,
  });
}

// ---------------------------------------------------------------------------------- http
function wrkTime(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * { us: 1, ms: 1e3, s: 1e6, m: 60e6 }[m[2]];
}

async function wrkRun(kase, s, seconds) {
  const url = `http://${s.addr}/plaintext`;
  const w = ['wrk', '-t', '1', '-c', String(HTTP_CONNS), '-d', `${seconds}s`, '--timeout', '8', '--latency'];
  if (kase.pipeline > 1) w.push('-s', path.join(root, 'bench', 'pipeline.lua'), url, '--', String(kase.pipeline));
  else w.push(url);
  const cpu0 = treeCpuSeconds(s.server.pid);
  const r = await runBounded(wrap(w, { cpus: kase.pinned === false ? null : plan.client }), { cwd: root, timeoutMs: (seconds + 30) * 1000 });
  const cpu1 = treeCpuSeconds(s.server.pid);
  const died = s.server.exited ? `server exited: ${reasonFrom(s.server.stderr(), 'no output')}` : null;
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(r.stdout);
  const total = /^\s*(\d+) requests in/m.exec(r.stdout);
  if (r.timedOut || !rps || !total) return { ok: false, reason: died ?? `wrk failed (exit ${r.code}): ${reasonFrom(`${r.stderr}\n${r.stdout}`, 'no output')}` };
  const requests = Number(total[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
  if (requests === 0) return { ok: false, reason: died ?? 'no request completed' };
  if (non2xx > 0) return { ok: false, reason: `${non2xx} responses were not 2xx` };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
  // wrk prints 0.00us for a percentile it lost track of (seen with pipelining): unknown, not 0
  const pct = (p) => wrkTime(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(r.stdout)?.[1] ?? '') || null;
  return {
    ok: true,
    rate: Number(rps[1]),
    p50: pct(50),
    p99: pct(99),
    cpuPerM: (cpu1 - cpu0) / (requests / 1e6),
    socketErrors: sock ? sock.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0,
    socketErrorText: sock?.[0],
  };
}

/** HTTP cases through wrk; `what`, `baseId`: the multicore HTTP case names its own. A case that is not pinned runs its servers unpinned too. */
async function runHttpGroup(group, comps, { what = 'http', baseId = 'node-http' } = {}) {
  const wrkErr = ensureCommands([{ cmd: 'wrk', pkg: 'wrk' }], (line) => console.log(`bench: ${line}`));
  return alternateRounds({
    ...groupDefaults(),
    what,
    group,
    comps,
    baseId,
    launch: (comp) => (wrkErr ? { na: wrkErr } : launch(comp, 'http', { pinned: group.every((k) => k.pinned !== false) })),
    stop: (comp, s) => stop(comp, s, what),
    async measure(kase, s, comp, round, row) {
      if (round === 0) await wrkRun(kase, s, 1); // warm-up, discarded
      // wrk takes whole seconds
      const res = await wrkRun(kase, s, Math.max(1, Math.round(kase.seconds ?? duration)));
      if (res.ok && res.socketErrors) row.notes.push(`round ${round + 1}: ${res.socketErrorText}`);
      return res;
    },
    describe: (kase, comp, res) => `${fmtRate(res.rate).padStart(9)} req/s  cpu ${res.cpuPerM.toFixed(2)} s/M`,
  });
}

// ---------------------------------------------------------------------------------- redis

/**
 * redis-benchmark's request count for a run of about `seconds` (it has no duration option): from
 * the rate `comp` reached in its warm-up run of this case, else a guess (a little under what the
 * fast servers do here on an idle machine).
 */
const redisRates = new Map(); // `${comp.id} ${kase.id}` -> req/s of the warm-up run
function redisRequests(kase, comp, seconds) {
  const rate = redisRates.get(`${comp.id} ${kase.id}`) ?? (kase.pipeline > 1 ? 400_000 : 40_000);
  return Math.max(1000, Math.round(rate * seconds));
}

async function redisRun(kase, s, requests) {
  const colon = s.addr.lastIndexOf(':');
  const argv = ['redis-benchmark', '-h', s.addr.slice(0, colon), '-p', s.addr.slice(colon + 1), '-c', String(REDIS_CLIENTS), '-n', String(requests)];
  argv.push('-P', String(kase.pipeline), '-t', kase.test, '--csv');
  const cpu0 = treeCpuSeconds(s.server.pid);
  const r = await runBounded(wrap(argv, { cpus: plan.client }), { cwd: root, timeoutMs: 120_000 });
  const cpu1 = treeCpuSeconds(s.server.pid);
  const died = s.server.exited ? `server exited: ${reasonFrom(s.server.stderr(), 'no output')}` : null;
  const text = `${r.stderr}\n${r.stdout}`;
  if (r.timedOut) return { ok: false, reason: died ?? 'redis-benchmark timed out after 120 s' };
  // redis-benchmark stops at the first error reply ("Error from server: ...", exit 1)
  if (r.code !== 0 || /Error from server/.test(text)) return { ok: false, reason: died ?? `redis-benchmark failed (exit ${r.code}): ${reasonFrom(text, 'no output')}` };
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const row = r.stdout.split('\n').map((l) => l.split(',').map((f) => f.replace(/"/g, ''))).find((f) => f[0] === kase.test.toUpperCase());
  if (!row || !(Number(row[1]) > 0)) return { ok: false, reason: `no ${kase.test.toUpperCase()} result: ${reasonFrom(text, 'no output')}` };
  return { ok: true, rate: Number(row[1]), p50: Number(row[4]) * 1000, p99: Number(row[6]) * 1000, cpuPerM: (cpu1 - cpu0) / (requests / 1e6) };
}

async function runRedisGroup(group, comps) {
  const toolsErr = ensureCommands(REDIS_TOOLS, (line) => console.log(`bench: ${line}`));
  return alternateRounds({
    ...groupDefaults(),
    what: 'redis',
    group,
    comps,
    baseId: 'net-redis',
    launch: (comp) => (toolsErr ? { na: toolsErr } : launch(comp, 'redis')),
    stop: (comp, s) => stop(comp, s, 'redis'),
    async measure(kase, s, comp, round) {
      if (round === 0) {
        // warm-up, discarded; its rate sizes the measured runs
        const w = await redisRun(kase, s, redisRequests(kase, comp, warmupFirst / 2));
        if (w.ok) redisRates.set(`${comp.id} ${kase.id}`, w.rate);
      }
      return redisRun(kase, s, redisRequests(kase, comp, duration));
    },
    describe: (kase, comp, res) => `${fmtRate(res.rate).padStart(9)} req/s  p50 ${res.p50.toFixed(0)} µs  p99 ${res.p99.toFixed(0)} µs  cpu ${res.cpuPerM.toFixed(2)} s/M`,
  });
}

// ---------------------------------------------------------------------------------- proxy
/** The proxies' back end: one C echo server for the group, on the load generator's CPU. */
async function runProxyGroup(group, comps) {
  const haproxyErr = ensureCommands([{ cmd: 'haproxy', pkg: 'haproxy' }], (line) => console.log(`bench: ${line}`));
  if (haproxyErr) notes.push(haproxyErr);
  const cEcho = path.join(root, 'zig-out', 'bin', 'c-echo');
  let echo = null;
  let upstreamErr = null;
  try {
    echo = await startServer(wrap([cEcho, '--proto', 'tcp', '--addr', '127.0.0.1:0'], { cpus: plan.client }), { cwd: root, env, label: 'proxy upstream' });
  } catch (err) {
    upstreamErr = `C echo upstream: ${err.message}`;
  }
  const upstream = echo ? `127.0.0.1:${echo.line}` : null;
  try {
    return await alternateRounds({
      ...groupDefaults(),
      what: `proxy (upstream ${upstream ?? 'n/a'})`,
      group,
      comps,
      baseId: 'net-proxy',
      launch: (comp) => (upstreamErr ? { na: upstreamErr } : launch(comp, 'proxy', { upstream })),
      stop: (comp, s) => stop(comp, s, 'proxy'),
      measure: (kase, s, comp, round) => loadgenRun(kase, s, comp, round === 0 ? warmupFirst : warmupLater),
      describe: loadgenLine,
    });
  } finally {
    if (echo) await stopServer(echo);
  }
}

// ---------------------------------------------------------------------------------- TLS
const TLS_LOADGEN = path.join(root, 'zig-out', 'bin', 'zgnet-tls-loadgen');

/** A throwaway self-signed certificate for localhost (openssl req), removed at exit. */
function tlsCertFiles() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zgnet-bench-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  removeOnExit(cert);
  removeOnExit(key);
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
  ], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? { cert, key } : { na: `openssl req failed: ${reasonFrom(r.stderr ?? '', `exit ${r.status}`)}` };
}

async function tlsRun(kase, s, warmup) {
  const seconds = kase.seconds ?? duration;
  const how = kase.mode === 'echo' ? ['-c', String(kase.conns), '-s', String(kase.size)] : ['-t', String(kase.threads)];
  const lg = [TLS_LOADGEN, '--mode', kase.mode, '--addr', s.addr, ...how, '-d', String(seconds), '--warmup', String(warmup)];
  const cpu0 = treeCpuSeconds(s.server.pid);
  const r = await runBounded(wrap(lg, { cpus: plan.client }), { cwd: root, timeoutMs: (seconds + warmup + 25) * 1000 });
  const cpu1 = treeCpuSeconds(s.server.pid);
  let j = null;
  try {
    j = JSON.parse(r.stdout.split('\n').reverse().find((l) => l.startsWith('{')) ?? 'null');
  } catch {}
  const died = s.server.exited ? `server exited: ${reasonFrom(s.server.stderr(), 'no output')}` : null;
  if (r.timedOut || !j) return { ok: false, reason: died ?? `TLS load generator failed (exit ${r.code}): ${reasonFrom(r.stderr, 'no output')}` };
  if (r.code !== 0 || j.errors > 0 || j.connect_failures > 0) return { ok: false, reason: died ?? `${j.errors} errors, ${j.connect_failures ?? 0} failed connections` };
  const count = kase.mode === 'echo' ? j.msgs : j.handshakes;
  const rate = kase.mode === 'echo' ? j.msgs_per_sec : j.handshakes_per_sec;
  // CPU over the whole run (warm-up included), per million messages or handshakes
  return { ok: true, rate, p50: j.p50_us ?? null, p99: j.p99_us ?? null, cpuPerM: count > 0 ? (cpu1 - cpu0) / (count / 1e6) : null, raw: j };
}

async function runTlsGroup(group, comps) {
  return alternateRounds({
    ...groupDefaults(),
    what: 'tls',
    group,
    comps,
    baseId: 'node-tls',
    launch: (comp) => launch(comp, 'tcp'),
    stop: (comp, s) => stop(comp, s, 'tls'),
    measure: (kase, s, comp, round) => tlsRun(kase, s, round === 0 ? warmupFirst : warmupLater),
    describe: (kase, comp, res) => `${fmtRate(res.rate).padStart(9)} ${kase.mode === 'echo' ? 'msgs' : 'handshakes'}/s`,
  });
}

// ---------------------------------------------------------------------------------- idle memory
async function runIdle(comps) {
  const NOFILE = IDLE_CONNS + 4096;
  const rows = [];
  for (const comp of comps) {
    const row = { comp, status: 'na', reason: null, notes: [] };
    rows.push(row);
    if (outOfTime()) {
      row.status = 'skipped';
      row.reason = 'time limit';
      continue;
    }
    const s = await launch(comp, 'tcp', { nofile: NOFILE });
    if (s.na) {
      row.reason = s.na;
      console.log(`bench: idle ${comp.label}: n/a (${s.na})`);
      continue;
    }
    let client = null;
    try {
      await delay(1000);
      const baseKb = treeMemKb(s.server.pid, 'VmRSS');
      const idleClient = path.join(root, 'bench', 'lib', 'idle-client.mjs');
      const argv = wrap([process.execPath, idleClient, '--addr', s.addr, '--conns', String(IDLE_CONNS), '--timeout-s', '60'], { cpus: plan.client, nofile: NOFILE });
      try {
        client = await startServer(argv, { cwd: root, env, readyMs: 90_000, label: 'idle-client', readyRe: /^ready (\d+) (\d+)(.*)$/m });
      } catch (err) {
        row.reason = `idle client: ${err.message}`;
        continue;
      }
      const established = Number(client.match[1]);
      const failed = Number(client.match[2]);
      await delay(1500);
      if (s.server.exited) {
        row.reason = `server exited with ${established} connections: ${reasonFrom(s.server.stderr(), 'no output')}`;
        continue;
      }
      const loadedKb = treeMemKb(s.server.pid, 'VmRSS');
      if (failed > 0 || established < IDLE_CONNS) {
        row.reason = `${established} of ${IDLE_CONNS} connections held (${failed} failed)${client.match[3] ? `,${client.match[3]}` : ''}: ${reasonFrom(client.stderr(), '')}`;
        continue;
      }
      Object.assign(row, { status: 'ok', conns: established, baseKb, loadedKb, perConnBytes: ((loadedKb - baseKb) * 1024) / established });
      console.log(`  idle ${comp.label.padEnd(18)} ${(baseKb / 1024).toFixed(1)} MiB -> ${(loadedKb / 1024).toFixed(1)} MiB with ${established} connections: ${row.perConnBytes.toFixed(0)} B each`);
    } finally {
      // the server goes first, so TIME_WAIT lands on its port and not on the client's ephemeral ones
      await stop(comp, s, 'idle');
      if (client) await stopServer(client, 5000);
    }
  }
  const base = rows.find((r) => r.comp.id === 'net');
  for (const r of rows) {
    r.isBaseline = r.comp.id === 'net';
    if (r.status === 'ok' && base?.status === 'ok') r.ratio = r.perConnBytes / base.perConnBytes;
  }
  return {
    rows,
    note:
      `Server RSS (VmRSS, summed over its processes) once started, and again with ${IDLE_CONNS.toLocaleString('en-US')} loopback connections ` +
      'held open after one 1-byte echo each; per connection = the difference / connections (lower is better; ratio to node:net).',
  };
}

// ---------------------------------------------------------------------------------- micro
async function runMicroBench() {
  const script = path.join(root, 'dist', 'bench', 'micro', 'codec-decode.js');
  if (!fs.existsSync(script)) return { ok: false, reason: `${rel(script)} missing` };
  const frames = 1_000_000;
  console.log(`bench: codec micro benchmark (${frames.toLocaleString('en-US')} frames)`);
  const r = await runBounded(wrap([process.execPath, script, '--frames', String(frames)], { cpus: plan.server }), { cwd: root, env, timeoutMs: 240_000 });
  if (r.code !== 0 || r.timedOut) return { ok: false, reason: r.timedOut ? 'timed out' : reasonFrom(r.stderr, `exit ${r.code}`) };
  const i = r.stdout.indexOf('\ndecode ');
  // a blank line between the caption and the table, so that markdown renders the table
  const text = (i >= 0 ? r.stdout.slice(i + 1) : r.stdout).trim().replace(/^(decode [^\n]*)\n\|/, '$1\n\n|');
  return { ok: true, text };
}

// ---------------------------------------------------------------------------------- main
function writeReport(results) {
  fs.mkdirSync(outDir, { recursive: true });
  const md = markdown(results);
  fs.writeFileSync(path.join(outDir, 'latest.md'), md);
  fs.writeFileSync(path.join(outDir, 'latest.svg'), svg(results));
  return md;
}

async function main() {
  if (opt('render', null)) {
    const saved = JSON.parse(fs.readFileSync(opt('render'), 'utf8'));
    // recompute medians and ratios from the rounds, so a report always follows this code's method
    for (const c of [...saved.echo, ...saved.http, ...(saved.redis ?? []), ...(saved.proxy ?? []), ...(saved.tls ?? []), ...(saved.multicore ?? []), ...(saved.multicoreHttp ?? [])]) {
      for (const r of c.rows) r.notes = (r.notes ?? []).filter((n) => !/rounds failed|datagrams lost|no ratio/.test(n));
      summarize(c.case, c.rows, c.rows.find((r) => r.isBaseline)?.comp.id);
    }
    writeReport(saved);
    console.log(`bench: wrote ${rel(path.join(outDir, 'latest.md'))} and latest.svg from ${opt('render')}`);
    return;
  }
  installExitHooks();
  console.log(`bench: ${profile} run; ${plan.note}`);
  build();
  if (!fs.existsSync(LOADGEN)) {
    console.error(`bench: ${rel(LOADGEN)} is missing and could not be built; nothing to measure with`);
    process.exit(1);
  }
  deadline = now() + timeLimitS * 1000;
  const meta = machine();
  const results = { meta, echo: [], http: [], redis: [], proxy: [], tls: [], multicore: [], multicoreHttp: [], idle: null, micro: null, notes };
  const pick = (list) => (serverFilter ? list.filter((c) => serverFilter.includes(c.id)) : list);

  if (runMicro) results.micro = await runMicroBench();
  // quick: node:cluster only in the full run (on this 2-core machine its workers share the one server CPU anyway)
  const echoComps = pick(echoCompetitors(root, { loops })).filter((c) => full || serverFilter || only || c.id !== 'net-cluster');
  for (const proto of ['tcp', 'udp', 'unix']) {
    const group = cases.filter((c) => c.kind === 'echo' && c.proto === proto).sort((a, b) => a.conns - b.conns || a.size - b.size);
    if (group.length === 0) continue;
    const comps = echoComps.filter((c) => c.protos.includes(proto));
    results.echo.push(...(await runEchoGroup(proto, group, comps)));
  }
  // keep the report in the case order of the matrix
  results.echo.sort((a, b) => cases.indexOf(a.case) - cases.indexOf(b.case));

  const httpGroup = cases.filter((c) => c.kind === 'http');
  if (httpGroup.length) {
    results.httpNote =
      `\`wrk -t1 -c${HTTP_CONNS} -d${Math.max(1, Math.round(duration))}s --timeout 8 --latency\` against GET /plaintext ` +
      `(pipelined: \`-s bench/pipeline.lua -- ${PIPELINE_DEPTH}\`, as gnet's bench-http.sh), 1 s warm-up first. ` +
      'zgnet runs examples/http-server.ts; the minimal net server is bench/servers/net-http.mjs. Latency percentiles are per wrk request (a pipelined batch counts once).';
    results.http = await runHttpGroup(httpGroup, pick(httpCompetitors(root, { loops })));
  }
  const redisGroup = cases.filter((c) => c.kind === 'redis');
  if (redisGroup.length) {
    results.redisNote =
      `\`redis-benchmark -c ${REDIS_CLIENTS} -P 1|${PIPELINE_DEPTH} -t set|get --csv\`, one test per run, about ${duration} s each ` +
      '(-n from the rate of a discarded warm-up run first). zgnet runs examples/redis-server.ts; the node:net baseline (bench/servers/net-redis.ts) runs the same parser and ' +
      'commands (examples/redis-commands.ts), so only the I/O differs; redis-server is Debian\'s, started with --save \'\' --appendonly no. ' +
      'Latency percentiles are redis-benchmark\'s, per request.';
    results.redis = await runRedisGroup(redisGroup, pick(redisCompetitors(root, { loops })));
  }
  const multicoreGroup = cases.filter((c) => c.kind === 'multicore');
  if (multicoreGroup.length) {
    const work = calibrate(20);
    results.multicoreNote =
      `The handler is a module (bench/servers/zgnet-work-handler.mjs): in wasm mode each of the 2 loops is a worker process; native mode keeps its loops in its one process. Handler work: ` +
      `${work} xorshift iterations per 64 B (bench/servers/work.mjs, calibrated to about 20 µs in this run), the same in every server. ` +
      'Server and load generator are not pinned: they share every CPU. Ratios are to zgnet wasm on 1 loop in the same rounds.';
    results.multicore = [];
    for (const kase of multicoreGroup) {
      results.multicore.push(...(await runMulticoreCase(kase, pick(multicoreCompetitors(root, { work: kase.workUs > 0 ? work : 0 })))));
    }
  }
  const multicoreHttpGroup = cases.filter((c) => c.kind === 'multicore-http');
  const multicoreHttpComps = pick(multicoreHttpCompetitors(root));
  if (multicoreHttpGroup.length && multicoreHttpComps.length) {
    results.multicoreHttpNote =
      `\`wrk -t1 -c${HTTP_CONNS} -d${Math.max(1, Math.round(multicoreSeconds))}s --timeout 8 --latency -s bench/pipeline.lua -- ${PIPELINE_DEPTH}\` against GET /plaintext, 1 s warm-up first. ` +
      'zgnet runs examples/http-server.ts, whose handler is a module (examples/http-handler.ts): in wasm mode each of the 2 loops is a worker process; native mode keeps its loops in its one process. ' +
      'node:http runs behind node:cluster with 2 workers (bench/servers/node-http.mjs --workers 2). ' +
      'Server and wrk are not pinned: they share every CPU. Ratios are to node:http + cluster ×2 in the same rounds.';
    results.multicoreHttp = await runHttpGroup(multicoreHttpGroup, multicoreHttpComps, { what: 'multicore-http', baseId: 'node-http-cluster-2' });
  }
  const proxyGroup = cases.filter((c) => c.kind === 'proxy');
  if (proxyGroup.length) {
    results.proxyNote =
      'Ping-pong echo through `zgnet-loadgen` → the proxy → the C echo server (bench/tools/c_echo.c, on the load generator\'s CPU; the proxy has the ' +
      'server CPU to itself); every byte verified. HAProxy: `mode tcp`, `nbthread 1`; the baseline is a node:net pipe proxy (bench/servers/net-proxy.mjs).';
    results.proxy = await runProxyGroup(proxyGroup, pick(proxyCompetitors(root)));
  }
  const tlsGroup = cases.filter((c) => c.kind === 'tls');
  if (tlsGroup.length) {
    const files = tlsCertFiles();
    results.tlsNote =
      'Through `zgnet-tls-loadgen` (bench/tools/tls_loadgen.c, the system\'s OpenSSL, one thread with epoll): echo ping-pong over TLS 1.3 with every byte verified, ' +
      `and full handshakes (no tickets, no session cache: ${tlsGroup.find((c) => c.mode === 'handshake')?.threads ?? 8} client threads each connecting, handshaking, echoing one byte, closing). ` +
      'Self-signed P-256 certificate. CPU s/M is the server\'s over the whole run per million messages or handshakes.';
    results.tls = files.na ? [] : await runTlsGroup(tlsGroup, pick(tlsCompetitors(root, { loops, ...files })));
    if (files.na) notes.push(`TLS cases not run: ${files.na}`);
  }
  if (cases.some((c) => c.kind === 'idle')) {
    results.idle = await runIdle(pick(echoCompetitors(root, { loops })).filter((c) => ['zgnet-native', 'zgnet-wasm', 'net', 'bun', 'c-epoll'].includes(c.id)));
  }

  meta.seconds = Math.round((now() - started) / 1000);
  const md = writeReport(results);
  fs.mkdirSync(path.join(outDir, 'raw'), { recursive: true });
  fs.writeFileSync(path.join(outDir, 'raw', 'latest.json'), JSON.stringify(results, (k, v) => (k === 'argv' || k === 'needs' ? undefined : v), 2));
  console.log(`\n${md}`);
  console.log(`bench: ${meta.seconds} s; wrote ${rel(path.join(outDir, 'latest.md'))}, ${rel(path.join(outDir, 'latest.svg'))}, ${rel(path.join(outDir, 'raw', 'latest.json'))}`);
}

await main();
process.exit(0);
