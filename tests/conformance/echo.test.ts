/**
 * gnet's TestServer, ported: echo over tcp, tcp6, udp and unix, with the four ways of writing
 * back (write, writev, asyncWrite and asyncWritev from outside the callback), on one and on
 * two event loops. Streams carry 1 MiB random packets, UDP 1024-byte datagrams; every byte is
 * checked. The server greets with "andypan\r\n" from onOpen, keeps `c` as its context and
 * checks it in onClose, and counts connections as gnet's test server does.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Conn, type EventHandler, type Options } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { Random } from '../support/random.js';
import { DatagramPeer, StreamPeer, sameBytes } from '../support/clients.js';
import { seededBytes } from '../support/handlers.js';
import { LOOPBACK, removePath, startServer, unixPath } from '../support/server.js';
import { Counter, deferred, within, type Deferred } from '../support/wait.js';

const STREAM_LEN = 1024 * 1024;
const DATAGRAM_LEN = 1024;
const GREETING = 'andypan\r\n';
const CLIENTS = 3;
const PACKETS = 2;

type WriteKind = 'write' | 'writev' | 'asyncWrite' | 'asyncWritev';

interface EchoStats {
  opened: Counter;
  closed: Counter;
  problems: string[];
  /** Rejects at the first problem, so a client waiting for an echo fails at once with the cause. */
  failed: Deferred<never>;
}

/** The echo server of gnet's tests: echoes with `kind`, greets in onOpen, checks context and addresses. */
function echoHandler(kind: WriteKind): { handler: EventHandler; stats: EchoStats } {
  const problems: string[] = [];
  const failed = deferred<never>();
  const stats: EchoStats = { opened: new Counter('onOpen'), closed: new Counter('onClose'), problems, failed };
  const problem = (p: string) => {
    problems.push(p);
    if (!failed.settled) failed.reject(new Error(`server side: ${p}`));
  };
  const reply = (c: Conn, data: Buffer) => {
    const half = data.length >> 1;
    switch (kind) {
      case 'write': {
        const n = c.write(data);
        if (n !== data.length) problem(`write returned ${n} for ${data.length}`);
        break;
      }
      case 'writev': {
        const n = c.writev([data.subarray(0, half), data.subarray(half)]);
        if (n !== data.length) problem(`writev returned ${n} for ${data.length}`);
        break;
      }
      case 'asyncWrite':
      case 'asyncWritev': {
        // Outside the callback, as gnet's test does from a goroutine: the view must be copied first.
        const copy = Buffer.from(data);
        setImmediate(() => {
          const sent = kind === 'asyncWrite' ? c.asyncWrite(copy) : c.asyncWritev([copy.subarray(0, half), copy.subarray(half)]);
          sent.catch((err: Error) => problem(`${kind} failed: ${err.message}`));
        });
        break;
      }
    }
  };
  const handler: EventHandler = {
    onOpen(c) {
      c.context = c;
      if (!c.localAddr || !c.remoteAddr) problem(`onOpen without addresses: ${c.localAddr} ${c.remoteAddr}`);
      stats.opened.inc();
      c.write(GREETING);
    },
    onClose(c) {
      if (c.context !== c) problem('onClose: context is not the conn set in onOpen');
      stats.closed.inc();
    },
    onTraffic(c) {
      const data = c.next();
      if (data === null) {
        problem('next() returned null');
        return;
      }
      if (data.length > 0) reply(c, data);
    },
  };
  return { handler, stats };
}

async function streamClient(addr: string, rng: Random): Promise<void> {
  const peer = await StreamPeer.connect(addr);
  try {
    assert.equal((await peer.read(GREETING.length, 'the greeting')).toString(), GREETING);
    for (let p = 0; p < PACKETS; p++) {
      const packet = seededBytes(rng, STREAM_LEN);
      await peer.write(packet);
      const echoed = await peer.read(STREAM_LEN, `echo of packet ${p}`);
      assert.equal(sameBytes(echoed, packet), null, `packet ${p}, seed ${rng.seed}`);
    }
  } finally {
    peer.end();
    await within('client close', 10_000, peer.closed);
  }
}

async function datagramClient(addr: string, rng: Random): Promise<void> {
  const peer = await DatagramPeer.open(addr);
  try {
    // 1 MiB in 1024-byte datagrams, a window of 8 in flight, each tagged with its sequence number.
    const total = STREAM_LEN / DATAGRAM_LEN;
    const window = 8;
    const sent = new Map<number, Buffer>();
    let next = 0;
    const sendOne = async () => {
      const d = rng.bytes(DATAGRAM_LEN);
      d.writeUInt32BE(next, 0);
      sent.set(next, d);
      next++;
      await peer.send(d);
    };
    while (next < Math.min(window, total)) await sendOne();
    for (let got = 0; got < total; got++) {
      const echoed = await peer.receive(`echo ${got} of ${total}`);
      assert.equal(echoed.length, DATAGRAM_LEN, 'datagram length');
      const seq = echoed.readUInt32BE(0);
      const original = sent.get(seq);
      assert.ok(original, `echo of an unknown datagram ${seq}`);
      assert.equal(sameBytes(echoed, original), null, `datagram ${seq}, seed ${rng.seed}`);
      sent.delete(seq);
      if (next < total) await sendOne();
    }
    assert.equal(sent.size, 0);
  } finally {
    peer.close();
  }
}

interface Case {
  name: string;
  /** Listen addresses (a fresh unix path each time). */
  addrs: () => string[];
  kinds: WriteKind[];
}

const unixAddr = () => `unix://${unixPath('echo')}`;
const isDatagram = (addr: string) => addr.startsWith('udp');

const transports: Case[] = [
  { name: 'tcp', addrs: () => [LOOPBACK.tcp], kinds: ['write', 'writev', 'asyncWrite', 'asyncWritev'] },
  { name: 'tcp6', addrs: () => [LOOPBACK.tcp6], kinds: ['write', 'asyncWrite'] },
  { name: 'unix', addrs: () => [unixAddr()], kinds: ['write', 'writev', 'asyncWrite', 'asyncWritev'] },
  { name: 'udp', addrs: () => [LOOPBACK.udp], kinds: ['write', 'asyncWrite'] },
  // gnet's poll-multi-addrs: rotate() over 2 tcp, 2 udp and 2 unix (no udp with writev).
  { name: 'multi-addrs', addrs: () => [LOOPBACK.tcp, LOOPBACK.tcp, LOOPBACK.udp, LOOPBACK.udp, unixAddr(), unixAddr()], kinds: ['write', 'asyncWrite'] },
  { name: 'multi-addrs-stream', addrs: () => [LOOPBACK.tcp, LOOPBACK.tcp, unixAddr(), unixAddr()], kinds: ['writev', 'asyncWritev'] },
];

/** gnet's reactor modes; the options are accepted in both engines (edge-triggered I/O is native's). */
const reactorModes: Array<{ name: string; options: Options; kinds?: WriteKind[] }> = [
  { name: 'LT', options: {} },
  { name: 'ET', options: { edgeTriggeredIO: true }, kinds: ['write', 'asyncWritev'] },
  { name: 'ET-chunk', options: { edgeTriggeredIOChunk: 256 * 1024 }, kinds: ['writev', 'asyncWrite'] },
  { name: 'reuseport', options: { reusePort: true }, kinds: ['write', 'asyncWrite'] },
];

describe(`echo (${testMode})`, () => {
  let seed = 100;
  for (const reactor of reactorModes) {
    for (const c of transports) {
      const kinds = c.kinds.filter((k) => reactor.kinds === undefined || reactor.kinds.includes(k));
      for (const kind of kinds) {
        for (const loops of [1, 2]) {
          const caseSeed = seed++;
          const title = `${reactor.name} ${c.name} ${kind}, ${loops} loop${loops > 1 ? 's' : ''}: ${CLIENTS} clients per address echo random packets byte for byte`;
          test(title, { timeout: 30_000 }, async () => {
            const addrs = c.addrs();
            const { handler, stats } = echoHandler(kind);
            const server = await startServer(handler, addrs, { numEventLoop: loops, ...reactor.options });
            try {
              assert.equal(server.engine.mode, testMode);
              assert.equal(server.addrs.length, addrs.length);
              const streams = server.addrs.filter((a) => !isDatagram(a)).length;
              let k = 0;
              const traffic = Promise.all(
                server.addrs.flatMap((bound) =>
                  Array.from({ length: CLIENTS }, () => {
                    const rng = new Random(caseSeed * 1000 + k++);
                    return isDatagram(bound) ? datagramClient(bound, rng) : streamClient(bound, rng);
                  }),
                ),
              );
              await Promise.race([traffic, stats.failed.promise]);
              // gnet's check: connected == disconnected == clients x stream addresses; udp has no open/close.
              await stats.closed.wait(CLIENTS * streams);
              assert.equal(stats.opened.value, CLIENTS * streams);
              assert.equal(server.engine.countConnections(), 0);
              assert.deepEqual(stats.problems, []);
            } finally {
              await server.shutdown();
              for (const a of addrs) if (a.startsWith('unix://')) removePath(a.slice('unix://'.length));
            }
            assert.equal(stats.closed.value, stats.opened.value, 'every onOpen has its onClose');
          });
        }
      }
    }
  }
});
