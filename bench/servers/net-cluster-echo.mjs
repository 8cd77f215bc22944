// The net echo server behind node:cluster: the primary forks WORKERS processes that all listen
// on the same address (the primary hands connections out round-robin, Node's default on Linux).
//   node bench/servers/net-cluster-echo.mjs --proto tcp|unix [--addr ...] [--workers 2] [--work ITERATIONS]
// --work: the multicore benchmark's CPU-bound handler (bench/servers/work.mjs) before each echo.
// Prints "listening <addr>" once every worker listens; SIGTERM/SIGINT stop the workers, exit 0.
import cluster from 'node:cluster';
import net from 'node:net';
import { arg, formatAddress, listenTarget, removeStale } from './common.mjs';
import { workFor } from './work.mjs';

const proto = arg('proto', 'tcp');
const workers = Number(arg('workers', '2'));
const work = Number(arg('work', '0'));
let sink = 0;

if (cluster.isPrimary) {
  const target = listenTarget(proto, arg('addr', ''));
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
      console.error(`net-cluster-echo: worker ${worker.process.pid} died (${signal ?? code})`);
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
} else {
  const target = JSON.parse(process.env.ZGNET_BENCH_TARGET);
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('data', (data) => {
      if (work > 0) sink ^= workFor(data.length, work);
      socket.write(data);
    });
    socket.on('error', () => {});
  });
  server.listen(target);
  // the primary owns shutdown; a SIGTERM to the whole group must not kill a worker first
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
  process.on('exit', () => sink === 0.5 && console.log(sink)); // keeps the work observable
}
