// Echo server on node:tls, as a Node user would write it: write back every 'data' chunk.
//   node bench/servers/tls-echo.mjs --addr 127.0.0.1:0 --tls-cert FILE --tls-key FILE
// Prints "listening <host:port>"; SIGTERM/SIGINT close everything and exit 0.
import fs from 'node:fs';
import tls from 'node:tls';
import { arg, listenTarget, printListening, stopOnSignal } from './common.mjs';

const target = listenTarget('tcp', arg('addr', ''));
const sockets = new Set();
const server = tls.createServer({ cert: fs.readFileSync(arg('tls-cert', '')), key: fs.readFileSync(arg('tls-key', '')), noDelay: true }, (socket) => {
  sockets.add(socket);
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => {}); // a reset peer must not kill the server
  socket.on('close', () => sockets.delete(socket));
});
server.on('tlsClientError', () => {}); // a failed handshake concerns that client only
server.on('error', (err) => {
  console.error(`tls-echo: ${err.code ?? ''} ${err.message}`);
  process.exit(1);
});
server.listen(target, () => printListening(server));

stopOnSignal(server, sockets);
