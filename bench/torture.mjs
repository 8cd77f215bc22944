// The long torture run (docs/torture.md): streams of seeded bytes in random write shapes,
// slow readers, proxy pairs, a busy process per core, every stream checked by length and
// sha256. Prints streams, bytes and mismatches; exits 1 on any mismatch.
//
//   node bench/torture.mjs [--minutes N] [--mode native|wasm] [--seed S] [--concurrency C] [--threads on|off]
import { runTorture } from '../dist/tests/conformance/support/torture.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const minutes = Number(arg('minutes', '1'));
const mode = arg('mode', 'native');
const seed = Number(arg('seed', String(Date.now() % 1_000_000)));
const concurrency = Number(arg('concurrency', '4'));

const started = Date.now();
const result = await runTorture({ seed, mode, streams: Number.MAX_SAFE_INTEGER, concurrency, deadlineMs: minutes * 60_000, hog: true, threads: arg('threads', 'on') !== 'off' });
const took = (Date.now() - started) / 60_000;
console.log(`torture ${mode} seed ${seed}: ${result.streams} streams, ${result.bytes} bytes (${(result.bytes / 2 ** 20).toFixed(0)} MiB) in ${took.toFixed(1)} min, ${result.mismatches.length} mismatches`);
for (const m of result.mismatches) console.log(`  ${m}`);
process.exit(result.mismatches.length === 0 ? 0 : 1);
