// A minimal HTTP/1.1 plaintext server straight on node:net, the way one writes it to go faster
// than node:http: keep-alive, pipelined requests answered in order in one write, bad requests
// get 400 and a close. GET /plaintext -> "Hello, World!".
//   node bench/servers/net-http.mjs [--addr 127.0.0.1:0]
// Prints "listening <host:port>"; SIGTERM/SIGINT exit 0.
import net from 'node:net';
import { arg, listenTarget, printListening } from './common.mjs';

const MAX_HEAD = 8192;
let date = new Date().toUTCString();
let ok = response(200, 'OK', 'Hello, World!');
setInterval(() => {
  date = new Date().toUTCString();
  ok = response(200, 'OK', 'Hello, World!');
}, 1000).unref();
const BAD = Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request');

function response(status, text, body) {
  return Buffer.from(
    `HTTP/1.1 ${status} ${text}\r\nServer: net\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nDate: ${date}\r\n\r\n${body}`,
  );
}

const server = net.createServer({ noDelay: true }, (socket) => {
  let pending = null;
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    const out = [];
    let pos = 0;
    let close = false;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n', pos, 'latin1');
      if (end < 0) {
        if (buf.length - pos > MAX_HEAD) {
          out.push(BAD);
          close = true;
        }
        break;
      }
      const head = buf.latin1Slice(pos, end);
      const lineEnd = head.indexOf('\r\n');
      const line = lineEnd < 0 ? head : head.slice(0, lineEnd);
      const m = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/.exec(line);
      if (!m) {
        out.push(BAD);
        close = true;
        break;
      }
      let length = 0;
      let keepAlive = m[3] === '1';
      let bad = false;
      if (lineEnd >= 0) {
        for (const h of head.slice(lineEnd + 2).split('\r\n')) {
          const colon = h.indexOf(':');
          if (colon <= 0) {
            bad = true;
            break;
          }
          const name = h.slice(0, colon).toLowerCase();
          const value = h.slice(colon + 1).trim();
          if (name === 'content-length') {
            if (!/^\d{1,9}$/.test(value)) bad = true;
            else length = Number(value);
          } else if (name === 'transfer-encoding') bad = true;
          else if (name === 'connection') keepAlive = value.toLowerCase() === 'close' ? false : value.toLowerCase() === 'keep-alive' ? true : keepAlive;
        }
      }
      if (bad) {
        out.push(BAD);
        close = true;
        break;
      }
      if (buf.length < end + 4 + length) break; // body not all here yet
      pos = end + 4 + length;
      out.push(m[2] === '/plaintext' ? ok : response(404, 'Not Found', 'Not Found'));
      if (!keepAlive) {
        close = true;
        break;
      }
    }
    pending = pos < buf.length && !close ? Buffer.from(buf.subarray(pos)) : null;
    if (out.length === 1) socket.write(out[0]);
    else if (out.length > 1) socket.write(Buffer.concat(out));
    if (close) socket.end();
  });
});
server.on('error', (err) => {
  console.error(`net-http: ${err.code ?? ''} ${err.message}`);
  process.exit(1);
});
server.listen(listenTarget('tcp', arg('addr', '')), () => printListening(server));
for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => process.exit(0));
