// `npm test`: every Zig test (here, and for aarch64-linux under qemu-user), then the node:test
// suites once per mode (native, wasm), then the conformance, buffer and codec suites once more
// per mode against a ReleaseSafe build (so that undefined behaviour in Zig — an out-of-bounds
// index, an overflow, a reachable `unreachable` — panics and fails a test instead of passing by
// luck), then the package as users install it; each pass's counts and a closing total. Exits
// non-zero when anything fails. ZGNET_TEST_SAFE=0, ZGNET_TEST_QEMU=0, ZGNET_TEST_PACKAGE=0 skip
// those passes.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QEMU, REDIS_TOOLS, ensureCommands, hostFacts, installPlan } from './apt.mjs';
import { root, zig } from './zig.mjs';

const modes = (process.env.ZGNET_TEST_MODES ?? 'native,wasm').split(',').filter(Boolean);
const withQemu = process.env.ZGNET_TEST_QEMU !== '0';

// The Debian packages the run drives, settled before anything starts: installed now when this
// is root with apt-get (CI), else the run stops here saying which packages and the command.
const needs = [...(withQemu ? QEMU : []), ...REDIS_TOOLS];
const plan = installPlan(needs, hostFacts());
if (plan !== null) {
  const problem = plan.canInstall ? ensureCommands(needs, (line) => console.log(`npm test: ${line}`)) : plan.message;
  if (problem !== null) {
    const qemuHint = withQemu && plan.missing.some((n) => n.pkg === 'qemu-user') ? '; ZGNET_TEST_QEMU=0 leaves out the arm64 run' : '';
    console.error(`npm test: ${problem}${qemuHint}`);
    process.exit(1);
  }
}

// Formatting is checked, not applied: `zig fmt zig-src build.zig` fixes what this reports.
console.log('== zig fmt --check zig-src build.zig');
zig(['fmt', '--check', 'zig-src', 'build.zig']);

console.log('== zig build test');
zig(['build', 'test', '--summary', 'all']);

// The kqueue poller only compiles for macOS from here: compile (without running) the native
// tests for macOS so that side cannot rot unnoticed (the libraries themselves are built and
// their exports checked by the package test below).
for (const target of ['aarch64-macos', 'x86_64-macos']) {
  console.log(`== compile tests for ${target}`);
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), `zgnet-cross-${target}-`));
  zig(['test', 'zig-src/native_root.zig', '-target', target, '-lc', '--test-no-exec', `-femit-bin=${path.join(prefix, 'tests')}`]);
  fs.rmSync(prefix, { recursive: true, force: true });
}

// The arm64 engine executed, not only compiled: every Zig test for aarch64-linux under
// qemu-user (musl: a static binary needs no arm64 sysroot).
if (withQemu) {
  console.log('== zig build test for aarch64-linux-musl under qemu-user');
  zig(['build', 'test', '-Dtarget=aarch64-linux-musl', '-fqemu', '--summary', 'all']);
}

// The API reference (TypeDoc) builds with no warning: every public name documented, every
// link resolving (typedoc.json treats warnings as errors).
console.log('== npm run docs (TypeDoc)');
const docs = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc')], { cwd: root, stdio: 'inherit' });
if (docs.status !== 0) {
  console.error(`npm run docs failed (exit ${docs.status})`);
  process.exit(1);
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

function runMode(mode, testFiles, env = {}, label = mode) {
  const tap = path.join(os.tmpdir(), `zgnet-tests-${process.pid}-${label.replace(/\W/g, '-')}.tap`);
  const args = [
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...testFiles,
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env, ZGNET_MODE: mode } });
    // A failed test that leaves a server open keeps its file's process alive after its own
    // timeout; the whole pass gets a deadline so CI fails instead of hanging.
    const deadline = setTimeout(() => {
      console.error(`\nnode:test (${label}) still running after ${MODE_DEADLINE_MS / 60000} min: killed`);
      child.kill('SIGKILL');
    }, MODE_DEADLINE_MS);
    child.on('exit', (code) => {
      clearTimeout(deadline);
      const text = fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '';
      fs.rmSync(tap, { force: true });
      const count = (name) => Number(text.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
      resolve({ mode: label, code, pass: count('pass'), fail: count('fail'), skipped: count('skipped'), todo: count('todo') });
    });
  });
}

let failed = 0;
let passed = 0;
const rows = [];
function record(r) {
  rows.push(r);
  passed += r.pass;
  failed += r.fail + (r.code !== 0 && r.fail === 0 ? 1 : 0);
}
for (const mode of modes) {
  console.log(`\n== node:test, ZGNET_MODE=${mode}`);
  record(await runMode(mode, files));
}

// The safe pass: a test build into its own prefix (the shipped zig-out is never touched),
// selected through the same variables a user would set. Only the suites that run Zig code,
// so that it adds about a minute rather than doubling the run: in native mode the engine and
// the core (conformance, buffers, codecs: ~45 s); in wasm mode the engine is node:net and only
// the core is Zig (buffers, codecs, and codecs on live connections: ~16 s).
if (process.env.ZGNET_TEST_SAFE !== '0') {
  const prefix = path.join(os.tmpdir(), `zgnet-safe-${process.pid}`);
  console.log(`\n== zig build -Doptimize=ReleaseSafe --prefix ${prefix}`);
  zig(['build', '-Doptimize=ReleaseSafe', '-Dcpu=baseline', '-Dwasm-dir=wasm', '--prefix', prefix]);
  const safeFiles = (mode) =>
    files.filter((f) => {
      const rel = path.relative(testDir, f).split(path.sep).join('/');
      if (/^(buffer|codec)[^/]*\.test\.js$/.test(rel)) return true;
      return mode === 'native' ? rel.startsWith('conformance/') : rel === 'conformance/framing.test.js';
    });
  const lib = fs.readdirSync(path.join(prefix, 'lib')).find((f) => /^libzgnet\.(so|dylib)$/.test(f));
  const env = { ZGNET_NATIVE_LIB: path.join(prefix, 'lib', lib), ZGNET_WASM_MODULE: path.join(prefix, 'wasm', 'zgnet.wasm') };
  for (const mode of modes) {
    const chosen = safeFiles(mode);
    console.log(`\n== node:test (ReleaseSafe), ZGNET_MODE=${mode}: ${chosen.length} files`);
    record(await runMode(mode, chosen, env, `${mode} (ReleaseSafe)`));
  }
  fs.rmSync(prefix, { recursive: true, force: true });
}

// The package as users install it: every platform package built and checked, the tarballs
// installed into a fresh app (scripts/package-test.mjs).
let packageCode = 0;
if (process.env.ZGNET_TEST_PACKAGE !== '0') {
  console.log('\n== package test');
  packageCode = spawnSync(process.execPath, [path.join(root, 'scripts', 'package-test.mjs')], { cwd: root, stdio: 'inherit' }).status ?? 1;
  if (packageCode !== 0) failed++;
}
console.log('\n== summary');
for (const r of rows) console.log(`mode ${r.mode}: ${r.pass} passed, ${r.fail} failed, ${r.skipped} skipped, exit ${r.code}`);
if (process.env.ZGNET_TEST_PACKAGE !== '0') console.log(`package test: exit ${packageCode}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
