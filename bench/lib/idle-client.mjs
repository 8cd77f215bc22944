// Holds N idle connections open against an echo server, for the idle-memory measurement.
// Each connection sends one byte and waits for it to come back (proof the server accepted it
// and registered it), then stays silent.
//   node bench/lib/idle-client.mjs --addr HOST:PORT|/path.sock --conns 10000 [--timeout-s 60]
// Prints "ready <established> <failed>" once every connection is up (or the time ran out), then
// waits for SIGTERM/SIGINT (or stdin closing) and exits. Needs RLIMIT_NOFILE > conns.
import net from 'node:net';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const addr = arg('addr', '');
const total = Number(arg('conns', '10000'));
const timeoutMs = Number(arg('timeout-s', '60')) * 1000;
const BATCH = 256;
const target = addr.startsWith('/') ? { path: addr } : { host: addr.slice(0, addr.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1'), port: Number(addr.slice(addr.lastIndexOf(':') + 1)) };

const sockets = [];
let started = 0;
let established = 0;
let failed = 0;
let inFlight = 0;
let reported = false;
let firstError = '';

function report(why) {
  if (reported) return;
  reported = true;
  process.stdout.write(`ready ${established} ${failed}${why ? ` ${why}` : ''}\n`);
  if (firstError) process.stderr.write(`idle-client: first error: ${firstError}\n`);
}

function pump() {
  while (inFlight < BATCH && started < total) {
    started++;
    inFlight++;
    let done = false;
    const finish = (ok, err) => {
      if (done) return;
      done = true;
      inFlight--;
      if (ok) established++;
      else {
        failed++;
        if (!firstError && err) firstError = err.message;
      }
      if (established + failed === total) report();
      else pump();
    };
    const s = net.connect(target, () => s.write('x'));
    s.once('data', () => finish(true));
    s.on('error', (err) => finish(false, err));
    s.on('close', () => finish(false, new Error('closed by the server')));
    sockets.push(s);
  }
}

pump();
setTimeout(() => report('timeout'), timeoutMs).unref();
const stop = () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
setInterval(() => {}, 60_000); // stay alive until told
