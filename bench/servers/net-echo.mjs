// Echo server on node:net, as a Node user would write it: write back every 'data' chunk.
//   node bench/servers/net-echo.mjs --proto tcp|unix [--addr 127.0.0.1:0 | /tmp/x.sock]
// Prints "listening <host:port | path>"; SIGTERM/SIGINT close everything and exit 0.
import net from 'node:net';
import { arg, listenTarget, printListening, removeStale, stopOnSignal } from './common.mjs';

const proto = arg('proto', 'tcp');
const target = listenTarget(proto, arg('addr', ''));
const sockets = new Set();

const server = net.createServer({ noDelay: true }, (socket) => {
  sockets.add(socket);
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => {}); // a reset peer must not kill the server
  socket.on('close', () => sockets.delete(socket));
});
server.on('error', (err) => {
  console.error(`net-echo: ${err.code ?? ''} ${err.message}`);
  process.exit(1);
});
removeStale(target);
server.listen(target, () => printListening(server));

stopOnSignal(server, sockets);
