/**
 * Structured addresses, as node:net names them: `c.remoteAddress`, `c.remotePort`,
 * `c.remoteFamily`, `c.localAddress`, `c.localPort` on every kind of connection (accepted tcp
 * over IPv4 and IPv6, a udp datagram, unix, a dialled client conn), checked against what the
 * Node socket on the other end reports; and `engine.addresses()` with the ports the kernel chose.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Client, type Conn, type EventHandler } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { DatagramPeer, StreamPeer } from '../support/clients.js';
import { LOOPBACK, removePath, startServer, unixPath } from '../support/server.js';
import { deferred, within } from '../support/wait.js';

interface Parts {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  remoteFamily: string | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
}

function parts(c: Conn): Parts {
  return { remoteAddress: c.remoteAddress, remotePort: c.remotePort, remoteFamily: c.remoteFamily, localAddress: c.localAddress, localPort: c.localPort };
}

/** A server that records the parts of the first conn with traffic, and echoes. */
function recorder() {
  const seen = deferred<Parts>();
  const handler: EventHandler = {
    onTraffic(c) {
      if (!seen.settled) seen.resolve(parts(c));
      c.write(c.next()!);
    },
  };
  return { seen, handler };
}

const STREAMS = [
  { name: 'tcp4', listen: LOOPBACK.tcp4, host: '127.0.0.1', family: 'IPv4' },
  { name: 'tcp6', listen: LOOPBACK.tcp6, host: '::1', family: 'IPv6' },
] as const;

describe(`structured addresses (${testMode})`, () => {
  for (const t of STREAMS) {
    test(`${t.name}: an accepted conn's parts are the Node peer's, the engine's the bound port`, { timeout: 20_000 }, async () => {
      const { seen, handler } = recorder();
      const server = await startServer(handler, t.listen);
      try {
        const [bound] = server.engine.addresses();
        assert.equal(bound?.network, 'tcp');
        assert.equal(bound?.address, t.host);
        assert.ok(bound?.port !== undefined && bound.port > 0, `a resolved port, got ${bound?.port}`);
        assert.equal(bound?.path, undefined);
        const peer = await StreamPeer.connect(server.addrs[0]!);
        await peer.write('x');
        const got = await within('the traffic', 10_000, seen.promise);
        assert.deepEqual(got, {
          remoteAddress: peer.socket.localAddress,
          remotePort: peer.socket.localPort,
          remoteFamily: t.family,
          localAddress: t.host,
          localPort: bound.port,
        });
        peer.destroy();
      } finally {
        await server.shutdown();
      }
    });
  }

  test('udp: a datagram conn names its sender', { timeout: 20_000 }, async () => {
    const { seen, handler } = recorder();
    const server = await startServer(handler, LOOPBACK.udp);
    try {
      const [bound] = server.engine.addresses();
      assert.equal(bound?.network, 'udp');
      assert.ok(bound?.port !== undefined && bound.port > 0);
      const peer = await DatagramPeer.open(server.addrs[0]!);
      await peer.send('x');
      const got = await within('the datagram', 10_000, seen.promise);
      assert.deepEqual(got, { remoteAddress: '127.0.0.1', remotePort: peer.port, remoteFamily: 'IPv4', localAddress: '127.0.0.1', localPort: bound.port });
      peer.socket.close();
    } finally {
      await server.shutdown();
    }
  });

  test('unix: the path as the address, no ports, no family', { timeout: 20_000 }, async () => {
    const p = unixPath('addresses');
    const { seen, handler } = recorder();
    const server = await startServer(handler, `unix://${p}`);
    try {
      assert.deepEqual(server.engine.addresses(), [{ network: 'unix', address: p, path: p }]);
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('x');
      const got = await within('the traffic', 10_000, seen.promise);
      assert.equal(got.localAddress, p);
      assert.equal(got.localPort, undefined);
      assert.equal(got.remotePort, undefined);
      assert.equal(got.remoteFamily, undefined);
      peer.destroy();
    } finally {
      await server.shutdown();
      removePath(p);
    }
  });

  test('engine.addresses(): every listener of a multi-address engine, in order', { timeout: 20_000 }, async () => {
    const p = unixPath('addresses-many');
    const server = await startServer({}, [LOOPBACK.tcp, LOOPBACK.udp, `unix://${p}`]);
    try {
      const list = server.engine.addresses();
      assert.deepEqual(list.map((a) => a.network), ['tcp', 'udp', 'unix']);
      // addrs and addresses() tell the same thing.
      assert.equal(server.addrs[0], `tcp://127.0.0.1:${list[0]!.port}`);
      assert.equal(server.addrs[1], `udp://127.0.0.1:${list[1]!.port}`);
      assert.equal(list[2]!.path, p);
    } finally {
      await server.shutdown();
      removePath(p);
    }
  });

  test("a dialled conn: the server's port as remotePort, its own as the server sees it", { timeout: 20_000 }, async () => {
    const { seen, handler } = recorder();
    const server = await startServer(handler, LOOPBACK.tcp);
    const client = new Client({}, { mode: testMode });
    await client.start();
    try {
      const c = await client.dial(server.addrs[0]!);
      c.write('x');
      c.flush();
      const atServer = await within('the traffic', 10_000, seen.promise);
      assert.deepEqual(parts(c), {
        remoteAddress: '127.0.0.1',
        remotePort: server.engine.addresses()[0]!.port,
        remoteFamily: 'IPv4',
        localAddress: atServer.remoteAddress,
        localPort: atServer.remotePort,
      });
    } finally {
      await client.stop();
      await server.shutdown();
    }
  });
});
