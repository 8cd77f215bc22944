/**
 * Addresses that belong to someone else (issue "Hostile peers and full machines"), both
 * modes: a unix path is never taken from a live server nor deleted when it is not a socket,
 * a stale socket is replaced, stop removes only the socket this engine created, a path too
 * long for sun_path is refused (never cut), `unixSocketMode` applies; a second UDP server on
 * a busy port fails with EADDRINUSE unless reusePort was asked for.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ZgnetError } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { StreamPeer } from '../support/clients.js';
import { echo, zgnetError } from '../support/handlers.js';
import { removePath, staleUnixSocket, startServer, unixPath } from '../support/server.js';

function bindError(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof ZgnetError, String(err));
    assert.equal((err as ZgnetError).code, code, (err as Error).message);
    return true;
  };
}

describe(`unix socket paths (${testMode})`, () => {
  test('a regular file at the path is refused with EADDRINUSE and left as it was', async () => {
    const p = unixPath('file');
    fs.writeFileSync(p, 'precious');
    try {
      await assert.rejects(startServer({}, `unix://${p}`), bindError('EADDRINUSE'));
      assert.equal(fs.readFileSync(p, 'utf8'), 'precious');
    } finally {
      removePath(p);
    }
  });

  test('a path in a directory that does not exist: bind ENOENT naming the path, the same in both modes', async () => {
    const p = path.join(os.tmpdir(), `zgnet-no-such-dir-${process.pid}-${Date.now()}`, 'x.sock');
    await assert.rejects(startServer({}, `unix://${p}`), (err: unknown) => {
      assert.ok(bindError('ENOENT')(err));
      assert.equal((err as { syscall?: string }).syscall, 'bind');
      assert.equal((err as Error).message, `bind ENOENT ${p}`);
      return true;
    });
    assert.equal(fs.existsSync(path.dirname(p)), false, 'nothing was created');
  });

  test('a live server keeps its path: EADDRINUSE, and it still answers', { timeout: 20_000 }, async () => {
    const p = unixPath('live');
    const first = await startServer({ onTraffic: echo }, `unix://${p}`);
    try {
      await assert.rejects(startServer({}, `unix://${p}`), bindError('EADDRINUSE'));
      const peer = await StreamPeer.connect(`unix://${p}`);
      await peer.write('still here');
      assert.equal((await peer.read(10)).toString(), 'still here');
      peer.destroy();
    } finally {
      await first.shutdown();
      removePath(p);
    }
  });

  test('a stale socket (its server gone) is replaced', { timeout: 20_000 }, async () => {
    const p = unixPath('stale');
    staleUnixSocket(p);
    const server = await startServer({ onTraffic: echo }, `unix://${p}`);
    try {
      const peer = await StreamPeer.connect(`unix://${p}`);
      await peer.write('x');
      assert.equal((await peer.read(1)).toString(), 'x');
      peer.destroy();
    } finally {
      await server.shutdown();
      removePath(p);
    }
  });

  test('stop removes its own socket, and not one another engine bound there since', { timeout: 20_000 }, async () => {
    const p = unixPath('own');
    const first = await startServer({}, `unix://${p}`);
    await first.shutdown();
    assert.equal(fs.existsSync(p), false, 'its own socket is removed at stop');
    const a = await startServer({}, `unix://${p}`);
    // Someone moves a's socket away and binds their own at the path: a's stop must leave it.
    const moved = `${p}.moved`;
    fs.renameSync(p, moved);
    const b = await startServer({ onTraffic: echo }, `unix://${p}`);
    try {
      await a.shutdown();
      assert.ok(fs.existsSync(p), "b's socket survives a's stop");
      const peer = await StreamPeer.connect(`unix://${p}`);
      await peer.write('b');
      assert.equal((await peer.read(1)).toString(), 'b');
      peer.destroy();
    } finally {
      await b.shutdown();
      removePath(p);
      removePath(moved);
    }
  });

  test('a path too long for sun_path is refused, never cut', async () => {
    const long = path.join(os.tmpdir(), `zgnet-${'x'.repeat(130)}.sock`);
    await assert.rejects(startServer({}, `unix://${long}`), zgnetError('ERR_INVALID_NETWORK_ADDRESS', /sun_path/));
    const cut = long.slice(0, 107);
    assert.equal(fs.existsSync(cut), false, 'nothing was bound at a truncated path');
  });

  test('unixSocketMode sets the socket file mode', async () => {
    const p = unixPath('mode');
    const server = await startServer({}, `unix://${p}`, { unixSocketMode: 0o600 });
    try {
      assert.equal(fs.statSync(p).mode & 0o777, 0o600);
    } finally {
      await server.shutdown();
      removePath(p);
    }
  });
});

describe(`a busy UDP port (${testMode})`, () => {
  test('a second server on a bound UDP port fails with EADDRINUSE', async () => {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    const port = holder.address().port;
    try {
      await assert.rejects(startServer({}, `udp://127.0.0.1:${port}`), bindError('EADDRINUSE'));
    } finally {
      holder.close();
    }
  });

  test('two zgnet UDP servers on one port: the second fails unless both ask for reusePort', async () => {
    const first = await startServer({}, 'udp://127.0.0.1:0');
    try {
      await assert.rejects(startServer({}, first.addrs[0]!), bindError('EADDRINUSE'));
    } finally {
      await first.shutdown();
    }
  });
});
