/**
 * examples/http-server.ts, the benchmark's HTTP server, run as a user runs it (a child process
 * in the mode under test): keep-alive, pipelined answers in order, bodies skipped, requests
 * split across reads, 400-and-close for a malformed request, clean exit on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exchange as rawExchange } from '../support/exchange.js';
import { testMode } from '../support/mode.js';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'http-server.js');

let server: ChildProcess;
let port = 0;

/** Sends `chunks` (with a pause between them), collects everything until the server closes or `quietMs` pass. */
const exchange = (chunks: string[], quietMs = 300) => rawExchange(() => net.connect(port, '127.0.0.1'), chunks, quietMs);

// responses follow each other directly (a body has no trailing CRLF), so no ^ anchor
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe(`examples/http-server (${testMode})`, () => {
  before(async () => {
    server = spawn(process.execPath, [script, '--mode', testMode, '--addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    server.stderr!.on('data', (d) => (err += d));
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no "listening" line in 15 s: ${err}`)), 15_000);
      server.stdout!.on('data', (d) => {
        out += d;
        const m = /^listening \S+:(\d+)$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      server.on('exit', (code) => reject(new Error(`exited (${code}) before listening: ${err}`)));
    });
  });

  after(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
  });

  test('GET /plaintext answers Hello, World! and keeps the connection', async () => {
    const { text, closedByServer } = await exchange(['GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n']);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /\r\nContent-Length: 13\r\n/);
    assert.match(text, /\r\nDate: .+ GMT\r\n/);
    assert.ok(text.endsWith('\r\n\r\nHello, World!'));
    assert.equal(closedByServer, false);
  });

  test('pipelined requests are answered in order, bodies skipped', async () => {
    const { text } = await exchange([
      'GET /plaintext HTTP/1.1\r\n\r\nGET /other HTTP/1.1\r\n\r\nPOST /plaintext HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET /plaintext HTTP/1.1\r\n\r\n',
    ]);
    assert.deepEqual(statuses(text), [200, 404, 405, 200]);
  });

  test('a request split across reads is answered once complete', async () => {
    const { text } = await exchange(['GET /plain', 'text HTTP/1.1\r\nHo', 'st: x\r\n\r\n']);
    assert.deepEqual(statuses(text), [200]);
  });

  test('a malformed request gets 400 and the connection closes', async () => {
    const { text, closedByServer } = await exchange(['NOT HTTP AT ALL\r\n\r\nGET /plaintext HTTP/1.1\r\n\r\n'], 2000);
    assert.deepEqual(statuses(text), [400]);
    assert.equal(closedByServer, true);
  });

  test('Connection: close is honoured after the answer', async () => {
    const { text, closedByServer } = await exchange(['GET /plaintext HTTP/1.1\r\nConnection: close\r\n\r\nGET /plaintext HTTP/1.1\r\n\r\n'], 2000);
    assert.deepEqual(statuses(text), [200]);
    assert.match(text, /\r\nConnection: close\r\n/);
    assert.equal(closedByServer, true);
  });

  test('SIGTERM stops it with exit code 0', async () => {
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 8000))]);
    assert.equal(code, 0);
  });
});
