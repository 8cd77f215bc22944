// stop() with clients mid-transfer (issue "One seam": the one flush-on-close bound, both modes):
// 100 clients each ask for 8 MiB, which the server writes at once; each reads its first bytes and
// then stops reading, so most of it is still queued in the server when its engine is stopped;
// 100 ms later the clients read again. Prints, per mode, the bytes write() accepted against the
// bytes the clients received before the end of their stream, and how long the flush took.
// The server runs in a process of its own (bench/servers/flush-server.ts). `npm run build` first.
//   node bench/flush-on-stop.mjs [--clients 100]
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--clients');
const clients = i > 0 ? Number(process.argv[i + 1]) : 100;
const perClient = 8 * 1024 * 1024;

async function measure(mode) {
  const server = spawn(process.execPath, [path.join(root, 'dist', 'bench', 'servers', 'flush-server.js'), mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  server.stdout.on('data', (d) => (out += d));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode}: server not ready`)), 15_000);
    server.stdout.on('data', () => {
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  const received = new Array(clients).fill(0);
  let resumed = false;
  const ended = [];
  const sockets = [];
  for (let k = 0; k < clients; k++) {
    const s = net.connect({ host: '127.0.0.1', port });
    // Each client reads its first bytes, then stops reading until the server is told to stop:
    // what it was sent is still queued in the server when stop() runs.
    s.on('data', (d) => {
      received[k] += d.length;
      if (!resumed) s.pause();
    });
    s.on('error', () => {});
    ended.push(new Promise((resolve) => s.on('close', resolve)));
    s.write('go');
    sockets.push(s);
  }
  const deadline = Date.now() + 30_000;
  while (received.some((n) => n === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const midTransfer = received.filter((n) => n < perClient).length;
  server.stdin.write('stop\n');
  await new Promise((r) => setTimeout(r, 100));
  resumed = true;
  for (const s of sockets) s.resume();
  await Promise.race([Promise.all(ended), new Promise((r) => setTimeout(r, 60_000))]);
  await new Promise((resolve) => (server.exitCode !== null ? resolve() : server.once('exit', resolve)));
  const stoppedMs = Number(/stopped (\d+)/.exec(out)?.[1] ?? NaN);
  const total = received.reduce((a, b) => a + b, 0);
  for (const s of sockets) s.destroy();
  return { mode, midTransfer, complete: received.filter((n) => n === perClient).length, total, stoppedMs };
}

console.log(`| mode | clients mid-transfer at stop() | clients with all 8 MiB | MiB received / accepted | stop() to run() resolved |`);
console.log('|---|---:|---:|---:|---:|');
for (const mode of ['native', 'wasm']) {
  const r = await measure(mode);
  console.log(`| ${r.mode} | ${r.midTransfer} of ${clients} | ${r.complete} | ${(r.total / 1048576).toFixed(0)} / ${(clients * perClient) / 1048576} | ${r.stoppedMs} ms |`);
}
