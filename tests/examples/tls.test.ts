/**
 * The examples over TLS, with the clients users have: `curl --cacert` against
 * examples/http-server.ts and `redis-cli --tls` against examples/redis-server.ts, both started
 * with --tls-cert/--tls-key, in the mode the suite tests (native: TLS inside the Zig engine;
 * wasm: node:tls).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { testMode } from '../support/mode.js';
import { promisify } from 'node:util';
import { makeTestCerts, type TestCerts } from '../support/tls-certs.js';

const run = promisify(execFile);
const examples = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');

/** Starts an example and resolves with its port once it printed "listening host:port". */
function start(script: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [path.join(examples, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script}: no "listening" line in 15 s: ${err}`)), 15_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^listening \S+:(\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited ${code}: ${err}`)));
  });
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe(`examples over TLS (${testMode})`, () => {
  let certs: TestCerts;
  let http: { child: ChildProcess; port: number } | undefined;
  let redis: { child: ChildProcess; port: number } | undefined;
  before(async () => {
    certs = makeTestCerts();
    const tlsArgs = ['--mode', testMode, '--tls-cert', certs.server.certFile, '--tls-key', certs.server.keyFile];
    http = await start('http-server.js', ['--addr', '127.0.0.1:0', ...tlsArgs]);
    redis = await start('redis-server.js', ['--port', '0', ...tlsArgs]);
  });
  after(async () => {
    await stop(http?.child);
    await stop(redis?.child);
    certs.remove();
  });

  test('curl --cacert: GET /plaintext over HTTPS, twice on one connection', async () => {
    const url = `https://localhost:${http!.port}/plaintext`;
    const { stdout } = await run('curl', ['-sS', '--max-time', '10', '--cacert', certs.caFile, '--resolve', `localhost:${http!.port}:127.0.0.1`, url, url]);
    assert.equal(stdout, 'Hello, World!Hello, World!');
  });

  test('curl without the CA refuses the certificate (the server keeps serving)', async () => {
    await assert.rejects(run('curl', ['-sS', '--max-time', '10', `https://127.0.0.1:${http!.port}/plaintext`]));
    const { stdout } = await run('curl', ['-sS', '--max-time', '10', '--cacert', certs.caFile, `https://127.0.0.1:${http!.port}/plaintext`]);
    assert.equal(stdout, 'Hello, World!');
  });

  test('redis-cli --tls: SET then GET', async () => {
    const cli = (...args: string[]) =>
      run('redis-cli', ['--tls', '--cacert', certs.caFile, '--sni', 'localhost', '-h', '127.0.0.1', '-p', String(redis!.port), ...args], { timeout: 10_000 });
    assert.equal((await cli('set', 'greeting', 'hello over tls')).stdout.trim(), 'OK');
    assert.equal((await cli('get', 'greeting')).stdout.trim(), 'hello over tls');
  });
});
