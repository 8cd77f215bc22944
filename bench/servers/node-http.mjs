// HTTP/1.1 plaintext server on node:http (what a Node user picks): GET /plaintext -> "Hello, World!".
//   node bench/servers/node-http.mjs [--addr 127.0.0.1:0] [--workers N]
// --workers N: N processes behind node:cluster (bench/servers/cluster.mjs), as a Node user
// would use N cores; without it, one process.
// Prints "listening <host:port>"; SIGTERM/SIGINT exit 0.
import http from 'node:http';
import { clustered } from './cluster.mjs';
import { arg, listenTarget, printListening } from './common.mjs';

const BODY = 'Hello, World!';

function serve(target, onListening) {
  const server = http.createServer((req, res) => {
    if (req.url === '/plaintext') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length, Server: 'node' });
      res.end(BODY);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 9 });
      res.end('Not Found');
    }
  });
  server.keepAliveTimeout = 60_000;
  server.on('error', (err) => {
    console.error(`node-http: ${err.code ?? ''} ${err.message}`);
    process.exit(1);
  });
  server.listen(target, () => onListening?.(server));
}

const target = listenTarget('tcp', arg('addr', ''));
const workers = Number(arg('workers', '0'));
if (workers > 0) clustered('node-http', workers, target, (t) => serve(t));
else {
  serve(target, printListening);
  for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => process.exit(0));
}
