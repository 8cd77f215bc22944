/**
 * An echo server in a process of its own, for tests that need a process-wide condition (a
 * low file-descriptor limit): prints its address as one JSON line, stops on SIGTERM or when
 * its stdin closes.
 */
import { run } from '../../host/index.js';

const mode = process.env.ZGNET_MODE === 'wasm' ? 'wasm' : 'native';
const controller = new AbortController();
process.on('SIGTERM', () => controller.abort());
process.stdin.on('close', () => controller.abort());
process.stdin.resume();
const logLines: string[] = [];
const logger = {
  debug() {},
  info() {},
  warn: (m: string) => void logLines.push(m),
  error: (m: string) => void logLines.push(m),
};
await run(
  {
    onBoot(engine) {
      process.stdout.write(`${JSON.stringify({ addr: engine.addrs[0] })}\n`);
    },
    onTraffic(c) {
      const data = c.next();
      if (data !== null && data.length > 0) c.write(data);
    },
    onTick() {
      // Log lines reach the parent as they come (it checks for the rate-limited one).
      while (logLines.length > 0) process.stdout.write(`${JSON.stringify({ log: logLines.shift() })}\n`);
      return { delayMs: 50 };
    },
  },
  'tcp://127.0.0.1:0',
  { mode, logger, signal: controller.signal, ticker: true },
);
process.stdout.write(`${JSON.stringify({ stopped: true })}\n`);
