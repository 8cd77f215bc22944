/**
 * gnet's TestServer, ported: echo over tcp, tcp6, udp and unix, with the four ways of writing
 * back (write, writev, asyncWrite and asyncWritev from outside the callback), on one and on
 * two event loops. Streams carry 1 MiB random packets, UDP 1024-byte datagrams; every byte is
 * checked. The server greets with "andypan\r\n" from onOpen, keeps `c` as its context and
 * checks it in onClose, and counts connections as gnet's test server does.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Conn, type EventHandler } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { Random } from '../support/random.js';
import { DatagramPeer, StreamPeer, sameBytes } from './support/clients.js';
import { LOOPBACK, removePath, startServer, unixPath } from './support/server.js';
import { Counter, deferred, within, type Deferred } from './support/wait.js';

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
      const packet = rng.bytes(STREAM_LEN);
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
  addr: () => string;
  datagram: boolean;
  kinds: WriteKind[];
}

const cases: Case[] = [
  { name: 'tcp', addr: () => LOOPBACK.tcp, datagram: false, kinds: ['write', 'writev', 'asyncWrite', 'asyncWritev'] },
  { name: 'tcp6', addr: () => LOOPBACK.tcp6, datagram: false, kinds: ['write', 'asyncWrite'] },
  { name: 'unix', addr: () => `unix://${unixPath('echo')}`, datagram: false, kinds: ['write', 'writev', 'asyncWrite', 'asyncWritev'] },
  { name: 'udp', addr: () => LOOPBACK.udp, datagram: true, kinds: ['write', 'asyncWrite'] },
];

describe(`echo (${testMode})`, () => {
  let seed = 100;
  for (const c of cases) {
    for (const kind of c.kinds) {
      for (const loops of [1, 2]) {
        const caseSeed = seed++;
        test(`${c.name} ${kind}, ${loops} loop${loops > 1 ? 's' : ''}: ${CLIENTS} clients echo random packets byte for byte`, { timeout: 30_000 }, async () => {
          const addr = c.addr();
          const { handler, stats } = echoHandler(kind);
          const server = await startServer(handler, addr, { numEventLoop: loops });
          try {
            assert.equal(server.engine.mode, testMode);
            const bound = server.addrs[0]!;
            const clients = Array.from({ length: CLIENTS }, (_, i) => new Random(caseSeed * 1000 + i));
            const traffic = Promise.all(clients.map((r) => (c.datagram ? datagramClient(bound, r) : streamClient(bound, r))));
            await Promise.race([traffic, stats.failed.promise]);
            if (c.datagram) {
              assert.equal(stats.opened.value, 0, 'server UDP has no onOpen');
              assert.equal(server.engine.countConnections(), 0, 'server UDP conns are not counted');
            } else {
              await stats.closed.wait(CLIENTS);
              assert.equal(stats.opened.value, CLIENTS);
              assert.equal(server.engine.countConnections(), 0);
            }
            assert.deepEqual(stats.problems, []);
          } finally {
            await server.shutdown();
            if (addr.startsWith('unix://')) removePath(addr.slice('unix://'.length));
          }
          assert.equal(stats.closed.value, stats.opened.value, 'every onOpen has its onClose');
        });
      }
    }
  }
});
