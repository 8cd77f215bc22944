/**
 * A 1 MiB random payload through a zgnet echo server and back, checked byte for byte, on
 * conns the Client dialled (tcp, unix, and udp as 1024-byte datagrams, gnet's datagramLen)
 * and on sockets it enrolled (a net.Socket over tcp and unix, a connected dgram.Socket).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { describe, test } from 'node:test';
import type { Conn, EventHandler } from '../../host/index.js';
import { endpoint } from '../support/clients.js';
import { seededBytes } from '../support/handlers.js';
import { Counter, deferred, within, type Deferred } from '../support/wait.js';
import { Random } from '../support/random.js';
import { collect, collector, expectEcho, withClient } from '../support/client.js';
import { zgnetEcho } from '../support/echo-backends.js';
import { testMode } from '../support/mode.js';

const STREAM_LEN = 1024 * 1024;
const DATAGRAM_LEN = 1024;
/** A datagram not echoed within this is sent again (loopback loses datagrams only under pressure). */
const RESEND_MS = 500;

/** Ping-pong of the payload's datagrams: the next goes out when the previous came back. */
interface DatagramRun {
  payload: Buffer;
  next: number;
  received: Buffer[];
  done: Deferred<Buffer>;
  problems: string[];
  resent: number;
  sentAt: number;
}

function datagramRun(payload: Buffer): DatagramRun {
  return { payload, next: 0, received: [], done: deferred<Buffer>(), problems: [], resent: 0, sentAt: 0 };
}

function datagramAt(run: DatagramRun, i: number): Buffer {
  return run.payload.subarray(i * DATAGRAM_LEN, (i + 1) * DATAGRAM_LEN);
}

function sendNext(c: Conn, run: DatagramRun): void {
  run.sentAt = Date.now();
  c.write(datagramAt(run, run.next));
}

/** A client handler for datagram runs: onOpen starts, onTraffic checks each echo and sends the next. */
const datagramHandler: EventHandler = {
  onOpen(c) {
    const run = c.context as DatagramRun;
    assert.equal(c.inboundBuffered(), 0);
    sendNext(c, run);
  },
  onTraffic(c) {
    const run = c.context as DatagramRun;
    const got = c.next()!;
    if (got.length !== DATAGRAM_LEN) return void run.problems.push(`a ${got.length}-byte datagram`);
    const want = datagramAt(run, run.next);
    if (!got.equals(want)) {
      // A late echo of a datagram sent twice is the previous one: ignore it.
      if (run.next > 0 && got.equals(datagramAt(run, run.next - 1))) return;
      return void run.problems.push(`datagram ${run.next} differs`);
    }
    run.received.push(Buffer.from(got));
    run.next++;
    if (run.next * DATAGRAM_LEN === run.payload.length) return void run.done.resolve(Buffer.concat(run.received));
    sendNext(c, run);
  },
};

/** Resends the outstanding datagram when its echo is late; stops when the run is done. */
function resender(c: Conn, run: DatagramRun): () => void {
  const timer = setInterval(() => {
    if (Date.now() - run.sentAt < RESEND_MS) return;
    run.resent++;
    run.sentAt = Date.now();
    void c.asyncWrite(datagramAt(run, run.next)).catch(() => {});
  }, RESEND_MS / 2);
  return () => clearInterval(timer);
}

async function datagramRoundTrip(c: Conn, run: DatagramRun, what: string): Promise<void> {
  const stop = resender(c, run);
  try {
    const echoed = await within(`${what}: ${run.payload.length / DATAGRAM_LEN} datagrams (at ${run.next})`, 30_000, run.done.promise);
    assert.deepEqual(run.problems, []);
    assert.ok(echoed.equals(run.payload), `${what}: the echoed datagrams differ from the payload`);
  } finally {
    stop();
  }
}

describe(`client round trip (${testMode})`, () => {
  for (const transport of ['tcp', 'unix'] as const) {
    test(`${transport}: 1 MiB through a zgnet echo server on dialled conns, byte for byte`, { timeout: 60_000 }, async () => {
      const server = await zgnetEcho(transport);
      const rng = new Random(transport === 'tcp' ? 101 : 102);
      const opened = new Counter('onOpen');
      try {
        await withClient({ onOpen: () => void opened.inc(), onTraffic: collect }, async (client) => {
          // Two conns on two loops: one writes the MiB at once, one as a writev of random pieces.
          const payloads = [seededBytes(rng, STREAM_LEN), seededBytes(rng, STREAM_LEN)];
          const conns = await Promise.all(payloads.map((p) => client.dial(server.addrs[0]!, { context: collector(p.length) })));
          assert.equal(opened.value, 2, 'dial resolves after onOpen');
          assert.deepEqual(conns.map((c) => c.eventLoop.index).sort(), [0, 1], 'least-connections spreads the dials');
          assert.match(conns[0]!.remoteAddr, transport === 'tcp' ? /^tcp:\/\/127\.0\.0\.1:\d+$/ : /^unix:\/\//);
          await conns[0]!.asyncWrite(payloads[0]!);
          await conns[1]!.asyncWritev(rng.chunks(payloads[1]!, 64 * 1024));
          await Promise.all(conns.map((c, i) => expectEcho(c, payloads[i]!, `conn ${i}`)));
        }, { numEventLoop: 2 });
      } finally {
        await server.close();
      }
    });
  }

  test('udp: 1 MiB as 1024-byte datagrams through a zgnet echo server, each one checked', { timeout: 60_000 }, async () => {
    const server = await zgnetEcho('udp');
    const rng = new Random(103);
    const closed: (Error | null)[] = [];
    try {
      await withClient({ ...datagramHandler, onClose: (_c, err) => void closed.push(err) }, async (client) => {
        const run = datagramRun(seededBytes(rng, STREAM_LEN));
        const c = await client.dial(server.addrs[0]!, { context: run });
        assert.match(c.localAddr, /^udp:\/\/127\.0\.0\.1:\d+$/);
        assert.equal(c.remoteAddr, server.addrs[0]);
        assert.throws(() => c.writev([Buffer.from('x')]), (err: Error & { code?: string }) => err.code === 'ERR_UNSUPPORTED_OP');
        await datagramRoundTrip(c, run, 'dialled udp');
      });
      assert.deepEqual(closed, [null], 'a connected udp conn gets onClose (null on stop)');
    } finally {
      await server.close();
    }
  });

  for (const transport of ['tcp', 'unix'] as const) {
    test(`${transport}: an enrolled net.Socket carries 1 MiB through a zgnet echo server`, { timeout: 60_000 }, async () => {
      const server = await zgnetEcho(transport);
      const payload = seededBytes(new Random(transport === 'tcp' ? 104 : 105), STREAM_LEN);
      let openedWith: unknown;
      try {
        await withClient({ onOpen: (c) => void (openedWith = c.context), onTraffic: collect }, async (client) => {
          const ep = endpoint(server.addrs[0]!);
          const socket = transport === 'unix' ? net.connect({ path: ep.path }) : net.connect({ host: ep.host, port: ep.port });
          await within('connecting', 10_000, new Promise<void>((resolve, reject) => {
            socket.once('connect', resolve);
            socket.once('error', reject);
          }));
          const context = collector(payload.length);
          const c = await client.enroll(socket, { context });
          assert.equal(openedWith, context, 'the context is set before onOpen');
          await c.asyncWrite(payload);
          await expectEcho(c, payload, `enrolled ${transport}`);
        });
      } finally {
        await server.close();
      }
    });
  }

  test('an enrolled socket still connecting is waited for; enroll of anything else is ERR_INVALID_NET_CONN', { timeout: 30_000 }, async () => {
    const server = await zgnetEcho('tcp');
    try {
      await withClient({ onTraffic: collect }, async (client) => {
        const ep = endpoint(server.addrs[0]!);
        const socket = net.connect({ host: ep.host, port: ep.port });
        assert.ok(socket.connecting);
        const c = await client.enroll(socket, { context: collector(5) });
        await c.asyncWrite('hello');
        await expectEcho(c, Buffer.from('hello'), 'enrolled while connecting');
        const invalid = (err: Error & { code?: string }) => err.code === 'ERR_INVALID_NET_CONN';
        await assert.rejects(client.enroll(null as unknown as net.Socket), invalid);
        await assert.rejects(client.enroll({} as net.Socket), invalid);
        const unconnected = dgram.createSocket('udp4');
        try {
          await assert.rejects(client.enroll(unconnected), invalid);
        } finally {
          unconnected.close();
        }
        const destroyed = net.connect({ host: ep.host, port: ep.port });
        destroyed.destroy();
        await assert.rejects(client.enroll(destroyed), invalid);
      });
    } finally {
      await server.close();
    }
  });

  test('bytes Node read from a socket before enroll() reach onTraffic first, in order with the rest', { timeout: 20_000 }, async () => {
    // A server that talks first: its greeting is in the socket's buffer when it is enrolled.
    const greeting = seededBytes(new Random(107), 40_000);
    const backend = net.createServer((s) => {
      s.on('error', () => {});
      s.write(greeting);
      s.on('data', (d) => s.write(d));
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const order: string[] = [];
    try {
      await withClient({ onOpen: () => void order.push('open'), onTraffic: (c) => void (order.push('traffic'), collect(c)) }, async (client) => {
        const socket = net.connect({ host: '127.0.0.1', port: (backend.address() as net.AddressInfo).port });
        await new Promise<void>((resolve) => socket.once('connect', resolve));
        await within('the greeting buffered by Node', 10_000, (async () => {
          while (socket.readableLength < greeting.length) await new Promise((r) => setTimeout(r, 5));
        })());
        const c = await client.enroll(socket, { context: collector(greeting.length + 5) });
        await c.asyncWrite('later');
        await expectEcho(c, Buffer.concat([greeting, Buffer.from('later')]), 'greeting then echo');
        assert.equal(order[0], 'open');
      });
    } finally {
      await new Promise((resolve) => backend.close(resolve));
    }
  });

  test('udp: an enrolled connected dgram.Socket carries 1 MiB as datagrams, with onOpen and onClose', { timeout: 60_000 }, async () => {
    const server = await zgnetEcho('udp');
    const rng = new Random(106);
    const events: string[] = [];
    try {
      const handler: EventHandler = {
        ...datagramHandler,
        onOpen(c) {
          events.push('open');
          datagramHandler.onOpen!(c);
        },
        onClose: (_c, err) => void events.push(`close ${err}`),
      };
      await withClient(handler, async (client) => {
        const ep = endpoint(server.addrs[0]!);
        const socket = dgram.createSocket('udp4');
        await within('connecting a dgram socket', 10_000, new Promise<void>((resolve) => socket.connect(ep.port, ep.host, resolve)));
        const run = datagramRun(seededBytes(rng, STREAM_LEN));
        const c = await client.enroll(socket, { context: run });
        assert.equal(c.remoteAddr, server.addrs[0]);
        await datagramRoundTrip(c, run, 'enrolled udp');
      });
      assert.deepEqual(events, ['open', 'close null']);
    } finally {
      await server.close();
    }
  });
});
