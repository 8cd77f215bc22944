/**
 * The inbound and outbound buffers as gnet has them (gnet's behaviour): what onTraffic
 * sees, leftovers that persist without re-running onTraffic, wake() with leftovers and with an
 * empty buffer (TestWakeConnImmediately), a slow reader that must still get 64 MiB intact,
 * writes queued before a Close, and writes that copy what they queue.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Action, type Conn, type EventHandler } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { Random } from '../support/random.js';
import { DatagramPeer, StreamPeer, sameBytes } from '../support/clients.js';
import { seededBytes } from '../support/handlers.js';
import { LOOPBACK, startServer } from '../support/server.js';
import { Counter, deferred, settle, until, within } from '../support/wait.js';

const MiB = 1024 * 1024;

/** A stream of `count` 1 MiB chunks: one random block, each copy stamped with its index. */
class ChunkPattern {
  readonly base: Buffer;

  constructor(
    seed: number,
    readonly count: number,
  ) {
    this.base = seededBytes(new Random(seed), MiB);
  }

  get length(): number {
    return this.count * MiB;
  }

  chunk(i: number): Buffer {
    const c = Buffer.from(this.base);
    c.writeUInt32BE(i, 0);
    return c;
  }

  /** The bytes expected at [offset, offset + length). */
  slice(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let done = 0; done < length; ) {
      const at = offset + done;
      const index = Math.floor(at / MiB);
      const within = at % MiB;
      const n = Math.min(MiB - within, length - done);
      this.base.copy(out, done, within, within + n);
      const stamp = Buffer.alloc(4);
      stamp.writeUInt32BE(index, 0);
      for (let k = within; k < 4 && k < within + n; k++) out[done + k - within] = stamp[k]!;
      done += n;
    }
    return out;
  }
}

describe(`inbound and outbound buffers (${testMode})`, () => {
  test('read, peek, next and discard see one contiguous stream and consume as documented', { timeout: 20_000 }, async () => {
    const seen = deferred<Record<string, unknown>>();
    const handler: EventHandler = {
      onTraffic(c) {
        if (c.inboundBuffered() < 11) return; // wait for the whole message
        const r: Record<string, unknown> = {};
        r.buffered = c.inboundBuffered();
        const target = new Uint8Array(5);
        r.read = c.read(target);
        r.readBytes = Buffer.from(target).toString();
        r.afterRead = c.inboundBuffered();
        r.peek3 = c.peek(3)?.toString();
        r.afterPeek = c.inboundBuffered();
        r.next3 = c.next(3)?.toString();
        r.discard1 = c.discard(1);
        r.peekTooMany = c.peek(10);
        r.nextTooMany = c.next(10);
        r.peekAll = c.peek()?.toString();
        r.nextAll = c.next(0)?.toString();
        r.afterAll = c.inboundBuffered();
        r.nextEmpty = c.next(1);
        seen.resolve(r);
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('hello world');
      const r = await within('onTraffic with the whole message', 10_000, seen.promise);
      assert.deepEqual(r, {
        buffered: 11,
        read: 5,
        readBytes: 'hello',
        afterRead: 6,
        peek3: ' wo',
        afterPeek: 6,
        next3: ' wo',
        discard1: 1,
        peekTooMany: null,
        nextTooMany: null,
        peekAll: 'ld',
        nextAll: 'ld',
        afterAll: 0,
        nextEmpty: null,
      });
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('leftovers persist, onTraffic does not run again without new data, and new bytes follow the old', { timeout: 20_000 }, async () => {
    const calls: string[] = [];
    const traffic = new Counter('onTraffic');
    const handler: EventHandler = {
      onTraffic(c) {
        calls.push(c.peek()!.toString());
        if (calls.length === 1) {
          assert.equal(c.next(2)?.toString(), 'ab');
          c.write('1');
        } else {
          c.write(String(calls.length));
        }
        traffic.inc();
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('abcdef');
      assert.equal((await peer.read(1, 'the first ack')).toString(), '1');
      // Give a wrong engine the chance to re-run onTraffic for the 4 bytes left over.
      await settle(100);
      assert.deepEqual(calls, ['abcdef'], 'onTraffic ran again without new data');
      await peer.write('gh');
      assert.equal((await peer.read(1, 'the second ack')).toString(), '2');
      assert.deepEqual(calls, ['abcdef', 'cdefgh'], 'the leftover comes first, then the new bytes, contiguous');
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('bytes that arrive with the FIN reach onTraffic before onClose (gnet issue #529)', { timeout: 20_000 }, async () => {
    const events: string[] = [];
    const closed = deferred();
    const handler: EventHandler = {
      onTraffic(c) {
        events.push(`traffic ${c.next()!.toString()}`);
      },
      onClose(_c, err) {
        events.push(`close ${err === null ? 'null' : 'error'}`);
        closed.resolve();
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      peer.socket.end('test'); // data and FIN together
      await within('onClose', 10_000, closed.promise);
      assert.deepEqual(events, ['traffic test', 'close error']);
    } finally {
      await server.shutdown();
    }
  });

  test('readBufferCap bounds what one read delivers: 64 KiB sent at once reaches onTraffic 1024 bytes at a time', { timeout: 20_000 }, async () => {
    const sizes: number[] = [];
    const handler: EventHandler = {
      onTraffic(c) {
        sizes.push(c.inboundBuffered());
        const data = c.next()!;
        if (sizes.reduce((a, b) => a + b, 0) === 64 * 1024) c.write(String(data.length));
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp, { readBufferCap: 1000 }); // normalised to 1024
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write(new Random(9).bytes(64 * 1024));
      await peer.read(1, 'the end marker');
      assert.equal(sizes.reduce((a, b) => a + b, 0), 64 * 1024);
      assert.ok(sizes.every((n) => n > 0 && n <= 1024), `every call sees at most 1024 bytes: max ${Math.max(...sizes)}`);
      assert.ok(sizes.length >= 64);
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('udp: a datagram longer than readBufferCap is truncated to it (gnet)', { timeout: 20_000 }, async () => {
    const handler: EventHandler = {
      onTraffic(c) {
        c.write(String(c.inboundBuffered()));
      },
    };
    const server = await startServer(handler, LOOPBACK.udp, { readBufferCap: 1024 });
    const peer = await DatagramPeer.open(server.addrs[0]!);
    try {
      await peer.send(Buffer.alloc(3000, 7));
      assert.equal((await peer.receive()).toString(), '1024');
      await peer.send(Buffer.alloc(500, 7));
      assert.equal((await peer.receive()).toString(), '500');
    } finally {
      peer.close();
      await server.shutdown();
    }
  });

  test('udp: the longest datagram comes whole when readBufferCap is larger still', { timeout: 20_000 }, async () => {
    const handler: EventHandler = {
      onTraffic(c) {
        const d = c.next()!;
        c.write(`${c.inboundBuffered()}:${d.length}:${d[0]}:${d[d.length - 1]}`);
      },
    };
    const server = await startServer(handler, LOOPBACK.udp, { readBufferCap: 1024 * 1024 });
    const peer = await DatagramPeer.open(server.addrs[0]!);
    try {
      const longest = Buffer.alloc(65_507, 3); // IPv4's most: 65,535 less the IP and UDP headers
      longest[65_506] = 9;
      await peer.send(longest);
      assert.equal((await peer.receive()).toString(), '0:65507:3:9');
    } finally {
      peer.close();
      await server.shutdown();
    }
  });

  for (const [family, listen] of [['udp', LOOPBACK.udp], ['udp6', LOOPBACK.udp6]] as const) {
    test(`${family}: bursts from many senders: every datagram answered to its own sender, in order, however the reply is written`, { timeout: 30_000 }, async () => {
      // Replies are batched in native mode (one sendmmsg per run of them): a view of the datagram,
      // a copy, a string, an empty datagram, a string too long to queue (up to 3 bytes a char:
      // sent at once) and a sendTo must still leave in the order they were written.
      const long = (text: string) => `${text}:${'*'.repeat(30_000)}`;
      const repliesTo = (msg: Buffer): Buffer[] => {
        const text = msg.toString();
        switch (Number(text.split(':')[1]) % 6) {
          case 0: return [msg];
          case 1: return [Buffer.from(`copy:${text}`)];
          case 2: return [Buffer.from(`str:${text}`)];
          case 3: return [Buffer.alloc(0), Buffer.from(`tail:${text}`)];
          case 4: return [Buffer.from(long(text))];
          default: return [Buffer.from(`to:${text}`)];
        }
      };
      let handled = 0;
      const handler: EventHandler = {
        onTraffic(c) {
          handled++;
          const msg = c.next()!;
          const text = msg.toString();
          switch (Number(text.split(':')[1]) % 6) {
            case 0: c.write(msg); break;
            case 1: c.write(Buffer.from(`copy:${text}`)); break;
            case 2: c.write(`str:${text}`); break;
            case 3: c.write(Buffer.alloc(0)); c.write(`tail:${text}`); break;
            case 4: c.write(long(text)); break;
            default: c.sendTo(`to:${text}`, c.remoteAddr);
          }
        },
      };
      const server = await startServer(handler, listen);
      const senders = 8;
      const perSender = 48;
      // In windows, so that neither side's socket buffer overflows (loopback UDP drops then).
      const window = 8;
      const peers = await Promise.all(Array.from({ length: senders }, () => DatagramPeer.open(server.addrs[0]!)));
      try {
        await Promise.all(peers.map(async (peer, p) => {
          for (let first = 0; first < perSender; first += window) {
            const sent: Buffer[] = [];
            for (let seq = first; seq < first + window; seq++) sent.push(Buffer.from(`${p}:${seq}`));
            await Promise.all(sent.map((d) => peer.send(d)));
            for (const d of sent) {
              for (const want of repliesTo(d)) {
                const got = await peer.receive(`the reply to ${d.toString()}`);
                assert.equal(sameBytes(got, want), null, `sender ${p}, reply to ${d.toString()}`);
              }
            }
          }
        }));
        assert.equal(handled, senders * perSender);
      } finally {
        for (const peer of peers) peer.close();
        await server.shutdown();
      }
    });
  }

  test('wake() from inside onTraffic runs it again with the leftovers, one frame per call', { timeout: 20_000 }, async () => {
    const lines = Array.from({ length: 20 }, (_, i) => `line-${i}`);
    const handled: string[] = [];
    const wakes: Promise<void>[] = [];
    const handler: EventHandler = {
      onTraffic(c) {
        const buffered = c.peek()!;
        const eol = buffered.indexOf(0x0a);
        if (eol < 0) return; // a partial line waits for more bytes
        const line = c.next(eol + 1)!.toString().trimEnd();
        handled.push(line);
        c.write(`ok ${line}\n`);
        // Only one frame per call: more complete frames left over need a wake-up.
        if (c.peek()!.includes(0x0a)) wakes.push(c.wake());
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      const request = lines.map((l) => `${l}\n`).join('');
      await peer.write(request);
      const expected = lines.map((l) => `ok ${l}\n`).join('');
      assert.equal((await peer.read(expected.length, 'every reply')).toString(), expected);
      assert.deepEqual(handled, lines);
      assert.ok(wakes.length > 0, 'the message arrived in fewer reads than frames, so wake() was needed');
      await within('every wake() settling', 10_000, Promise.all(wakes));
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('wake() from outside a callback runs onTraffic with the rest, and resolves after it ran', { timeout: 20_000 }, async () => {
    const seen: string[] = [];
    let conn: Conn | undefined;
    const whole = deferred();
    const handler: EventHandler = {
      onTraffic(c) {
        if (!whole.settled && c.inboundBuffered() < 9) return; // keep everything until all 9 bytes are in
        conn = c;
        seen.push(c.peek()!.toString());
        c.discard(3);
        whole.resolve();
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('123456789');
      await within('onTraffic with all 9 bytes', 10_000, whole.promise);
      assert.deepEqual(seen, ['123456789']);
      await within('wake()', 10_000, conn!.wake());
      assert.deepEqual(seen, ['123456789', '456789'], 'wake() resolved after onTraffic ran once more, with the leftovers');
      await within('wake()', 10_000, conn!.wake());
      assert.equal(seen.at(-1), '789');
      await within('wake()', 10_000, conn!.wake());
      assert.equal(seen.at(-1), '', 'woken with nothing left, onTraffic sees an empty buffer');
      assert.equal(seen.length, 4);
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('woken with nothing received, onTraffic sees the empty-buffer semantics (TestWakeConnImmediately)', { timeout: 20_000 }, async () => {
    const results: Array<Record<string, unknown>> = [];
    const outsideWake = deferred();
    const handler: EventHandler = {
      onOpen(c) {
        void c.wake(); // from inside a callback: queued, runs after onOpen
        setImmediate(() => c.wake().then(outsideWake.resolve, outsideWake.reject)); // and from outside
      },
      onTraffic(c) {
        const next0 = c.next();
        const nextAll = c.next(-1);
        const peek0 = c.peek();
        const peekAll = c.peek(-1);
        results.push({
          readEmpty: c.read(new Uint8Array(0)),
          read10: c.read(new Uint8Array(10)),
          next10: c.next(10),
          peek10: c.peek(10),
          next0: next0 === null ? null : next0.length,
          nextAll: nextAll === null ? null : nextAll.length,
          peek0: peek0 === null ? null : peek0.length,
          peekAll: peekAll === null ? null : peekAll.length,
          discard10: c.discard(10),
          discardAll: c.discard(),
          inbound: c.inboundBuffered(),
        });
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await within('the wake() from outside', 10_000, outsideWake.promise);
      await until('two woken onTraffic calls', () => results.length >= 2);
      const empty = { readEmpty: 0, read10: 0, next10: null, peek10: null, next0: 0, nextAll: 0, peek0: 0, peekAll: 0, discard10: 0, discardAll: 0, inbound: 0 };
      assert.deepEqual(results, [empty, empty]);
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('write() copies what it queues: a buffer reused at once does not change the bytes sent', { timeout: 20_000 }, async () => {
    const rounds = 16;
    const handler: EventHandler = {
      onTraffic(c) {
        c.discard();
        const scratch = Buffer.alloc(MiB);
        for (let i = 0; i < rounds; i++) {
          scratch.fill(i); // more than a socket buffer: later rounds are queued, then the scratch changes
          c.write(scratch);
        }
        return Action.Close;
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('go');
      const all = await peer.readToEnd(20_000);
      assert.equal(all.length, rounds * MiB);
      for (let i = 0; i < rounds; i++) {
        const part = all.subarray(i * MiB, (i + 1) * MiB);
        assert.equal(sameBytes(part, Buffer.alloc(MiB, i)), null, `round ${i}`);
      }
    } finally {
      await server.shutdown();
    }
  });

  test('data written before returning Close reaches the peer in full, then the stream ends', { timeout: 20_000 }, async () => {
    const pattern = new ChunkPattern(41, 8);
    let closeErr: Error | null | undefined;
    const handler: EventHandler = {
      onTraffic(c) {
        c.discard();
        for (let i = 0; i < pattern.count; i++) c.write(pattern.chunk(i));
        return Action.Close;
      },
      onClose(_c, err) {
        closeErr = err;
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('go');
      const all = await peer.readToEnd(20_000);
      assert.equal(peer.error, null);
      assert.equal(sameBytes(all, pattern.slice(0, pattern.length)), null);
      await until('onClose', () => closeErr !== undefined);
      assert.equal(closeErr, null, 'a Close action is a local close: onClose gets null');
    } finally {
      await server.shutdown();
    }
  });

  test('a slow reader receives 64 MiB written at once, every byte in order', { timeout: 60_000 }, async () => {
    const pattern = new ChunkPattern(64, 64);
    const chunks = Array.from({ length: pattern.count }, (_, i) => pattern.chunk(i));
    let kept: Conn | undefined;
    const written = deferred<number>();
    const samples: number[] = [];
    const handler: EventHandler = {
      onTraffic(c) {
        c.discard();
        for (const chunk of chunks) c.write(chunk);
        kept = c;
        written.resolve(c.outboundBuffered());
      },
      onTick() {
        if (kept) samples.push(kept.outboundBuffered());
        return { delayMs: 20 };
      },
      onClose() {
        kept = undefined;
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp, { ticker: true });
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      peer.socket.pause();
      await peer.write('go');
      const queued = await within('the server writing 64 MiB', 20_000, written.promise);
      assert.ok(queued > 0, `the peer reads nothing yet, so most of 64 MiB waits in the outbound buffer (${queued})`);
      // Read slowly: one chunk per turn, with a pause every 16 chunks.
      let offset = 0;
      let reads = 0;
      const verified = new Promise<void>((resolve, reject) => {
        peer.socket.on('data', (data: Buffer) => {
          const diff = sameBytes(data, pattern.slice(offset, data.length));
          if (diff !== null) reject(new Error(`at offset ${offset}: ${diff}`));
          offset += data.length;
          if (offset >= pattern.length) return resolve();
          peer.socket.pause();
          reads++;
          if (reads % 16 === 0) setTimeout(() => peer.socket.resume(), 2);
          else setImmediate(() => peer.socket.resume());
        });
      });
      peer.socket.resume();
      await within(`reading 64 MiB (at ${offset})`, 45_000, verified);
      assert.equal(offset, pattern.length, 'nothing beyond what was written');
      await until('a tick seeing the outbound buffer drained', () => samples.at(-1) === 0);
      assert.ok(samples.some((s) => s > 0), 'onTick saw bytes waiting while the reader was slow');
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });
});
