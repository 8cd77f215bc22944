/**
 * `engine.stats()`: the counters after known traffic, exact to the byte — opens, closes, a
 * connection shed over `maxConnections`, two loops each with its own figures, server UDP
 * datagrams, and the last values after shutdown. The peers are plain Node sockets, so every
 * count is checked against what the other end sent and received.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EngineStats, EventHandler } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { DatagramPeer, StreamPeer } from '../support/clients.js';
import { LOOPBACK, startServer, type Server } from '../support/server.js';
import { until } from '../support/wait.js';

/** Echoes every byte back. */
const echo: EventHandler = {
  onTraffic(c) {
    c.write(c.next()!);
  },
};

/** The engine-wide figures without the per-loop rows. */
function totals(s: EngineStats): Omit<EngineStats, 'loops'> {
  const { loops: _loops, ...rest } = s;
  return rest;
}

/** Waits until the server's counters equal `want` (bytes are counted as the kernel takes them). */
async function statsReach(server: Server, want: Omit<EngineStats, 'loops'>): Promise<void> {
  try {
    await until('the expected stats', () => JSON.stringify(totals(server.engine.stats())) === JSON.stringify(want), 5000);
  } catch {
    assert.deepEqual(totals(server.engine.stats()), want);
  }
}

describe(`engine.stats() (${testMode})`, () => {
  test('opens, bytes each way and closes, exact', { timeout: 20_000 }, async () => {
    const server = await startServer(echo, LOOPBACK.tcp4);
    try {
      assert.deepEqual(server.engine.stats(), {
        connections: 0, accepted: 0, closed: 0, shed: 0, bytesRead: 0, bytesWritten: 0,
        loops: [{ connections: 0, bytesRead: 0, bytesWritten: 0 }],
      });
      const a = await StreamPeer.connect(server.addrs[0]!);
      const b = await StreamPeer.connect(server.addrs[0]!);
      await a.write(Buffer.alloc(100_000, 1));
      await b.write('x'.repeat(333));
      await a.read(100_000);
      await b.read(333);
      await statsReach(server, { connections: 2, accepted: 2, closed: 0, shed: 0, bytesRead: 100_333, bytesWritten: 100_333 });
      a.destroy();
      await statsReach(server, { connections: 1, accepted: 2, closed: 1, shed: 0, bytesRead: 100_333, bytesWritten: 100_333 });
      await b.write('tail');
      await b.read(4);
      b.destroy();
      await statsReach(server, { connections: 0, accepted: 2, closed: 2, shed: 0, bytesRead: 100_337, bytesWritten: 100_337 });
    } finally {
      await server.shutdown();
    }
  });

  test('two loops: each counts its own connections and bytes', { timeout: 20_000 }, async () => {
    const server = await startServer(echo, LOOPBACK.tcp4, { numEventLoop: 2, lb: 'round-robin' });
    try {
      const first = await StreamPeer.connect(server.addrs[0]!);
      await first.write('a'.repeat(10));
      await first.read(10);
      const second = await StreamPeer.connect(server.addrs[0]!);
      await second.write('b'.repeat(250));
      await second.read(250);
      await statsReach(server, { connections: 2, accepted: 2, closed: 0, shed: 0, bytesRead: 260, bytesWritten: 260 });
      const loops = server.engine.stats().loops;
      assert.equal(loops.length, 2);
      // Round-robin: one connection per loop; which loop got the first is the balancer's.
      const byRead = [...loops].sort((x, y) => x.bytesRead - y.bytesRead);
      assert.deepEqual(byRead, [
        { connections: 1, bytesRead: 10, bytesWritten: 10 },
        { connections: 1, bytesRead: 250, bytesWritten: 250 },
      ]);
      first.destroy();
      second.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('a connection over maxConnections is shed, not accepted', { timeout: 20_000 }, async () => {
    const server = await startServer(echo, LOOPBACK.tcp4, { maxConnections: 1 });
    try {
      const kept = await StreamPeer.connect(server.addrs[0]!);
      await kept.write('ping');
      await kept.read(4);
      const over = await StreamPeer.connect(server.addrs[0]!);
      await over.waitEnd();
      await statsReach(server, { connections: 1, accepted: 1, closed: 0, shed: 1, bytesRead: 4, bytesWritten: 4 });
      kept.destroy();
      over.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('server UDP: datagrams count their bytes, not connections', { timeout: 20_000 }, async () => {
    const server = await startServer(echo, LOOPBACK.udp);
    try {
      const peer = await DatagramPeer.open(server.addrs[0]!);
      await peer.send('d'.repeat(40));
      await peer.receive();
      await peer.send('e'.repeat(2));
      await peer.receive();
      await statsReach(server, { connections: 0, accepted: 0, closed: 0, shed: 0, bytesRead: 42, bytesWritten: 42 });
      peer.close();
    } finally {
      await server.shutdown();
    }
  });

  test('after shutdown the engine keeps its last values; open connections count as closed', { timeout: 20_000 }, async () => {
    const server = await startServer(echo, LOOPBACK.tcp4);
    const peer = await StreamPeer.connect(server.addrs[0]!);
    await peer.write('y'.repeat(77));
    await peer.read(77);
    await statsReach(server, { connections: 1, accepted: 1, closed: 0, shed: 0, bytesRead: 77, bytesWritten: 77 });
    await server.shutdown();
    assert.deepEqual(server.engine.stats(), {
      connections: 0, accepted: 1, closed: 1, shed: 0, bytesRead: 77, bytesWritten: 77,
      loops: [{ connections: 0, bytesRead: 77, bytesWritten: 77 }],
    });
    peer.destroy();
  });
});
