/**
 * Every ```ts and ```js sample of README.md and docs/*.md (tests/support/doc-samples.ts says how
 * a page marks one): all of them type-checked together with `tsc --strict` against the built
 * package's types (`zgnet` resolved through its package.json exports, as a consumer resolves
 * it), then each one that is not a fragment run in its own process in this pass's mode, bounded
 * in time. A server sample runs until its port answers (and, marked `echo`, echoes what is
 * sent), then gets SIGTERM; any other sample must exit 0 by itself.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { extractSamples, samplePages, type DocSample } from './support/doc-samples.js';
import { testMode } from './support/mode.js';
import { makeTestCerts, type TestCerts } from './support/tls-certs.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const samples = samplePages(root).flatMap((page) => extractSamples(root, page));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'zgnet-doc-samples-'));
const src = path.join(work, 'src');
const out = path.join(work, 'out');
/** How long a sample that ends by itself may take, and a server to answer. */
const RUN_MS = 20_000;

const pageDir = (s: DocSample) => s.page.replace(/\.md$/, '').replace(/\W/g, '-');
const emitted = (s: DocSample) => path.join(out, pageDir(s), s.file.replace(/\.ts$/, '.js'));

let certs: TestCerts | undefined;

before(() => {
  // A consumer project: `zgnet` is this repository (its package.json exports point into dist/).
  fs.mkdirSync(path.join(work, 'node_modules', '@types'), { recursive: true });
  fs.symlinkSync(root, path.join(work, 'node_modules', 'zgnet'), 'dir');
  fs.symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(work, 'node_modules', '@types', 'node'), 'dir');
  fs.writeFileSync(path.join(work, 'package.json'), '{ "type": "module", "private": true }\n');
  for (const s of samples) {
    const file = path.join(src, pageDir(s), s.file);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, s.code);
  }
  const compilerOptions = {
    strict: true,
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    allowJs: true,
    checkJs: true,
    skipLibCheck: false,
    types: ['node'],
    rootDir: src,
    outDir: out,
  };
  fs.writeFileSync(path.join(work, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['src/**/*'] }));
});

after(() => {
  certs?.remove();
  fs.rmSync(work, { recursive: true, force: true });
});

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves with what came back for `message` from 127.0.0.1:port, or rejects (not listening yet). */
function exchange(port: number, message: string, overTls: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = overTls ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => finish(), 3000);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(got);
    };
    socket.once(overTls ? 'secureConnect' : 'connect', () => socket.write(message));
    socket.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes(message.trim())) finish();
    });
    socket.on('error', finish);
  });
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

async function runSample(s: DocSample): Promise<{ ran: Ran; answer?: string }> {
  const file = emitted(s);
  const port = s.port === undefined ? undefined : await freePort();
  let code = fs.readFileSync(file, 'utf8');
  if (port !== undefined) code = code.replace(new RegExp(`\\b${s.port}\\b`, 'g'), String(port));
  if (s.tmpdir) code = code.replaceAll('/tmp/', `${path.dirname(file)}/`);
  fs.writeFileSync(file, code);
  if (s.tls) {
    certs ??= makeTestCerts();
    fs.copyFileSync(certs.server.certFile, path.join(path.dirname(file), 'cert.pem'));
    fs.copyFileSync(certs.server.keyFile, path.join(path.dirname(file), 'key.pem'));
  }
  let backend: net.Server | undefined;
  if (s.needs === 'echo') {
    assert.ok(port !== undefined, `${s.where}: needs=echo wants port=N`);
    backend = net.createServer((socket) => {
      socket.on('error', () => {}); // a client stopping may reset its connections
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => backend!.listen(port, '127.0.0.1', resolve));
  }
  const child = spawn(process.execPath, [file], { cwd: path.dirname(file), env: { ...process.env, ZGNET_MODE: testMode } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<Ran>((resolve) => child.on('exit', (c, sig) => resolve({ code: c, signal: sig, stdout, stderr })));
  const killer = setTimeout(() => child.kill('SIGKILL'), RUN_MS);
  let answer: string | undefined;
  try {
    if (s.server) {
      assert.ok(port !== undefined, `${s.where}: a server sample names its port (port=N)`);
      let gone = false;
      void exited.then(() => (gone = true));
      const deadline = Date.now() + RUN_MS - 2000;
      while (answer === undefined && !gone && Date.now() < deadline) {
        answer = await exchange(port, 'hello zgnet\n', s.tls).catch(() => undefined);
        if (answer === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGTERM');
    }
    const ran = await exited;
    return { ran, answer };
  } finally {
    clearTimeout(killer);
    backend?.close();
  }
}

describe(`documentation samples (${testMode})`, () => {
  test(`every sample type-checks with tsc --strict against the built package (${samples.length} samples)`, { timeout: 120_000 }, () => {
    assert.ok(samples.length >= 10, `found only ${samples.length} samples`);
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(work, 'tsconfig.json')], { cwd: work, encoding: 'utf8' });
    const where = (line: string) => {
      const m = /src\/([^/]+)\/([^(]+)\(/.exec(line);
      const s = m && samples.find((x) => pageDir(x) === m[1] && x.file === m[2]);
      return s ? `${s.where}: ${line}` : line;
    };
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout.split('\n').map(where).join('\n')}${r.stderr}`);
  });

  test('every relative link of README.md, ARCHITECTURE.md and docs/*.md names a file of the repository', () => {
    const broken: string[] = [];
    for (const page of [...samplePages(root), 'ARCHITECTURE.md']) {
      const text = fs.readFileSync(path.join(root, page), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|#|mailto:)/.test(target!)) continue;
        const file = path.resolve(root, path.dirname(page), target!.split('#')[0]!);
        if (!fs.existsSync(file)) broken.push(`${page}: ${target}`);
      }
    }
    assert.deepEqual(broken, []);
  });

  for (const s of samples.filter((x) => !x.fragment && !x.module)) {
    test(`${s.where} runs${s.server ? ' and serves' : ''}`, { timeout: RUN_MS + 10_000 }, async () => {
      assert.ok(fs.existsSync(emitted(s)), 'compiled (see the type-check test)');
      const { ran, answer } = await runSample(s);
      const output = `exit ${ran.code} ${ran.signal ?? ''}\nstdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`;
      if (s.server) {
        assert.ok(answer !== undefined, `the server never answered on its port\n${output}`);
        if (s.echo) assert.match(answer, /hello zgnet/, `no echo\n${output}`);
        assert.ok(ran.code === 0 || ran.signal === 'SIGTERM', `did not stop on SIGTERM\n${output}`);
      } else {
        assert.equal(ran.code, 0, `exited non-zero\n${output}`);
      }
      assert.doesNotMatch(ran.stderr, /Error|unhandled/i, `errors on stderr\n${output}`);
    });
  }
});
