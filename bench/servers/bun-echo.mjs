// Echo server on Bun (run by bun, not node): Bun.listen (uSockets) for TCP and Unix sockets,
// Bun.udpSocket for UDP, as a Bun user would write it. Bun's write() returns how many bytes the
// kernel took; the rest is kept and sent again from `drain`, so every byte goes back.
//   bun bench/servers/bun-echo.mjs --proto tcp|udp|unix [--addr 127.0.0.1:0 | /tmp/x.sock]
//       [--tls-cert FILE --tls-key FILE]   (tcp: Bun.listen({ tls }))
// Prints "listening <host:port | path>"; SIGTERM/SIGINT stop it and exit 0.
import fs from 'node:fs';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const proto = arg('proto', 'tcp');
const addr = arg('addr', '127.0.0.1:0');
const colon = addr.lastIndexOf(':');
const hostname = addr.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
const port = Number(addr.slice(colon + 1));
const show = (h, p) => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`);

/** Writes what the kernel takes now; the rest waits in socket.data.pending for `drain`. */
function send(socket, bytes) {
  if (socket.data.pending) {
    socket.data.pending = Buffer.concat([socket.data.pending, bytes]);
    return;
  }
  const n = socket.write(bytes);
  if (n < bytes.length) socket.data.pending = Buffer.from(bytes.subarray(Math.max(0, n))); // a copy: Bun reuses its read buffer
}

const handlers = {
  open(socket) {
    socket.data = { pending: null };
    socket.setNoDelay?.(true);
  },
  data: (socket, bytes) => send(socket, bytes),
  drain(socket) {
    const rest = socket.data.pending;
    if (!rest) return;
    socket.data.pending = null;
    send(socket, rest);
  },
  error() {}, // a reset peer must not stop the server
  close() {},
};

let stop;
if (proto === 'udp') {
  const waiting = []; // datagrams the kernel refused (send() false), sent again from drain
  const socket = await Bun.udpSocket({
    hostname,
    port,
    socket: {
      data(sock, buf, rport, raddr) {
        if (waiting.length || !sock.send(buf, rport, raddr)) waiting.push([Buffer.from(buf), rport, raddr]);
      },
      drain(sock) {
        while (waiting.length && sock.send(...waiting[0])) waiting.shift();
      },
      error() {}, // an ICMP error from a client that went away must not stop the server
    },
  });
  process.stdout.write(`listening ${show(socket.hostname ?? hostname, socket.port)}\n`);
  stop = () => socket.close();
} else if (proto === 'unix') {
  try {
    if (fs.lstatSync(addr).isSocket()) fs.unlinkSync(addr);
  } catch {}
  const server = Bun.listen({ unix: addr, socket: handlers });
  process.stdout.write(`listening ${addr}\n`);
  stop = () => server.stop(true);
} else {
  const certFile = arg('tls-cert', '');
  const tls = certFile === '' ? undefined : { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(arg('tls-key', ''), 'utf8') };
  const server = Bun.listen({ hostname, port, socket: handlers, ...(tls ? { tls } : {}) });
  process.stdout.write(`listening ${show(hostname, server.port)}\n`);
  stop = () => server.stop(true);
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    stop();
    process.exit(0);
  });
}
