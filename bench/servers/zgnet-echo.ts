/**
 * Echo server on zgnet, gnet's benchmark server ported: everything buffered goes straight back
 * (`c.write(c.next())`), one onTraffic per datagram for UDP.
 *
 *   node dist/bench/servers/zgnet-echo.js --mode native|wasm --proto tcp|udp|unix
 *        [--addr 127.0.0.1:0 | /tmp/x.sock] [--loops N] [--tls-cert FILE --tls-key FILE]
 *
 * Prints "listening <addr>" (host:port or the socket path) once bound; SIGTERM/SIGINT stop the
 * engine and exit 0 (exit 1 if the engine does not stop within 5 s).
 */
import fs from 'node:fs';
import { Action, run, type Conn, type Engine, type EventHandler } from '../../host/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const mode = arg('mode', 'native') as 'native' | 'wasm';
const proto = arg('proto', 'tcp');
const addr = arg('addr', proto === 'unix' ? '' : '127.0.0.1:0');
const loops = Number(arg('loops', '1'));
const certFile = arg('tls-cert', '');
const tls = certFile === '' ? undefined : { cert: fs.readFileSync(certFile), key: fs.readFileSync(arg('tls-key', '')) };
if (proto === 'unix' && !addr) {
  console.error('zgnet-echo: --addr /path.sock is required for unix');
  process.exit(2);
}

/** What the load generator takes: host:port, [v6]:port or the unix path. */
function plain(protoAddr: string): string {
  return protoAddr.replace(/^[a-z0-9]+:\/\//, '');
}

const handler: EventHandler = {
  onBoot(engine: Engine) {
    process.stdout.write(`listening ${plain(engine.addrs[0] ?? '')}\n`);
    return Action.None;
  },
  onTraffic(c: Conn) {
    const data = c.next();
    if (data !== null && data.length > 0) c.write(data);
    return Action.None;
  },
};

const stop = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    stop.abort();
    setTimeout(() => {
      console.error('zgnet-echo: the engine did not stop within 5 s of SIGTERM');
      process.exit(1);
    }, 5000).unref();
  });
}

try {
  await run(handler, `${proto}://${addr}`, {
    mode,
    numEventLoop: loops,
    tcpNoDelay: true,
    logLevel: 'warn',
    signal: stop.signal,
    tls,
  });
  process.exit(0);
} catch (err) {
  if (stop.signal.aborted) process.exit(0); // stopped on request
  const e = err as Error & { code?: string };
  console.error(`zgnet-echo (${mode}): ${e.code ? `${e.code}: ` : ''}${e.message}`);
  process.exit(1);
}
