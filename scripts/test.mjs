// `npm test`: every Zig test, then the node:test suites once per mode (native, wasm), with
// each mode's counts and a closing total. Exits non-zero when anything fails.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root, zig } from './zig.mjs';

const modes = (process.env.ZGNET_TEST_MODES ?? 'native,wasm').split(',').filter(Boolean);

console.log('== zig build test');
zig(['build', 'test', '--summary', 'all']);

// The kqueue poller only compiles for macOS from here: cross-build the native library (and
// compile, without running, its tests) so that the macOS side cannot rot unnoticed.
for (const target of ['aarch64-macos', 'x86_64-macos']) {
  console.log(`== cross-build ${target}`);
  const prefix = path.join(os.tmpdir(), `zgnet-cross-${process.pid}-${target}`);
  zig(['build', 'native', `-Dtarget=${target}`, '-Doptimize=ReleaseFast', '--prefix', prefix]);
  zig(['test', 'zig-src/native_root.zig', '-target', target, '-lc', '--test-no-exec', `-femit-bin=${path.join(prefix, 'tests')}`]);
  fs.rmSync(prefix, { recursive: true, force: true });
}

const testDir = path.join(root, 'dist', 'tests');
const files = fs
  .readdirSync(testDir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => path.join(testDir, f))
  .sort();
if (files.length === 0) {
  console.error('no compiled tests in dist/tests: run `npm run build` first');
  process.exit(1);
}

/** A pass takes about 30 s here; this bounds a hung one well inside CI's 90 minutes. */
const MODE_DEADLINE_MS = 10 * 60 * 1000;

function runMode(mode) {
  const tap = path.join(os.tmpdir(), `zgnet-tests-${process.pid}-${mode}.tap`);
  const args = [
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ZGNET_MODE: mode } });
    // A failed test that leaves a server open keeps its file's process alive after its own
    // timeout; the whole pass gets a deadline so CI fails instead of hanging.
    const deadline = setTimeout(() => {
      console.error(`\nnode:test (${mode}) still running after ${MODE_DEADLINE_MS / 60000} min: killed`);
      child.kill('SIGKILL');
    }, MODE_DEADLINE_MS);
    child.on('exit', (code) => {
      clearTimeout(deadline);
      const text = fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '';
      fs.rmSync(tap, { force: true });
      const count = (name) => Number(text.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
      resolve({ mode, code, pass: count('pass'), fail: count('fail'), skipped: count('skipped'), todo: count('todo') });
    });
  });
}

let failed = 0;
let passed = 0;
const rows = [];
for (const mode of modes) {
  console.log(`\n== node:test, ZGNET_MODE=${mode}`);
  const r = await runMode(mode);
  rows.push(r);
  passed += r.pass;
  failed += r.fail + (r.code !== 0 && r.fail === 0 ? 1 : 0);
}
console.log('\n== summary');
for (const r of rows) console.log(`mode ${r.mode}: ${r.pass} passed, ${r.fail} failed, ${r.skipped} skipped, exit ${r.code}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
