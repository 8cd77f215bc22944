// Runs bench/servers/memory-bound.ts for every server × case, one after another, and prints a
// table: how much RSS a peer that never reads (slow-reader) or a handler that never reads
// (idle-handler) costs zgnet native, zgnet wasm and node:net. `npm run build` first.
//   node bench/memory-bound.mjs
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const script = path.join(root, 'dist', 'bench', 'servers', 'memory-bound.js');
const servers = [['zgnet', 'native'], ['zgnet', 'wasm'], ['net', 'native']];
const rows = [];
for (const which of ['slow-reader', 'idle-handler']) {
  for (const [server, mode] of servers) {
    const r = spawnSync(process.execPath, [script, '--case', which, '--server', server, '--mode', mode], { encoding: 'utf8', timeout: 60_000 });
    const line = r.stdout.trim().split('\n').pop();
    rows.push(line ? JSON.parse(line) : { case: which, server: `${server} ${mode}`, error: r.stderr.trim() || `exit ${r.status}` });
  }
}
console.log('| case | server | RSS grew (MiB) | accepted / held (MiB) |');
console.log('|---|---|---:|---:|');
for (const r of rows) console.log(`| ${r.case} | ${r.server} | ${r.grewMiB ?? r.error} | ${r.acceptedOrHeldMiB ?? ''} |`);
