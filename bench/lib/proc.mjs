// Process plumbing for the benchmark runner: servers in their own process group (so one kill
// reaches a cluster's workers too), readiness from a "listening <addr>" line, bounded waits,
// CPU pinning, and what /proc says about a server (CPU time, RSS) including its children.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';

/** Every process group we started and have not seen exit: killed on any way out. */
const live = new Map(); // pid -> ChildProcess

/** Files to remove on the way out (unix socket paths of servers killed before they could). */
const leftovers = new Set();
export function removeOnExit(file) {
  leftovers.add(file);
}

export function killAllNow() {
  for (const pid of live.keys()) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  live.clear();
  for (const f of leftovers) fs.rmSync(f, { force: true });
  leftovers.clear();
}

let hooked = false;
export function installExitHooks() {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}: stopping every server and load generator`);
      killAllNow();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    console.error('bench: uncaught exception:', err);
    killAllNow();
    process.exit(1);
  });
}

export function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** CPU sets: the server gets every CPU but the last, the load generator the last one. */
export function cpuPlan() {
  const n = os.availableParallelism();
  const taskset = which('taskset');
  if (!taskset || n < 2) return { taskset: null, server: null, client: null, serverCpus: n, note: taskset ? 'one CPU: not pinned' : 'taskset not found: not pinned' };
  const server = n === 2 ? '0' : `0-${n - 2}`;
  return { taskset, server, client: String(n - 1), serverCpus: n - 1, note: `server on CPU ${server}, load generator on CPU ${n - 1}` };
}

/** argv prefixed with taskset (and prlimit for a file-descriptor limit) where available. */
export function wrap(argv, { cpus = null, nofile = 0 } = {}) {
  let out = argv;
  if (cpus !== null && which('taskset')) out = ['taskset', '-c', cpus, ...out];
  if (nofile > 0) {
    const prlimit = which('prlimit');
    if (prlimit) out = [prlimit, `--nofile=${nofile}:${nofile}`, ...out];
    else out = ['sh', '-c', `ulimit -n ${nofile} && exec "$@"`, 'sh', ...out];
  }
  return out;
}

function lastLines(text, n = 3) {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && !/^node:internal|^\^+$|^Node\.js v/.test(l))
    .slice(-n);
}

/** A short reason out of a stderr transcript: the most telling line. */
export function reasonFrom(stderr, fallback) {
  const lines = lastLines(stderr, 12);
  const err = lines.find((l) => /Error|error:|ERR_|not (found|registered)|cannot|Cannot|failed/.test(l));
  const pick = err ?? lines[lines.length - 1] ?? fallback;
  return pick.length > 140 ? `${pick.slice(0, 137)}...` : pick;
}

/**
 * Starts a server in its own process group and waits for its "listening <addr>" line (or a line
 * matching readyRe; or, with `probe`, until probe() resolves true: for a server that prints
 * nothing when ready). Resolves { proc, pid, line, stderr() } or rejects with Error(reason)
 * (the server is killed).
 */
export function startServer(argv, { cwd, env, readyMs = 20_000, label, readyRe = /^listening (\S+)\s*$/m, probe }) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const server = {
      proc: child,
      pid: child.pid,
      label,
      exited: null,
      stderr: () => stderr,
      exitPromise: new Promise((res) => child.once('exit', (code, signal) => res({ code, signal }))),
    };
    if (child.pid) live.set(child.pid, child);
    const fail = (reason) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(child.pid, 'SIGKILL');
      reject(new Error(reason));
    };
    const timer = setTimeout(() => fail(`not ready after ${readyMs / 1000} s${stderr ? `: ${reasonFrom(stderr, '')}` : ''}`), readyMs);
    child.on('error', (err) => fail(`cannot start: ${err.message}`));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-16_384);
    });
    const ready = (m) => {
      settled = true;
      clearTimeout(timer);
      server.line = m[1];
      server.match = m;
      resolve(server);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      if (settled || probe) return; // keep draining the pipe, ignore the rest
      stdout += d;
      const m = readyRe.exec(stdout);
      if (m) ready(m);
    });
    if (probe) {
      (async () => {
        while (!settled) {
          if (!server.exited && (await probe())) {
            if (!settled) ready(['', '']);
            return;
          }
          await delay(50);
        }
      })();
    }
    child.once('exit', (code, signal) => {
      server.exited = { code, signal };
      live.delete(child.pid);
      // let stderr finish arriving before explaining why
      setTimeout(() => fail(`exited before it was ready (${signal ?? `exit ${code}`}): ${reasonFrom(stderr, 'no output')}`), 50);
    });
  });
}

export function killGroup(pid, signal) {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {}
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port on 127.0.0.1 free right now (for servers that cannot bind port 0 and say which port they got). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a TCP connection to host:port is accepted within timeoutMs. */
export function canConnect(addr, timeoutMs = 500) {
  const colon = addr.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = net.connect(Number(addr.slice(colon + 1)), addr.slice(0, colon));
    const done = (ok) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * SIGTERM (or `signal`) to the server's process group, SIGKILL after graceMs. Returns how it ended:
 * { clean: exited 0 within the grace period, how: text }.
 */
export async function stopServer(server, graceMs = 3000, signal = 'SIGTERM') {
  if (!server) return { clean: true, how: 'not running' };
  if (server.exited) {
    live.delete(server.pid);
    return { clean: false, how: `had already exited (${server.exited.signal ?? `exit ${server.exited.code}`})` };
  }
  killGroup(server.pid, signal);
  const r = await Promise.race([server.exitPromise, delay(graceMs).then(() => null)]);
  // whatever happened, nothing of this group survives (cluster workers included)
  killGroup(server.pid, 'SIGKILL');
  live.delete(server.pid);
  if (r === null) {
    await Promise.race([server.exitPromise, delay(2000)]);
    return { clean: false, how: `did not exit within ${graceMs / 1000} s of ${signal} (killed)` };
  }
  // every server here handles its stop signal itself: dying of it means its handler never ran
  const clean = r.code === 0;
  return { clean, how: r.signal ? `killed by ${r.signal} (its own ${signal} handling did not run)` : `exit ${r.code} on ${signal}` };
}

/**
 * Runs a command to completion with a time limit (its own process group, killed on timeout).
 * Resolves { code, signal, stdout, stderr, timedOut, ms }.
 */
export function runBounded(argv, { cwd, env, timeoutMs, onSpawn } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(argv[0], argv.slice(1), { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid) live.set(child.pid, child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout = (stdout + d).slice(-262_144);
    });
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-65_536);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      live.delete(child.pid);
      resolve({ code: null, signal: null, stdout, stderr: `${stderr}\n${err.message}`, timedOut, ms: Date.now() - started });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child.pid);
      killGroup(child.pid, 'SIGKILL');
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started });
    });
    if (onSpawn) onSpawn(child);
  });
}

// ---------------------------------------------------------------------------------- /proc

/** pid and all its descendants (a cluster's workers). */
export function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let kids = [];
    try {
      for (const tid of fs.readdirSync(`/proc/${out[i]}/task`)) {
        const text = fs.readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (text) kids.push(...text.split(/\s+/).map(Number));
      }
    } catch {}
    for (const k of kids) if (!out.includes(k)) out.push(k);
  }
  return out;
}

const TICK = 100; // USER_HZ: /proc/PID/stat counts in 1/100 s on Linux

/** utime+stime in seconds of one process (all its threads), or null if gone. */
export function cpuSeconds(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return null;
  }
}

export function treeCpuSeconds(pid) {
  let sum = 0;
  for (const p of processTree(pid)) sum += cpuSeconds(p) ?? 0;
  return sum;
}

function statusKb(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Sum over the process tree of VmHWM (peak RSS) or VmRSS, in KiB; null if unreadable. */
export function treeMemKb(pid, field = 'VmHWM') {
  let sum = 0;
  let any = false;
  for (const p of processTree(pid)) {
    const v = statusKb(p, field);
    if (v !== null) {
      sum += v;
      any = true;
    }
  }
  return any ? sum : null;
}

/** Resets the peak-RSS counter (VmHWM) of the tree: `echo 5 > /proc/PID/clear_refs`. */
export function resetPeakRss(pid) {
  let ok = true;
  for (const p of processTree(pid)) {
    try {
      fs.writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

/**
 * Samples the tree's CPU time every intervalMs, so a multi-process server's CPU over the load
 * generator's measured window can be read back afterwards (the load generator's --server-pid
 * sees one process only). cpuBetween(t0, t1) interpolates between samples (Date.now() ms).
 */
export function cpuSampler(pid, intervalMs = 50) {
  const samples = [];
  const take = () => samples.push([performance.timeOrigin + performance.now(), treeCpuSeconds(pid)]);
  take();
  const timer = setInterval(take, intervalMs);
  const at = (t) => {
    if (samples.length === 0) return null;
    if (t <= samples[0][0]) return samples[0][1];
    for (let i = 1; i < samples.length; i++) {
      const [ta, ca] = samples[i - 1];
      const [tb, cb] = samples[i];
      if (t <= tb) return ca + ((cb - ca) * (t - ta)) / Math.max(1e-9, tb - ta);
    }
    return samples[samples.length - 1][1];
  };
  return {
    stop() {
      take();
      clearInterval(timer);
    },
    cpuBetween(t0, t1) {
      const a = at(t0);
      const b = at(t1);
      return a === null || b === null ? null : b - a;
    },
  };
}

export const now = () => performance.timeOrigin + performance.now();
export { delay };
