/**
 * gnet's echo server on zgnet: everything a connection sends comes straight back, over TCP,
 * UDP and a Unix socket at once (`rotate`). A tick every 5 s logs the connection count.
 *
 *   node dist/examples/echo-server.js [--mode native|wasm|auto] [--port 9000] [--loops N]
 *   printf 'hello\n' | nc -q1 127.0.0.1 9000
 *
 * Ctrl-C stops it (the AbortSignal flushes and closes every connection first).
 */
import os from 'node:os';
import path from 'node:path';
import { Action, BuiltinEventEngine, rotate, type Conn, type Engine, type ModeOption } from '../host/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

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

const port = arg('port', '9000');
const socketPath = path.join(os.tmpdir(), 'zgnet-echo.sock');
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());

await rotate(new EchoServer(), [`tcp://127.0.0.1:${port}`, `udp://127.0.0.1:${port}`, `unix://${socketPath}`], {
  mode: arg('mode', 'auto') as ModeOption,
  numEventLoop: Number(arg('loops', '1')),
  ticker: true,
  signal: controller.signal,
});
console.log('stopped');
