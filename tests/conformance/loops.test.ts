/**
 * Several event loops (gnet's behaviour): with numEventLoop 4 each load-balancing policy places
 * connections where gnet's would — round-robin in turn, least-connections on the emptiest loop
 * (ties to the lowest index), source-addr-hash by CRC-32 of the peer's `host:port`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type EventHandler, type LoadBalancing } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { StreamPeer, endpoint, hostPort } from '../support/clients.js';
import { LOOPBACK, startServer } from '../support/server.js';
import { Counter } from '../support/wait.js';
import { crc32 } from '../support/crc32.js';

const LOOPS = 4;

/** A server recording, per accepted conn, its loop index and its remote address. */
async function placementServer(lb: LoadBalancing) {
  const placed: Array<{ loop: number; remote: string; open: boolean }> = [];
  const opened = new Counter('onOpen');
  const closed = new Counter('onClose');
  const handler: EventHandler = {
    onOpen(c) {
      c.context = placed.length;
      placed.push({ loop: c.eventLoop.index, remote: c.remoteAddr, open: true });
      opened.inc();
    },
    onClose(c) {
      placed[c.context as number]!.open = false;
      closed.inc();
    },
    onTraffic(c) {
      c.write(String(c.eventLoop.index));
      c.discard();
    },
  };
  const server = await startServer(handler, LOOPBACK.tcp, { numEventLoop: LOOPS, lb });
  return { server, placed, opened, closed };
}

describe(`load balancing over ${LOOPS} loops (${testMode})`, () => {
  test('round-robin: connections take the loops in turn', { timeout: 20_000 }, async () => {
    const { server, placed, opened } = await placementServer('round-robin');
    const peers: StreamPeer[] = [];
    try {
      for (let i = 0; i < 2 * LOOPS + 1; i++) {
        peers.push(await StreamPeer.connect(server.addrs[0]!));
        await opened.wait(i + 1);
      }
      assert.deepEqual(placed.map((p) => p.loop), [0, 1, 2, 3, 0, 1, 2, 3, 0]);
      // The conn runs its callbacks on the loop it reports.
      await peers[6]!.write('?');
      assert.equal((await peers[6]!.read(1)).toString(), '2');
    } finally {
      for (const p of peers) p.destroy();
      await server.shutdown();
    }
  });

  test('least-connections: the loop with the fewest conns, ties to the lowest index', { timeout: 20_000 }, async () => {
    const { server, placed, opened, closed } = await placementServer('least-connections');
    const peers: StreamPeer[] = [];
    const connect = async () => {
      peers.push(await StreamPeer.connect(server.addrs[0]!));
      await opened.wait(peers.length);
      return placed.at(-1)!.loop;
    };
    try {
      for (let i = 0; i < 2 * LOOPS; i++) await connect();
      assert.deepEqual(placed.map((p) => p.loop), [0, 1, 2, 3, 0, 1, 2, 3]);
      // Loop 2 emptied, loop 1 down to one: new conns go to 2, then 1 (tied with 2, lower index), 2, 0.
      for (const i of [2, 6, 1]) peers[i]!.destroy();
      await closed.wait(3);
      assert.equal(await connect(), 2);
      assert.equal(await connect(), 1);
      assert.equal(await connect(), 2);
      assert.equal(await connect(), 0);
    } finally {
      for (const p of peers) p.destroy();
      await server.shutdown();
    }
  });

  test('source-addr-hash: loop = crc32(peer host:port) % loops', { timeout: 20_000 }, async () => {
    const { server, placed, opened } = await placementServer('source-addr-hash');
    const peers: StreamPeer[] = [];
    try {
      for (let i = 0; i < 16; i++) {
        peers.push(await StreamPeer.connect(server.addrs[0]!));
        await opened.wait(i + 1);
      }
      for (const [i, p] of placed.entries()) {
        const ep = endpoint(p.remote);
        assert.equal(ep.port, peers[i]!.socket.localPort);
        const key = hostPort(ep.host, ep.port);
        assert.equal(p.loop, crc32(key) % LOOPS, `conn ${i} from ${key}`);
      }
      assert.ok(new Set(placed.map((p) => p.loop)).size > 1, '16 ports hash to more than one loop');
    } finally {
      for (const p of peers) p.destroy();
      await server.shutdown();
    }
  });

  test('every loop index is in range and eventLoop.execute runs a function on the conn\'s loop', { timeout: 20_000 }, async () => {
    const ran: number[] = [];
    const handler: EventHandler = {
      onTraffic(c) {
        c.discard();
        const loop = c.eventLoop;
        void loop.execute(() => {
          ran.push(loop.index);
          c.write('done');
        });
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp, { numEventLoop: LOOPS });
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('x');
      assert.equal((await peer.read(4)).toString(), 'done');
      assert.equal(ran.length, 1);
      assert.ok(ran[0]! >= 0 && ran[0]! < LOOPS);
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });
});
