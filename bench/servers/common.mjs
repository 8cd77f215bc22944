// Shared by the plain-Node benchmark servers: arguments, where to listen, the "listening" line.
import fs from 'node:fs';

export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** net's listen() target: { host, port } for tcp, { path } for unix. */
export function listenTarget(proto, addr) {
  if (proto === 'unix') {
    if (!addr) {
      console.error('--addr /path.sock is required for unix');
      process.exit(2);
    }
    return { path: addr };
  }
  const a = addr || '127.0.0.1:0';
  const colon = a.lastIndexOf(':');
  const host = a.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(a.slice(colon + 1)) };
}

export function removeStale(target) {
  if (!target.path) return;
  try {
    if (fs.lstatSync(target.path).isSocket()) fs.unlinkSync(target.path);
  } catch {}
}

export function formatAddress(address) {
  if (typeof address === 'string') return address;
  return address.family === 'IPv6' || address.family === 6 ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

export function printListening(server) {
  process.stdout.write(`listening ${formatAddress(server.address())}\n`);
}

/** SIGTERM/SIGINT: destroy the open sockets, close the server, exit 0 (at most 1 s later). */
export function stopOnSignal(server, sockets) {
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.once(sig, () => {
      for (const s of sockets) s.destroy();
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 1000).unref();
    });
  }
}
