/**
 * gnet's echo server on zgnet: everything a connection sends comes straight back, over TCP,
 * UDP and a Unix socket at once (`rotate`). A tick every 5 s logs the connection count.
 *
 *   node dist/examples/echo-server.js [--mode native|wasm|auto] [--port 9000] [--loops N]
 *   printf 'hello\n' | nc -q1 127.0.0.1 9000
 *
 * Ctrl-C stops it (the AbortSignal flushes and closes every connection first). A bad flag or a
 * busy port: one line on stderr and exit 1.
 */
import os from 'node:os';
import path from 'node:path';
import { Action, BuiltinEventEngine, type Conn, type Engine, type ModeOption } from '../host/index.js';
import { cliArgs, numberFlag, serve } from './cli.js';

class EchoServer extends BuiltinEventEngine {
  private engine: Engine | undefined;

  override onBoot(engine: Engine): Action {
    this.engine = engine;
    console.log(`echo server (${engine.mode} mode) on ${engine.addrs.join(', ')}`);
    return Action.None;
  }

  override onTraffic(c: Conn): Action {
    const data = c.next();
    if (data !== null && data.length > 0) c.write(data);
    return Action.None;
  }

  override onTick() {
    console.log(`${this.engine?.countConnections() ?? 0} stream connections`);
    return { delayMs: 5000 };
  }
}

const args = cliArgs('echo-server', { mode: 'auto', port: '9000', loops: '1' });
const socketPath = path.join(os.tmpdir(), 'zgnet-echo.sock');
await serve('echo-server', new EchoServer(), [`tcp://127.0.0.1:${args.port}`, `udp://127.0.0.1:${args.port}`, `unix://${socketPath}`], {
  mode: args.mode as ModeOption,
  numEventLoop: numberFlag('echo-server', args, 'loops'),
  ticker: true,
});
