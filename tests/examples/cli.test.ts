/**
 * Every example server, run as a user runs it (a child process in the mode under test), given a
 * bad flag or a port another server holds: ONE line on stderr naming the problem, nothing on
 * stdout, no stack trace, and a non-zero exit. The bad flags: one the example does not take,
 * one without its value, text for a number, and a number run() rejects.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { testMode } from '../support/mode.js';

const examples = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');
const EXIT_TIMEOUT_MS = 20_000;

/** Each example server and the flags that make it listen on 127.0.0.1:`port`. */
const servers: { name: string; listenOn: (port: number) => string[] }[] = [
  { name: 'echo-server', listenOn: (port) => ['--port', String(port)] },
  { name: 'http-server', listenOn: (port) => ['--addr', `127.0.0.1:${port}`] },
  { name: 'redis-server', listenOn: (port) => ['--port', String(port)] },
  { name: 'tcp-proxy', listenOn: (port) => ['--listen', `127.0.0.1:${port}`] },
];

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs an example to its exit (killed after EXIT_TIMEOUT_MS: one that keeps running fails). */
function runExample(name: string, args: string[]): Promise<Outcome> {
  const child = spawn(process.execPath, [path.join(examples, `${name}.js`), '--mode', testMode, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Asserts the one-line failure: non-zero exit, one stderr line prefixed with the example's name. */
function assertOneLine(name: string, r: Outcome, reason: RegExp): void {
  assert.equal(r.signal, null, `${name} was still running after ${EXIT_TIMEOUT_MS} ms`);
  assert.notEqual(r.code, 0, `${name} exited 0`);
  assert.equal(r.stdout, '', `${name} printed on stdout`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${name}: expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^${name}\\b`), 'the line names the example');
  assert.match(lines[0]!, reason);
}

describe(`examples: a bad flag or a busy port is one line and a non-zero exit (${testMode})`, () => {
  let holder: net.Server;
  let busyPort = 0;
  before(async () => {
    holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    busyPort = (holder.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => holder.close(() => resolve())));

  for (const { name, listenOn } of servers) {
    test(`${name}: a port in use`, async () => {
      const r = await runExample(name, listenOn(busyPort));
      assertOneLine(name, r, /EADDRINUSE|in use/i);
    });

    test(`${name}: a flag it does not take`, async () => {
      const r = await runExample(name, [...listenOn(0), '--no-such-flag', '1']);
      assertOneLine(name, r, /--no-such-flag/);
    });

    test(`${name}: a flag without its value`, async () => {
      const r = await runExample(name, [...listenOn(0), '--loops']);
      assertOneLine(name, r, /--loops/);
    });

    test(`${name}: a number flag given text (--loops two)`, async () => {
      const r = await runExample(name, [...listenOn(0), '--loops', 'two']);
      assertOneLine(name, r, /--loops must be a number \(got "two"\)/);
    });

    test(`${name}: a value run() rejects (--loops 100000)`, async () => {
      const r = await runExample(name, [...listenOn(0), '--loops', '100000']);
      assertOneLine(name, r, /ERR_INVALID_OPTION.*numEventLoop.*100000/);
    });
  }
});
