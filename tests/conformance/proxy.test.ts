/**
 * Connections the engine did not accept (gnet's TestStreamProxyServer and
 * TestUDPProxyServer): a front server that, for each accepted conn, adds an outbound conn to a
 * plain node:net / node:dgram echo backend on the same loop — `eventLoop.register(addr, ctx)`
 * dials, `eventLoop.enroll(socket, ctx)` adopts a socket — and relays bytes both ways.
 * Registered conns get onOpen (with the context already set) before the promise resolves.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { type Conn, type EventHandler, type EventLoop } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { Random } from '../support/random.js';
import { StreamPeer } from '../support/clients.js';
import { nodeEcho, nodeUdpEcho } from '../support/echo-backends.js';
import { zgnetError } from '../support/handlers.js';
import { LOOPBACK, startServer } from '../support/server.js';
import { Counter, until, within } from '../support/wait.js';

/** A relay: front conns (context unset at onOpen) get a backend conn on their own loop. */
function relayHandler(backendAddr: string, how: (i: number) => 'register' | 'enroll') {
  const problems: string[] = [];
  const backendsOpened = new Counter('backend onOpen');
  const linked = new Counter('backend promise');
  const loops: EventLoop[] = [];
  /** Sockets dialled for enroll(): destroyed at the end, whether or not the engine took them. */
  const dialed: net.Socket[] = [];
  let fronts = 0;
  const handler: EventHandler = {
    onOpen(c) {
      if (c.context !== undefined) {
        // A backend conn: its context is the front conn given to register/enroll.
        const front = c.context as Conn;
        if (c.eventLoop.index !== front.eventLoop.index) problems.push('backend on another loop');
        front.context = c;
        backendsOpened.inc();
        return;
      }
      const i = fronts++;
      loops.push(c.eventLoop);
      const pending =
        how(i) === 'register'
          ? c.eventLoop.register(backendAddr, c)
          : (() => {
              const port = Number(backendAddr.split(':').at(-1));
              const socket = net.connect({ host: '127.0.0.1', port });
              dialed.push(socket);
              return new Promise<net.Socket>((resolve, reject) => {
                socket.once('connect', () => resolve(socket));
                socket.once('error', reject);
              }).then((s) => c.eventLoop.enroll(s, c));
            })();
      pending.then(
        (backend) => {
          if (backend.context !== c) problems.push(`${how(i)}: the backend's context is not its front`);
          if (c.context !== backend) problems.push(`${how(i)}: onOpen had not run when the promise resolved`);
          linked.inc();
        },
        (err: Error) => {
          problems.push(`${how(i)} failed: ${err.message}`);
          void c.close(); // the client then fails at once instead of waiting for its deadline
        },
      );
    },
    onTraffic(c) {
      const peer = c.context as Conn | undefined;
      if (peer === undefined) {
        void c.wake(); // not linked yet: try again on a later turn, as gnet's test does
        return;
      }
      peer.write(c.next()!);
    },
    onClose(c) {
      const peer = c.context as Conn | undefined;
      if (peer !== undefined) void peer.close();
    },
  };
  return { handler, problems, backendsOpened, linked, loops, dialed };
}

async function relayThrough(frontAddr: string, messages: Buffer[], stream: boolean, problems: string[]): Promise<void> {
  const peer = await StreamPeer.connect(frontAddr);
  try {
    if (stream) {
      const all = Buffer.concat(messages);
      await peer.write(all);
      assert.ok((await peer.read(all.length, 'the relayed echo')).equals(all));
    } else {
      // Datagram backend: one message in flight at a time keeps its boundaries.
      for (const m of messages) {
        await peer.write(m);
        assert.ok((await peer.read(m.length, 'the relayed datagram echo')).equals(m));
      }
    }
  } catch (err) {
    throw problems.length > 0 ? new Error(problems.join('; '), { cause: err }) : err;
  } finally {
    peer.end();
    await within('the client closing', 10_000, peer.closed);
  }
}

describe(`register and enroll (${testMode})`, () => {
  for (const backendKind of ['tcp', 'udp'] as const) {
    test(`front tcp, ${backendKind} backend: register and enroll relay byte for byte on the front's loop`, { timeout: 20_000 }, async () => {
      const backend = backendKind === 'tcp' ? await nodeEcho('tcp') : await nodeUdpEcho();
      const relay = relayHandler(backend.addr, (i) => (backendKind === 'udp' || i % 2 === 0 ? 'register' : 'enroll'));
      const server = await startServer(relay.handler, LOOPBACK.tcp, { numEventLoop: 2 });
      try {
        const rng = new Random(backendKind === 'tcp' ? 31 : 32);
        const clients = 4;
        await Promise.all(
          Array.from({ length: clients }, () => {
            const messages = Array.from({ length: 8 }, () => rng.bytes(rng.int(1, backendKind === 'tcp' ? 8192 : 1024)));
            return relayThrough(server.addrs[0]!, messages, backendKind === 'tcp', relay.problems);
          }),
        );
        await relay.linked.wait(clients);
        assert.equal(relay.backendsOpened.value, clients, 'every backend conn got onOpen');
        assert.deepEqual(relay.problems, []);
        const loop = relay.loops[0]!;
        await server.engine.stop();
        await assert.rejects(loop.register(backend.addr), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
        await assert.rejects(loop.execute(() => {}), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
        await assert.rejects(loop.enroll(new net.Socket()), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
      } finally {
        await server.shutdown();
        for (const s of relay.dialed) s.destroy();
        await backend.close();
      }
    });
  }

  test('register of a refused address rejects with ECONNREFUSED; of a bad address with ERR_INVALID_NETWORK_ADDRESS', { timeout: 20_000 }, async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    let loop: EventLoop | undefined;
    const server = await startServer({ onOpen: (c) => void (loop = c.eventLoop) }, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await until('onOpen', () => loop !== undefined);
      await assert.rejects(loop!.register(`tcp://127.0.0.1:${port}`), (err: Error & { code?: string }) => err.code === 'ECONNREFUSED');
      await assert.rejects(loop!.register('tcp://'), zgnetError('ERR_INVALID_NETWORK_ADDRESS'));
      assert.equal(server.engine.countConnections(), 1, 'a failed register adds nothing');
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });
});
