/**
 * gnet's proxy pattern (gnet's TestStreamProxyServer): raw node:net clients → a zgnet
 * proxy server whose every front conn registers a back-end conn on its own loop
 * (`c.eventLoop.register(backend, c)`) → a zgnet or node:net echo back end, over tcp and
 * unix. Every byte is checked end to end; closing either side closes its peer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Conn, EventHandler, EventLoop } from '../../host/index.js';
import { sameBytes, StreamPeer } from '../support/clients.js';
import { seededBytes, zgnetError } from '../support/handlers.js';
import { removePath, startServer, unixPath } from '../support/server.js';
import { Counter, until, within } from '../support/wait.js';
import { Random } from '../support/random.js';
import { nodeEcho, zgnetEcho, type Backend } from '../support/echo-backends.js';
import { testMode } from '../support/mode.js';

const CLIENTS = 6;
const BYTES = 256 * 1024;

interface Link {
  /** The other side; undefined until the back end's onOpen ran. */
  peer: Conn | undefined;
}

function proxyHandler(backendAddr: string) {
  const problems: string[] = [];
  const backends = new Counter('back-end onOpen');
  const loops: EventLoop[] = [];
  const handler: EventHandler = {
    onOpen(c) {
      const front = c.context as Conn | undefined;
      if (front !== undefined) {
        // A back-end conn: registered by `front`, on the same loop, context already set.
        if (c.eventLoop.index !== front.eventLoop.index) problems.push('back end on another loop');
        (front.context as Link).peer = c;
        c.context = { peer: front } satisfies Link;
        backends.inc();
        return;
      }
      const link: Link = { peer: undefined };
      c.context = link;
      loops.push(c.eventLoop);
      c.eventLoop.register(backendAddr, c).catch((err: Error) => {
        problems.push(`register: ${err.message}`);
        void c.close();
      });
    },
    onTraffic(c) {
      const link = c.context as Link;
      if (link.peer === undefined) return void c.wake(); // not linked yet: again on a later turn
      link.peer.write(c.next()!);
    },
    onClose(c) {
      const link = c.context as Link | Conn | undefined;
      const peer = link !== undefined && 'peer' in link ? link.peer : (link as Conn | undefined);
      if (peer !== undefined) void peer.close();
    },
  };
  return { handler, problems, backends, loops };
}

async function throughProxy(frontAddr: string, payload: Buffer, rng: Random): Promise<void> {
  const peer = await StreamPeer.connect(frontAddr);
  try {
    // Written in random pieces while the echo streams back.
    const reading = peer.read(payload.length, 'the proxied echo', 20_000);
    for (const piece of rng.chunks(payload, 32 * 1024)) await peer.write(piece);
    assert.equal(sameBytes(await reading, payload), null);
  } finally {
    peer.end();
    await within('the client closing', 10_000, peer.closed);
  }
}

describe(`proxy through eventLoop.register (${testMode})`, () => {
  const cases = [
    { front: 'tcp', back: 'zgnet tcp' },
    { front: 'tcp', back: 'node tcp' },
    { front: 'tcp', back: 'zgnet unix' },
    { front: 'unix', back: 'node unix' },
  ] as const;
  for (const { front, back } of cases) {
    test(`${front} front → ${back} back end: ${CLIENTS} clients × 256 KiB, byte for byte`, { timeout: 60_000 }, async () => {
      const [kind, transport] = back.split(' ') as ['zgnet' | 'node', 'tcp' | 'unix'];
      const backend: Backend = kind === 'zgnet' ? await zgnetEcho(transport) : await nodeEcho(transport);
      const proxy = proxyHandler(backend.addr);
      const frontPath = front === 'unix' ? unixPath('proxy') : '';
      const server = await startServer(proxy.handler, frontPath ? `unix://${frontPath}` : 'tcp://127.0.0.1:0', { numEventLoop: 2 });
      try {
        const rng = new Random(front.length * 31 + back.length);
        await Promise.all(Array.from({ length: CLIENTS }, () => throughProxy(server.addrs[0]!, seededBytes(rng, BYTES), rng)));
        assert.deepEqual(proxy.problems, []);
        assert.equal(proxy.backends.value, CLIENTS, 'one back-end conn per front conn');
        assert.deepEqual([...new Set(proxy.loops.map((l) => l.index))].sort(), [0, 1], 'fronts on both loops');
        await until('every front and back-end conn closed', () => server.engine.countConnections() === 0);
        await server.engine.stop();
        await assert.rejects(proxy.loops[0]!.register(backend.addr), zgnetError('ERR_ENGINE_IN_SHUTDOWN'));
      } finally {
        await server.shutdown();
        await backend.close();
        if (frontPath) removePath(frontPath);
      }
    });
  }
});
