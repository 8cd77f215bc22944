/**
 * A Redis-protocol (RESP2) server on zgnet, in memory: enough of Redis for redis-benchmark's
 * default tests and for redis-cli by hand (the commands: examples/redis-commands.ts). Inline and
 * multibulk requests, pipelining (every reply of one read goes out in one write), protocol
 * errors answered as Redis answers them (`-ERR Protocol error: ...`, then that connection
 * closes; the limits are Redis's: examples/redis-resp.ts).
 *
 *   node dist/examples/redis-server.js [--port 6379] [--host 127.0.0.1] [--mode native|wasm|auto] [--loops N]
 *                                      [--proto-max-bulk-len BYTES] [--tls-cert cert.pem --tls-key key.pem]
 *   redis-cli -p 6379 set greeting hello
 *   redis-cli --tls --cacert ca.pem -p 6379 set greeting hello  (with --tls-cert/--tls-key)
 *
 * Prints "listening <host:port>" once bound (--port 0: a free port); SIGTERM/SIGINT stop it.
 */
import { Action, type Conn, type EventHandler } from '../host/index.js';
import { cliArgs, numberFlag, serve, tlsArgs } from './cli.js';
import { RedisCommands, newSession, type Session } from './redis-commands.js';
import { PROTO_MAX_BULK_LEN } from './redis-resp.js';

const args = cliArgs('redis-server', {
  port: '6379', host: '127.0.0.1', mode: 'auto', loops: '1', 'proto-max-bulk-len': String(PROTO_MAX_BULK_LEN), 'tls-cert': '', 'tls-key': '',
});
const port = numberFlag('redis-server', args, 'port');
const host = args.host;
const redis = new RedisCommands({ maxBulkLen: numberFlag('redis-server', args, 'proto-max-bulk-len'), port });
const out = redis.out;

const handler: EventHandler = {
  onBoot(engine) {
    process.stdout.write(`listening ${(engine.addrs[0] ?? '').replace(/^[a-z0-9]+:\/\//, '')}\n`);
  },
  onOpen(c: Conn) {
    c.context = newSession();
  },
  onTraffic(c: Conn) {
    const s = c.context as Session;
    // a value still arriving: wait for all of it instead of re-reading what is buffered
    if (s.need > 0 && c.inboundBuffered() < s.need) return Action.None;
    const data = c.peek(); // a view of the bytes read, valid until we return
    if (data === null || data.length === 0) return Action.None;
    out.reset();
    const used = redis.feed(data, s);
    // discard(n <= 0) would discard everything: only call it with something to drop
    if (used > 0) c.discard(used);
    if (out.pos > 0) c.write(out.view()); // copied (or queued) by write: `out` is reused
    return s.close ? Action.Close : Action.None;
  },
};

await serve('redis-server', handler, `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`, {
  mode: args.mode as 'native' | 'wasm' | 'auto',
  numEventLoop: numberFlag('redis-server', args, 'loops'),
  tcpNoDelay: true,
  logLevel: 'warn',
  ...tlsArgs('redis-server', args),
});
