// TCP proxy on node:net, as a Node user would write it: each accepted socket opens its
// upstream connection and the two are piped both ways (pipe() pauses a side whose peer's
// write buffer is full, so nothing is buffered without bound). The proxy benchmark's baseline.
//   node bench/servers/net-proxy.mjs --listen 127.0.0.1:0 --upstream 127.0.0.1:9000
// Prints "listening <host:port>"; SIGTERM/SIGINT close everything and exit 0.
import net from 'node:net';
import { arg, listenTarget, printListening } from './common.mjs';

const upstream = listenTarget('tcp', arg('upstream', ''));
const sockets = new Set();

const server = net.createServer({ noDelay: true }, (client) => {
  const back = net.connect({ ...upstream, noDelay: true });
  for (const s of [client, back]) {
    sockets.add(s);
    s.on('error', () => {}); // a reset on either side closes both, below
    s.on('close', () => {
      sockets.delete(s);
      client.destroy();
      back.destroy();
    });
  }
  client.pipe(back);
  back.pipe(client);
});
server.on('error', (err) => {
  console.error(`net-proxy: ${err.code ?? ''} ${err.message}`);
  process.exit(1);
});
server.listen(listenTarget('tcp', arg('listen', '127.0.0.1:0')), () => printListening(server));

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    for (const s of sockets) s.destroy();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
