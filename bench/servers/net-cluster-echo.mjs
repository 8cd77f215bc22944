// The net echo server behind node:cluster (bench/servers/cluster.mjs): WORKERS processes share
// the address, the primary hands connections out round-robin.
//   node bench/servers/net-cluster-echo.mjs --proto tcp|unix [--addr ...] [--workers 2] [--work ITERATIONS]
// --work: the multicore benchmark's CPU-bound handler (bench/servers/work.mjs) before each echo.
// Prints "listening <addr>" once every worker listens; SIGTERM/SIGINT stop the workers, exit 0.
import net from 'node:net';
import { clustered } from './cluster.mjs';
import { arg, listenTarget } from './common.mjs';
import { workFor } from './work.mjs';

const proto = arg('proto', 'tcp');
const work = Number(arg('work', '0'));
let sink = 0;

clustered('net-cluster-echo', Number(arg('workers', '2')), listenTarget(proto, arg('addr', '')), (target) => {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('data', (data) => {
      if (work > 0) sink ^= workFor(data.length, work);
      socket.write(data);
    });
    socket.on('error', () => {});
  });
  server.listen(target);
  process.on('exit', () => sink === 0.5 && console.log(sink)); // keeps the work observable
});
