/**
 * The Client (gnet's client_test.go): a zgnet Client against a
 * zgnet server and against plain node:net servers. Conns come from dial() and from enroll()
 * of a socket the test connected itself; each sends random packets with asyncWrite and
 * collects the echo in onTraffic, byte for byte. Also TestWakeConnImmediately and
 * TestClientReadOnEOF from the client side, and the client's shutdown order.
 *
 * `Client` is looked up on the module at run time so that this file compiles before the
 * class exists; until then every test here fails with "Client is not exported".
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import * as zgnet from '../../host/index.js';
import { type ClientOptions, type Conn, type Engine, type EventHandler } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { Random } from '../support/random.js';
import { sameBytes } from '../support/clients.js';
import { echo, seededBytes, zgnetError } from '../support/handlers.js';
import { LOOPBACK, removePath, startServer, unixPath } from '../support/server.js';
import { Counter, deferred, within, type Deferred } from '../support/wait.js';

/** The Client of host/client.ts. */
interface ClientLike {
  start(): Promise<void>;
  dial(protoAddr: string, options?: { context?: unknown; signal?: AbortSignal }): Promise<Conn>;
  enroll(socket: net.Socket, options?: { context?: unknown }): Promise<Conn>;
  stop(): Promise<void>;
}
type ClientClass = new (handler: EventHandler, options?: ClientOptions) => ClientLike;

function clientClass(): ClientClass {
  const cls = (zgnet as Record<string, unknown>).Client;
  assert.equal(typeof cls, 'function', 'Client is not exported from zgnet');
  return cls as ClientClass;
}

/** Starts a client in the mode under test, runs `body`, and always stops it. */
async function withClient<T>(handler: EventHandler, body: (client: ClientLike) => Promise<T>, options: ClientOptions = {}): Promise<T> {
  const Client = clientClass();
  const client = new Client(handler, { mode: testMode, logger: { debug() {}, info() {}, warn() {}, error() {} }, ...options });
  await within('client.start()', 10_000, client.start());
  try {
    return await body(client);
  } finally {
    await within('client.stop()', 10_000, client.stop().catch(() => {}));
  }
}

function connectSocket(addr: string): Promise<net.Socket> {
  const m = /^(tcp|unix):\/\/(?:\[?([^\]]*?)\]?:(\d+)|(.*))$/.exec(addr)!;
  const socket = m[1] === 'unix' ? net.connect({ path: m[4]! }) : net.connect({ host: m[2]!, port: Number(m[3]) });
  return within(`connecting to ${addr}`, 10_000, new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  }));
}

interface Exchange {
  expected: number;
  chunks: Buffer[];
  size: number;
  done: Deferred<Buffer>;
}

/** A client handler that collects what each conn receives until its exchange is complete. */
function collectingHandler() {
  const opened = new Counter('client onOpen');
  const closed = new Counter('client onClose');
  const handler: EventHandler = {
    onOpen: () => void opened.inc(),
    onClose: () => void closed.inc(),
    onTraffic(c) {
      const x = c.context as Exchange | undefined;
      const data = c.next()!;
      if (x === undefined) return;
      x.chunks.push(Buffer.from(data));
      x.size += data.length;
      if (x.size >= x.expected) x.done.resolve(Buffer.concat(x.chunks));
    },
  };
  return { handler, opened, closed };
}

async function exchange(c: Conn, packet: Buffer): Promise<void> {
  const x: Exchange = { expected: packet.length, chunks: [], size: 0, done: deferred<Buffer>() };
  c.context = x;
  await within('asyncWrite', 10_000, c.asyncWrite(packet));
  const echoed = await within(`the echo of ${packet.length} bytes (have ${x.size})`, 15_000, x.done.promise);
  assert.equal(sameBytes(echoed, packet), null);
}

describe(`client (${testMode})`, () => {
  for (const network of ['tcp', 'unix', 'udp'] as const) {
    test(`${network}: dialled and enrolled conns echo random packets through a zgnet server (TestClient)`, { timeout: 30_000 }, async () => {
      const listen = network === 'tcp' ? LOOPBACK.tcp : network === 'udp' ? LOOPBACK.udp : `unix://${unixPath('client')}`;
      const server = await startServer({ onTraffic: echo }, listen);
      const { handler, opened, closed } = collectingHandler();
      const rng = new Random(network.length * 7);
      try {
        await withClient(handler, async (client) => {
          const conns: Conn[] = [];
          for (let i = 0; i < 4; i++) {
            // gnet's test: half the clients enroll a conn they dialled, half dial through the client.
            if (network === 'udp' || i % 2 === 0) conns.push(await within('dial()', 10_000, client.dial(server.addrs[0]!)));
            else conns.push(await within('enroll()', 10_000, client.enroll(await connectSocket(server.addrs[0]!))));
            assert.equal(opened.value, i + 1, 'dial/enroll resolves after onOpen ran');
          }
          const size = network === 'udp' ? 1024 : 1024 * 1024;
          await Promise.all(conns.map(async (c) => {
            for (let p = 0; p < 2; p++) await exchange(c, seededBytes(rng, size));
          }));
        });
        assert.equal(closed.value, 4, 'client.stop() closed every conn');
      } finally {
        await server.shutdown();
        if (network === 'unix') removePath(listen.slice('unix://'.length));
      }
    });
  }

  test('onBoot gets a client engine: dup and dupListener are ERR_EMPTY_ENGINE, countConnections is -1; stop runs onClose(null) then onShutdown', { timeout: 20_000 }, async () => {
    const server = await startServer({ onTraffic: echo }, LOOPBACK.tcp);
    const events: string[] = [];
    let engine: Engine | undefined;
    const handler: EventHandler = {
      onBoot: (e) => void (engine = e),
      onClose: (_c, err) => void events.push(`onClose ${err}`),
      onShutdown: () => void events.push('onShutdown'),
    };
    try {
      await withClient(handler, async (client) => {
        assert.ok(engine, 'client.start() called onBoot');
        assert.throws(() => engine!.dup(), zgnetError('ERR_EMPTY_ENGINE'));
        assert.throws(() => engine!.dupListener('tcp', server.addrs[0]!), zgnetError('ERR_EMPTY_ENGINE'));
        assert.equal(engine!.countConnections(), -1);
        await client.dial(server.addrs[0]!);
        await client.dial(server.addrs[0]!);
        await client.stop();
        assert.deepEqual(events, ['onClose null', 'onClose null', 'onShutdown']);
      });
    } finally {
      await server.shutdown();
    }
  });

  test('dialling a refused address rejects with ECONNREFUSED', { timeout: 20_000 }, async () => {
    const closedServer = net.createServer();
    await new Promise<void>((resolve) => closedServer.listen(0, '127.0.0.1', resolve));
    const port = (closedServer.address() as net.AddressInfo).port;
    await new Promise((resolve) => closedServer.close(resolve));
    await withClient({}, async (client) => {
      await assert.rejects(client.dial(`tcp://127.0.0.1:${port}`), (err: Error & { code?: string }) => err.code === 'ECONNREFUSED');
    });
  });

  test('a conn woken and closed right after dial sees the empty-buffer semantics (TestWakeConnImmediately)', { timeout: 20_000 }, async () => {
    const server = await startServer({}, LOOPBACK.tcp);
    const seen = deferred<Record<string, unknown>>();
    const handler: EventHandler = {
      onTraffic(c) {
        if (seen.settled) return;
        const next0 = c.next();
        seen.resolve({
          read10: c.read(new Uint8Array(10)),
          next10: c.next(10),
          peek10: c.peek(10),
          next0: next0?.length,
          peekAll: c.peek(-1)?.length,
          discard10: c.discard(10),
          discardAll: c.discard(-1),
          inbound: c.inboundBuffered(),
        });
      },
    };
    try {
      await withClient(handler, async (client) => {
        const c = await client.dial(server.addrs[0]!);
        const woken = c.wake();
        const closing = c.close();
        await within('wake() and close()', 10_000, Promise.all([woken, closing]));
        const r = await within('onTraffic from wake()', 10_000, seen.promise);
        assert.deepEqual(r, { read10: 0, next10: null, peek10: null, next0: 0, peekAll: 0, discard10: 0, discardAll: 0, inbound: 0 });
      });
    } finally {
      await server.shutdown();
    }
  });

  test('data sent with the FIN reaches onTraffic before onClose (TestClientReadOnEOF)', { timeout: 20_000 }, async () => {
    const backend = net.createServer((s) => {
      s.once('data', (d) => s.end(d.subarray(0, 8))); // echo up to 8 bytes and close at once
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const events: string[] = [];
    const closed = deferred();
    const handler: EventHandler = {
      onOpen: (c) => void c.write('test'),
      onTraffic: (c) => void events.push(`traffic ${c.next()!.toString()}`),
      onClose: (_c, err) => {
        events.push(`close ${err === null ? 'null' : 'error'}`);
        closed.resolve();
      },
    };
    try {
      await withClient(handler, async (client) => {
        await client.dial(`tcp://127.0.0.1:${(backend.address() as net.AddressInfo).port}`);
        await within('onClose', 10_000, closed.promise);
        assert.deepEqual(events, ['traffic test', 'close error']);
      });
    } finally {
      await new Promise((resolve) => backend.close(resolve));
    }
  });
});
