// The load generators side by side on the same echo server: bench/tools/loadgen.c (C epoll)
// and bench/client-loadgen.ts (zgnet's Client, native and wasm mode). The server runs on
// CPU 0, the load generator on CPU 1 (taskset), so on a 2-core machine the load generator
// is what is measured when the server is the C echo server (the ceiling).
//
//   node bench/loadgen-compare.mjs [--rounds 5] [--duration 2] [--warmup 0.5]
//        [--servers c-echo,zgnet-native] [--only REGEX] [--out FILE.json]
//
// Each round runs every load generator once per case, in an order rotated each round; the
// report is the median per load generator and the median of the per-round ratios to C.
// Needs `npm run build` first (zig-out/bin/zgnet-loadgen, zig-out/bin/c-echo, dist/).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuPlan, installExitHooks, runBounded, startServer, stopServer, wrap } from './lib/proc.mjs';
import { median } from './lib/report.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const rounds = Number(opt('rounds', '5'));
const duration = Number(opt('duration', '2'));
const warmup = Number(opt('warmup', '0.5'));
const only = opt('only', null) ? new RegExp(opt('only')) : null;
const serverIds = opt('servers', 'c-echo,zgnet-native').split(',');
const out = opt('out', null);
const plan = cpuPlan();
installExitHooks();

const node = process.execPath;
const bin = (name) => path.join(root, 'zig-out', 'bin', name);
const servers = {
  'c-echo': ({ proto, addr }) => [bin('c-echo'), '--proto', proto, '--addr', addr],
  'zgnet-native': ({ proto, addr }) => [node, path.join(root, 'dist', 'bench', 'servers', 'zgnet-echo.js'), '--mode', 'native', '--proto', proto, '--addr', addr],
};
const loadgens = [
  { id: 'C loadgen', argv: (a) => [bin('zgnet-loadgen'), ...a] },
  { id: 'zgnet client native', argv: (a) => [node, path.join(root, 'dist', 'bench', 'client-loadgen.js'), '--mode', 'native', ...a] },
  { id: 'zgnet client wasm', argv: (a) => [node, path.join(root, 'dist', 'bench', 'client-loadgen.js'), '--mode', 'wasm', ...a] },
];
const cases = [
  { proto: 'tcp', size: 64, conns: 1 },
  { proto: 'tcp', size: 64, conns: 8 },
  { proto: 'tcp', size: 64, conns: 64 },
  { proto: 'tcp', size: 64, conns: 500 },
  { proto: 'tcp', size: 4096, conns: 64 },
  { proto: 'unix', size: 64, conns: 64 },
  { proto: 'udp', size: 64, conns: 64 },
].map((c) => ({ ...c, id: `${c.proto}-${c.size}B-${c.conns}` }));

const results = [];
for (const serverId of serverIds) {
  for (const c of cases) {
    if (only && !only.test(c.id)) continue;
    const listen = c.proto === 'unix' ? path.join(os.tmpdir(), `zgnet-cmp-${process.pid}.sock`) : '127.0.0.1:0';
    const server = await startServer(wrap(servers[serverId]({ proto: c.proto, addr: listen }), { cpus: plan.server }), { cwd: root, label: serverId });
    const addr = c.proto === 'unix' ? listen : /^\d+$/.test(server.line) ? `127.0.0.1:${server.line}` : server.line.replace(/^[a-z0-9]+:\/\//, '');
    const rows = Object.fromEntries(loadgens.map((l) => [l.id, []]));
    for (let r = 0; r < rounds; r++) {
      const order = loadgens.map((_, i) => loadgens[(i + r) % loadgens.length]);
      for (const lg of order) {
        const a = ['--proto', c.proto, '--addr', addr, '-c', String(c.conns), '-s', String(c.size), '-d', String(duration), '--warmup', String(warmup), '--server-pid', String(server.pid)];
        const run = await runBounded(wrap(lg.argv(a), { cpus: plan.client, nofile: c.conns + 1024 }), { cwd: root, timeoutMs: (duration + warmup + 30) * 1000 });
        const line = run.stdout.trim().split('\n').at(-1) ?? '';
        let json = null;
        try {
          json = JSON.parse(line);
        } catch {}
        if (json === null || run.code !== 0) console.error(`${serverId} ${c.id} ${lg.id} round ${r + 1}: exit ${run.code} ${run.stderr.trim().split('\n').slice(-2).join(' | ')}`);
        rows[lg.id].push(json);
      }
    }
    await stopServer(server);
    if (c.proto === 'unix') fs.rmSync(listen, { force: true });
    for (const lg of loadgens) {
      const runs = rows[lg.id];
      const ok = runs.filter((j) => j !== null);
      const ratios = runs.map((j, i) => (j && rows['C loadgen'][i] ? j.msgs_per_sec / rows['C loadgen'][i].msgs_per_sec : null)).filter((x) => x !== null);
      const row = {
        server: serverId,
        case: c.id,
        loadgen: lg.id,
        msgs_per_sec: median(ok.map((j) => j.msgs_per_sec)),
        ratio_to_c: median(ratios),
        p50_us: median(ok.map((j) => j.p50_us)),
        p99_us: median(ok.map((j) => j.p99_us)),
        client_cpu_s_per_mmsg: ok[0]?.client_cpu_s_per_mmsg === undefined ? null : median(ok.map((j) => j.client_cpu_s_per_mmsg)),
        server_cpu_s_per_mmsg: median(ok.map((j) => j.server_cpu_s_per_mmsg).filter((x) => typeof x === 'number')),
        errors: ok.reduce((n, j) => n + j.errors, 0),
        rounds: runs.map((j) => (j ? Math.round(j.msgs_per_sec) : 'fail')).join(' / '),
      };
      results.push(row);
      const f = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
      console.log(
        `${serverId.padEnd(13)} ${c.id.padEnd(14)} ${lg.id.padEnd(20)} ${f(row.msgs_per_sec).padStart(8)} msgs/s  ${f(row.ratio_to_c, 2)}x  p50 ${f(row.p50_us, 1)} µs  p99 ${f(row.p99_us, 1)} µs  client ${f(row.client_cpu_s_per_mmsg, 2)} s/Mmsg  server ${f(row.server_cpu_s_per_mmsg, 2)} s/Mmsg  [${row.rounds}]`,
      );
    }
  }
}
if (out) fs.writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), loadavg: os.loadavg(), plan, rounds, duration, warmup, results }, null, 2)}\n`);
