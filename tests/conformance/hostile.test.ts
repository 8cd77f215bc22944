/**
 * Peers and machines that misbehave (issue "Hostile peers and full machines"), both modes: a
 * peer that half-closes still gets everything it was sent; a process out of file descriptors
 * keeps serving, sheds what it cannot hold, logs that at a rate limit, and serves new clients
 * once fds free up.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Action } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { StreamPeer } from '../support/clients.js';
import { LOOPBACK, startServer } from '../support/server.js';
import { settle, until, within } from '../support/wait.js';

const MiB = 1024 * 1024;
const here = path.dirname(fileURLToPath(import.meta.url));

describe(`half-close (${testMode})`, () => {
  test('a client that sends its request and shuts its write side gets all 32 MiB of the answer', { timeout: 30_000 }, async () => {
    const answer = Buffer.alloc(32 * MiB, 0x61);
    const server = await startServer(
      {
        onTraffic(c) {
          if (c.discard() > 0) c.write(answer);
        },
        onClose: () => Action.None,
      },
      LOOPBACK.tcp,
    );
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('request');
      peer.end(); // FIN: the request is complete, the answer may still come
      const got = await peer.readToEnd(25_000);
      assert.equal(got.length, answer.length, `received ${got.length} of ${answer.length}`);
    } finally {
      await server.shutdown();
    }
  });
});

/** Connects and echoes one byte; resolves true when served, false when closed without an answer. */
function tryEcho(addr: string): Promise<{ socket: net.Socket; served: boolean }> {
  const url = new URL(addr.replace(/^tcp:/, 'http:'));
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) });
    let done = false;
    const finish = (served: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ socket, served });
    };
    const timer = setTimeout(() => finish(false), 5000);
    socket.on('connect', () => socket.write('x'));
    socket.on('data', () => finish(true));
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

describe(`out of file descriptors (${testMode})`, () => {
  test('ulimit -n 256 and 400 clients: the server keeps serving and serves new clients once fds free up', { timeout: 60_000 }, async () => {
    const script = path.join(here, '..', 'support', 'echo-server-child.js');
    const child = spawn('bash', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${script}"`], {
      env: { ...process.env, ZGNET_MODE: testMode },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = readline.createInterface({ input: child.stdout! });
    const messages: Record<string, unknown>[] = [];
    lines.on('line', (line) => messages.push(JSON.parse(line) as Record<string, unknown>));
    const open: net.Socket[] = [];
    try {
      await until('the child server up', () => messages.some((m) => 'addr' in m), 20_000);
      const addr = messages.find((m) => 'addr' in m)!.addr as string;
      const results = [];
      for (let wave = 0; wave < 4; wave++) {
        results.push(...(await Promise.all(Array.from({ length: 100 }, () => tryEcho(addr)))));
      }
      for (const r of results) open.push(r.socket);
      const served = results.filter((r) => r.served).length;
      assert.ok(served > 100, `served while under the limit (${served})`);
      assert.ok(served < 400, `some were shed: the limit was reached (${served} of 400 served)`);
      if (testMode === 'native') {
        // (wasm mode: libuv sheds these itself, with its own reserve fd, and tells JavaScript nothing.)
        await until('a rate-limited log line', () => messages.some((m) => typeof m.log === 'string'), 10_000);
      }
      const logs = messages.filter((m) => typeof m.log === 'string');
      assert.ok(logs.length <= 3, `rate-limited (${logs.length} lines)`);
      for (const s of open) s.destroy();
      open.length = 0;
      await settle(300);
      const after = await Promise.all(Array.from({ length: 20 }, () => tryEcho(addr)));
      for (const r of after) open.push(r.socket);
      assert.equal(after.filter((r) => r.served).length, 20, 'every new client is served once fds are free');
      assert.equal(messages.some((m) => m.stopped === true), false, 'the engine never stopped');
    } finally {
      for (const s of open) s.destroy();
      child.stdin!.end();
      await within('the child exiting', 20_000, new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve))));
    }
  });
});
