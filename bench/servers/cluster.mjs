// node:cluster as the benchmark's Node servers use it (net-cluster-echo.mjs, node-http.mjs
// --workers): the primary forks `workers` processes that all listen on `target` (the primary
// hands connections out round-robin, Node's default on Linux), prints "listening <addr>" once
// every worker listens, and owns shutdown: SIGTERM/SIGINT kill the workers, then exit 0.
import cluster from 'node:cluster';
import { formatAddress, removeStale } from './common.mjs';

/**
 * In the primary: forks the workers and returns. In a worker: calls `serve(target)`, which
 * listens on it. `name` prefixes the message of a worker that died.
 */
export function clustered(name, workers, target, serve) {
  if (!cluster.isPrimary) {
    // the primary owns shutdown; a SIGTERM to the whole group must not kill a worker first
    process.on('SIGTERM', () => {});
    process.on('SIGINT', () => {});
    serve(JSON.parse(process.env.ZGNET_BENCH_TARGET));
    return;
  }
  removeStale(target);
  let listening = 0;
  let shown = false;
  let stopping = false;
  cluster.on('listening', (_worker, address) => {
    listening++;
    if (listening === workers && !shown) {
      shown = true;
      const a = address.addressType === -1 ? address.address : formatAddress({ address: address.address, port: address.port, family: address.addressType });
      process.stdout.write(`listening ${a}\n`);
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`${name}: worker ${worker.process.pid} died (${signal ?? code})`);
      process.exit(1);
    }
  });
  for (let i = 0; i < workers; i++) cluster.fork({ ZGNET_BENCH_TARGET: JSON.stringify(target) });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.once(sig, () => {
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      setTimeout(() => process.exit(0), 100);
    });
  }
}
