// The package as a user gets it: `npm run package` (every platform's library built and its
// exports checked, zgnet and every platform package packed into packages/tarballs/), then the
// main package and this host's platform package installed from those tarballs into a fresh app
// with no Zig on PATH and no devDependencies, with no install-script warning from zgnet. There:
// an echo round trip in native and in wasm mode, ESM import, require(), `zgnet/buffer`, the one
// fallback warning and its reason, esbuild bundles (CommonJS, esbuild's default, and ESM), and
// `tsc --strict` consumers (moduleResolution node16, nodenext and bundler, each with and without
// @types/node; the documentation's TypeScript samples with it). Exits non-zero on the first failed check.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from './zig.mjs';

const MAX_UNPACKED_BYTES = 600_000;
const started = Date.now();
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let checks = 0;

function step(name, fn) {
  const t = Date.now();
  fn();
  checks++;
  console.log(`ok ${checks} - ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
}

function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  if (r.error) throw r.error;
  return r;
}

function mustRun(cmd, args, options = {}) {
  const r = sh(cmd, args, options);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

// 1. Every platform package, built and checked (exports, glibc floor, optionalDependencies).
step('npm run package: 6 platform packages built, exports checked, 7 tarballs packed', () => {
  const r = sh(process.execPath, [path.join(root, 'scripts', 'package.mjs')], { cwd: root, stdio: 'inherit' });
  assert.equal(r.status, 0, 'scripts/package.mjs failed');
});

const { NATIVE_TARGETS, hostPlatform, targetFor } = await import(pathToFileURL(path.join(root, 'dist', 'host', 'core', 'platform.js')).href);
const host = hostPlatform();
const target = targetFor(host);
assert.ok(target, `no platform package for ${host.os}-${host.cpu}: this test needs one`);
const platformDir = (t) => path.join(root, 'packages', t.packageName.split('/').pop());
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'zgnet-consumer-'));

// 2. The tarballs `npm run package` packed, with npm's report of each.
const tarballDir = path.join(root, 'packages', 'tarballs');
const packed = JSON.parse(fs.readFileSync(path.join(tarballDir, 'pack.json'), 'utf8'));
let mainTarball;
let platformTarball;
step('the tarballs: the main package holds only what runs, within the size budget, and no scripts', () => {
  assert.deepEqual(packed.map((p) => p.name).sort(), ['zgnet', ...NATIVE_TARGETS.map((t) => t.packageName)].sort(), 'one tarball per package');
  const info = packed.find((p) => p.name === 'zgnet');
  mainTarball = path.join(work, info.filename);
  fs.copyFileSync(path.join(tarballDir, info.filename), mainTarball);
  const files = info.files.map((f) => f.path);
  const unwanted = files.filter((f) => /(^|\/)tests?\/|\.map$|^zig-src\/|^scripts\/|^bench\/|^examples\/|\.ts$(?<!\.d\.ts)/.test(f));
  assert.deepEqual(unwanted, [], 'files that do not run are packed');
  for (const needed of ['LICENSE', 'README.md', 'package.json', 'wasm/zgnet.wasm', 'dist/host/index.js', 'dist/host/index.d.ts', 'buffer.d.ts']) {
    assert.ok(files.includes(needed), `${needed} missing from the tarball`);
  }
  assert.ok(!files.some((f) => f.startsWith('zig-out/lib/')), 'the development library is packed');
  console.log(`   zgnet: ${files.length} files, ${info.size} B packed, ${info.unpackedSize} B unpacked (budget ${MAX_UNPACKED_BYTES})`);
  assert.ok(info.unpackedSize <= MAX_UNPACKED_BYTES, `unpacked ${info.unpackedSize} B > ${MAX_UNPACKED_BYTES} B`);
  // A script in the tarball would be an install script (`prepare`) or point into scripts/, not packed.
  const manifest = JSON.parse(mustRun('tar', ['-xzOf', mainTarball, 'package/package.json']).stdout);
  assert.equal(manifest.scripts, undefined, `the packed package.json has scripts: ${JSON.stringify(manifest.scripts)}`);
  assert.match(manifest.repository?.url ?? '', /github\.com\/zgnet\/zgnet/, 'repository');
  assert.match(manifest.homepage ?? '', /^https:\/\/github\.com\/zgnet\/zgnet/, 'homepage');
  assert.ok(fs.existsSync(path.join(root, 'package.json')) && !fs.existsSync(path.join(root, 'package.json.prepack')), 'postpack restored package.json');
  assert.ok(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).scripts.prepare, 'the clone keeps its prepare script');
  const pinfo = packed.find((p) => p.name === target.packageName);
  platformTarball = path.join(work, pinfo.filename);
  fs.copyFileSync(path.join(tarballDir, pinfo.filename), platformTarball);
  console.log(`   ${target.packageName}: ${pinfo.files.map((f) => f.path).join(', ')}; ${pinfo.size} B packed, ${pinfo.unpackedSize} B unpacked`);
});

// 3. A fresh app, installed from the tarballs: no Zig on PATH, no devDependencies, no ZGNET_*.
const app = path.join(work, 'app');
fs.mkdirSync(app);
const nodeBin = path.dirname(process.execPath);
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('ZGNET_') && k !== 'ZIG' && !k.startsWith('npm_')),
);
cleanEnv.PATH = [nodeBin, '/usr/local/bin', '/usr/bin', '/bin'].join(path.delimiter);
const mainSpec = `file:../${path.basename(mainTarball)}`;
const consumer = {
  name: 'zgnet-consumer',
  version: '1.0.0',
  private: true,
  type: 'module',
  dependencies: { zgnet: mainSpec, [target.packageName]: `file:../${path.basename(platformTarball)}` },
  // koffi's install script only compiles koffi where its prebuilt binary is missing; the
  // prebuilt comes in @koromix/koffi-<platform>. Denying it is what docs/install.md tells users.
  // zgnet itself is not listed: its packed package.json has no script to allow or deny.
  allowScripts: { koffi: false },
};
fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify(consumer, null, 2));

step('npm install of the two tarballs into a fresh app (no Zig on PATH)', () => {
  assert.equal(sh('sh', ['-c', 'command -v zig'], { env: cleanEnv }).stdout, '', 'zig is on PATH');
  const r = mustRun(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, env: cleanEnv });
  assert.doesNotMatch(r.stdout + r.stderr, /install-scripts/, 'an install-scripts warning (from zgnet, or koffi despite allowScripts)');
  const installed = fs.readdirSync(path.join(app, 'node_modules'));
  for (const dev of ['typescript', '@ryoppippi', 'tinybench', 'esbuild']) assert.ok(!installed.includes(dev), `${dev} installed`);
  const zgnetScope = fs.readdirSync(path.join(app, 'node_modules', '@zgnet'));
  assert.deepEqual(zgnetScope, [target.packageName.split('/').pop()], 'exactly the host platform package is installed');
});

/** Runs a script in the app; returns { stdout, stderr, json }, where json is the last stdout line parsed. */
function runInApp(file, source, env = {}, { expectFailure = false } = {}) {
  const full = path.join(app, file);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  if (source !== undefined) fs.writeFileSync(full, source);
  const r = sh(process.execPath, [full], { cwd: app, env: { ...cleanEnv, ...env }, timeout: 60_000 });
  if (!expectFailure && r.status !== 0) throw new Error(`${file} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let json;
  try {
    json = JSON.parse(last);
  } catch {
    json = undefined;
  }
  return { ...r, json };
}

// An echo round trip over TCP; reports the mode and which libzgnet the process mapped.
const echoBody = (importLine) => `${importLine}
const net = await import('node:net');
const fs = await import('node:fs');
let engine;
const ready = new Promise((resolve) => {
  zgnet.run({
    onBoot(e) { engine = e; resolve(); },
    onTraffic(c) { const b = c.next(); if (b) c.write(b); },
  }, 'tcp://127.0.0.1:0', { signal: AbortSignal.timeout(20000) });
});
await ready;
const port = Number(engine.addrs[0].split(':').pop());
const reply = await new Promise((resolve, reject) => {
  const s = net.connect(port, '127.0.0.1', () => s.write('ping from the consumer'));
  let got = '';
  s.on('data', (d) => { got += d; if (got.length >= 22) { s.end(); resolve(got); } });
  s.on('error', reject);
});
await engine.stop();
const ring = new buffer.RingBuffer(8);
const maps = fs.existsSync('/proc/self/maps') ? fs.readFileSync('/proc/self/maps', 'utf8') : '';
const lib = maps.split('\\n').map((l) => l.split(/\\s+/).pop()).find((p) => p && p.endsWith('libzgnet.so')) ?? null;
console.log(JSON.stringify({ mode: engine.mode, bufferMode: ring.mode, reply, lib }));
`;
const esmEcho = echoBody(`import * as zgnet from 'zgnet';\nimport * as buffer from 'zgnet/buffer';`);
const cjsEcho = `(async () => {\n${echoBody(`const zgnet = require('zgnet');\nconst buffer = require('zgnet/buffer');`).replaceAll('await import(', 'require(')}\n})().catch((e) => { console.error(e); process.exit(1); });\n`;
const platformLib = path.join(app, 'node_modules', target.packageName, target.file);

step('ESM: echo in native mode from the platform package', () => {
  const { json, stderr } = runInApp('esm-echo.mjs', esmEcho);
  assert.deepEqual(json, { mode: 'native', bufferMode: 'native', reply: 'ping from the consumer', lib: fs.realpathSync(platformLib) });
  assert.doesNotMatch(stderr, /native library unavailable/);
});

step('ESM: echo in wasm mode (ZGNET_MODE=wasm)', () => {
  const { json } = runInApp('esm-echo.mjs', undefined, { ZGNET_MODE: 'wasm' });
  assert.deepEqual(json, { mode: 'wasm', bufferMode: 'wasm', reply: 'ping from the consumer', lib: null });
});

const [major, minor] = process.versions.node.split('.').map(Number);
const requireEsm = (major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major >= 23;
step(`require('zgnet') on Node ${process.versions.node} (${requireEsm ? 'supported: require(esm)' : 'below the engines range'})`, () => {
  const r = runInApp('cjs-echo.cjs', cjsEcho, {}, { expectFailure: !requireEsm });
  if (requireEsm) assert.deepEqual(r.json, { mode: 'native', bufferMode: 'native', reply: 'ping from the consumer', lib: fs.realpathSync(platformLib) });
  else assert.match(r.stderr, /ERR_REQUIRE_ESM/);
});

/** Runs the echo with auto mode and asserts one fallback warning matching `reason`. */
function expectFallback(env, reason) {
  const { json, stderr } = runInApp('esm-echo.mjs', undefined, env);
  assert.equal(json.mode, 'wasm');
  const warnings = stderr.split('\n').filter((l) => l.includes('native library unavailable'));
  assert.equal(warnings.length, 1, `expected one warning, got:\n${stderr}`);
  assert.match(warnings[0], reason);
  return warnings[0];
}

step('fallback warnings: wrong architecture, wrong libc with the dlopen text, missing package', () => {
  const arm = NATIVE_TARGETS.find((t) => t.os === 'linux' && t.cpu !== host.cpu && t.libc === host.libc);
  console.log(`   ${expectFallback({ ZGNET_NATIVE_LIB: path.join(platformDir(arm), arm.file) }, /wrong architecture/)}`);
  const otherLibc = NATIVE_TARGETS.find((t) => t.os === host.os && t.cpu === host.cpu && t.libc && t.libc !== host.libc);
  console.log(`   ${expectFallback({ ZGNET_NATIVE_LIB: path.join(platformDir(otherLibc), otherLibc.file) }, new RegExp(`ZGNET_NATIVE_LIB\\) is built for ${otherLibc.libc}, this Node runs on ${host.libc} \\(wrong libc\\): \\S`))}`);
  const installed = path.join(app, 'node_modules', target.packageName);
  const aside = `${installed}.aside`;
  fs.renameSync(installed, aside);
  try {
    console.log(`   ${expectFallback({}, new RegExp(`package ${target.packageName} is not installed`))}`);
  } finally {
    fs.renameSync(aside, installed);
  }
});

const esbuild = path.join(root, 'node_modules', 'esbuild', 'bin', 'esbuild');

/** Bundles `entry` of the app with esbuild for Node; a warning esbuild prints fails the check. */
function esbuildBundle(entry, outfile, extra = []) {
  const r = mustRun(process.execPath, [esbuild, path.join(app, entry), '--bundle', '--platform=node', ...extra, `--outfile=${outfile}`, '--log-level=warning'], { cwd: app, env: cleanEnv });
  assert.equal(r.stderr.trim(), '', `esbuild warned about ${entry}`);
}

step('esbuild CommonJS bundle (esbuild\'s default format): native and wasm', () => {
  const bundle = path.join(app, 'bundle', 'echo.cjs');
  esbuildBundle('cjs-echo.cjs', bundle);
  assert.doesNotMatch(fs.readFileSync(bundle, 'utf8').slice(0, 200), /^\s*import /m, 'the bundle is CommonJS');
  assert.deepEqual(runInApp('bundle/echo.cjs', undefined).json, { mode: 'native', bufferMode: 'native', reply: 'ping from the consumer', lib: fs.realpathSync(platformLib) });
  assert.deepEqual(runInApp('bundle/echo.cjs', undefined, { ZGNET_MODE: 'wasm' }).json, { mode: 'wasm', bufferMode: 'wasm', reply: 'ping from the consumer', lib: null });
});

step('esbuild ESM bundle: native and wasm with node_modules beside it; ZGNET_WASM_MODULE without', () => {
  const bundle = path.join(app, 'bundle', 'echo.mjs');
  esbuildBundle('esm-echo.mjs', bundle, ['--format=esm']);
  assert.equal(runInApp('bundle/echo.mjs', undefined).json.mode, 'native');
  assert.equal(runInApp('bundle/echo.mjs', undefined, { ZGNET_MODE: 'wasm' }).json.mode, 'wasm');
  // Shipped alone (no node_modules): wasm needs the module's path, and the error says how.
  const lone = path.join(work, 'lone', 'echo.mjs');
  fs.mkdirSync(path.dirname(lone), { recursive: true });
  fs.copyFileSync(bundle, lone);
  const missing = sh(process.execPath, [lone], { cwd: path.dirname(lone), env: { ...cleanEnv, ZGNET_MODE: 'wasm' }, encoding: 'utf8' });
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /ZGNET_WASM_MODULE/);
  const wasm = path.join(app, 'node_modules', 'zgnet', 'wasm', 'zgnet.wasm');
  const ok = sh(process.execPath, [lone], { cwd: path.dirname(lone), env: { ...cleanEnv, ZGNET_MODE: 'wasm', ZGNET_WASM_MODULE: wasm }, encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout.trim().split('\n').pop()).mode, 'wasm');
});

/** The ```ts samples of README.md and docs/*.md (tests/support/doc-samples.ts), each as its own module. */
async function docExamples() {
  const { extractSamples, samplePages } = await import(pathToFileURL(path.join(root, 'dist', 'tests', 'support', 'doc-samples.js')).href);
  return samplePages(root)
    .flatMap((page) => extractSamples(root, page))
    .filter((s) => s.lang === 'ts')
    .map((s) => s.code);
}
const examples = await docExamples();

const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const tsDir = path.join(app, 'ts');
const consumerTypes = path.join(app, 'node_modules', '@types');

/** Type-checks `files` of app/ts/ with `tsc --strict` (and zgnet's own .d.ts: no skipLibCheck). */
function typeCheck(name, compilerOptions, files) {
  const config = path.join(tsDir, `tsconfig.${name}.json`);
  const base = { strict: true, noEmit: true, skipLibCheck: false, target: 'ES2022' };
  fs.writeFileSync(config, JSON.stringify({ compilerOptions: { ...base, ...compilerOptions }, files }));
  mustRun(process.execPath, [tsc, '-p', config], { cwd: app, env: cleanEnv });
}

step('tsc consumer sources: the TypeScript samples of the documentation, typed context, zgnet/buffer, a consumer without Node types', () => {
  assert.ok(examples.length >= 4, `expected the documentation's TypeScript samples, found ${examples.length}`);
  fs.mkdirSync(tsDir, { recursive: true });
  examples.forEach((code, i) => fs.writeFileSync(path.join(tsDir, `doc-sample-${i + 1}.ts`), `${code}\nexport {};\n`));
  fs.writeFileSync(
    path.join(tsDir, 'typed-context.ts'),
    `import { run, BuiltinEventEngine, type Conn, type EventHandler } from 'zgnet';
interface Session { lines: number }
const handler: EventHandler<Session> = {
  onOpen(c) { c.context = { lines: 0 }; },
  onTraffic(c: Conn<Session>) {
    c.context.lines++;
    // @ts-expect-error a typed context rejects what it does not declare
    c.context.missing = 1;
  },
};
class Typed extends BuiltinEventEngine<Session> {
  override onTraffic(c: Conn<Session>) { return c.context.lines > 0 ? undefined : undefined; }
}
await run(handler, 'tcp://127.0.0.1:0');
await run(new Typed(), 'tcp://127.0.0.1:0');
// @ts-expect-error Options are checked: no such option
await run(handler, 'tcp://127.0.0.1:0', { noSuchOption: true });
`,
  );
  fs.writeFileSync(
    path.join(tsDir, 'node10.ts'),
    `import { RingBuffer } from 'zgnet/buffer';\nimport { LineCodec } from 'zgnet';\nconst b: RingBuffer = new RingBuffer(8);\nconst line: Buffer | null = new LineCodec().decode(b);\nexport { line };\n`,
  );
  // Bytes as Uint8Array, no Node global: what compiles with and without @types/node.
  fs.writeFileSync(
    path.join(tsDir, 'no-node.ts'),
    `import { run, Client, LineCodec, LengthFieldCodec, type Conn, type EventHandler, type Options } from 'zgnet';
import { RingBuffer } from 'zgnet/buffer';
const handler: EventHandler = {
  onTraffic(c: Conn) {
    const data: Uint8Array | null = c.next();
    if (data) c.write(data);
  },
};
await run(handler, 'tcp://127.0.0.1:0', { numEventLoop: 2 });
const line: Uint8Array | null = new LineCodec().decode(new RingBuffer(64));
const framed: Uint8Array = new LengthFieldCodec({ lengthFieldLength: 4 }).encode(new Uint8Array([1]));
const conn: Conn = await new Client(handler).dial('tcp://127.0.0.1:9');
// @ts-expect-error numEventLoop is a number
const bad: Options = { numEventLoop: '2' };
export { line, framed, conn, bad };
`,
  );
  console.log(`   ${examples.length} documentation samples`);
});

const resolutions = {
  node16: { module: 'Node16', moduleResolution: 'Node16' },
  nodenext: { module: 'NodeNext', moduleResolution: 'NodeNext' },
  bundler: { module: 'ESNext', moduleResolution: 'Bundler' },
};
step('tsc --strict with @types/node installed in the consumer: node16, nodenext, bundler (and node10 for zgnet/buffer)', () => {
  fs.mkdirSync(consumerTypes, { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(consumerTypes, 'node'), 'dir');
  try {
    const files = [...fs.readdirSync(tsDir).filter((f) => /^doc-sample-\d+\.ts$/.test(f)), 'typed-context.ts', 'node10.ts', 'no-node.ts'];
    for (const [name, options] of Object.entries(resolutions)) typeCheck(`${name}-types`, { ...options, types: ['node'] }, files);
    typeCheck('node10-types', { module: 'ES2022', moduleResolution: 'node', ignoreDeprecations: '5.0', types: ['node'] }, ['node10.ts']);
  } finally {
    fs.rmSync(consumerTypes, { recursive: true, force: true });
  }
});

step('tsc --strict without @types/node (and without the DOM lib): node16, nodenext, bundler', () => {
  assert.ok(!fs.existsSync(path.join(consumerTypes, 'node')), '@types/node is installed in the consumer');
  for (const [name, options] of Object.entries(resolutions)) typeCheck(`${name}-bare`, { ...options, lib: ['ES2022'] }, ['typed-context.ts', 'no-node.ts']);
});

fs.rmSync(work, { recursive: true, force: true });
console.log(`package test: ${checks} checks passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
