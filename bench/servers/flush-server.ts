/**
 * The server of bench/flush-on-stop.mjs: answers each client's first bytes with 8 MiB, written at
 * once (all of it queued), and stops its engine when its stdin closes. Prints "listening <port>"
 * and, once run() resolved, "stopped <ms from stop() to run() resolving>".
 *
 *   node dist/bench/servers/flush-server.js --mode native|wasm
 */
import { run } from '../../host/index.js';

const mode = process.argv.includes('wasm') ? 'wasm' : 'native';
const payload = Buffer.alloc(8 * 1024 * 1024, 0x5a);
const controller = new AbortController();
let stopAt = 0;
process.stdin.on('data', () => {
  stopAt = Date.now();
  controller.abort();
});
process.stdin.resume();
await run(
  {
    onBoot(engine) {
      process.stdout.write(`listening ${/:(\d+)$/.exec(engine.addrs[0]!)![1]}\n`);
    },
    onTraffic(c) {
      if (c.discard() > 0) c.write(payload);
    },
  },
  'tcp://127.0.0.1:0',
  { mode, signal: controller.signal, logLevel: 'error' },
);
process.stdout.write(`stopped ${Date.now() - stopAt}\n`);
process.exit(0);
