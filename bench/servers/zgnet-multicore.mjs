// zgnet with a handler module (bench/servers/zgnet-work-handler.mjs): with --loops N > 1 in wasm
// mode each loop is a worker process of its own.
//   node bench/servers/zgnet-multicore.mjs --mode native|wasm [--addr 127.0.0.1:0] [--loops N] [--work ITERATIONS]
// Prints "listening <addr>" once bound; SIGTERM/SIGINT stop the engine and exit 0.
import { run } from '../../dist/host/index.js';
import { arg } from './common.mjs';

const mode = arg('mode', 'wasm');
const stop = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    stop.abort();
    setTimeout(() => process.exit(1), 5000).unref();
  });
}
try {
  await run(new URL('./zgnet-work-handler.mjs', import.meta.url), `tcp://${arg('addr', '127.0.0.1:0')}`, {
    mode,
    numEventLoop: Number(arg('loops', '1')),
    handlerData: { work: Number(arg('work', '0')) },
    logLevel: 'warn',
    signal: stop.signal,
  });
  process.exit(0);
} catch (err) {
  if (stop.signal.aborted) process.exit(0);
  console.error(`zgnet-multicore (${mode}): ${err.code ? `${err.code}: ` : ''}${err.message}`);
  process.exit(1);
}
