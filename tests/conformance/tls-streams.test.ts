/**
 * A TLS connection is a stream like any other (issue "TLS in both modes", item 2): half-close
 * with and without `allowHalfOpen` (the peer's end after its last byte, replies after it,
 * close_notify before FIN), flow control (pauseRead/resumeRead and the high-water mark with a
 * slow reader: every byte, a bounded queue), and close()/stop() flushing what was queued before
 * close_notify. Byte counts and digests are checked exactly.
 *
 * close_notify is seen on the wire: the peers speak TLS 1.2 through a relay that records the
 * ciphertext, where (unlike TLS 1.3) an alert record keeps its own content type (21); a clean
 * stream ends with exactly one alert record, the last before FIN.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { Client, type Conn, type EventHandler, type TlsServerOptions } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { LOOPBACK, startServer } from '../support/server.js';
import { makeTestCerts, type TestCerts } from '../support/tls-certs.js';
import { until, within } from '../support/wait.js';

let certs: TestCerts;
before(() => {
  certs = makeTestCerts();
});
after(() => certs.remove());

const MiB = 1024 * 1024;
const serverTls = (): TlsServerOptions => ({ cert: certs.server.cert, key: certs.server.key });
const portOf = (addr: string) => Number(/:(\d+)$/.exec(addr)![1]);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const ALERT = 21;

/** A TCP relay to `port` that keeps every byte each way and passes each side's FIN on. */
interface Relay {
  port: number;
  /** Ciphertext the server sent, and the client, per relayed connection. */
  toClient: Buffer[][];
  toServer: Buffer[][];
  close(): void;
}

async function relay(port: number): Promise<Relay> {
  const toClient: Buffer[][] = [];
  const toServer: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const down: Buffer[] = [];
    const up: Buffer[] = [];
    toClient.push(down);
    toServer.push(up);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    upstream.on('data', (d) => down.push(d));
    client.on('data', (d) => up.push(d));
    upstream.pipe(client);
    client.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    toClient,
    toServer,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** The content types of the TLS records in `bytes`; throws unless they fill it exactly. */
function recordTypes(chunks: Buffer[]): number[] {
  const bytes = Buffer.concat(chunks);
  const types: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    assert.ok(at + 5 <= bytes.length, 'a torn record header at the end of the stream');
    types.push(bytes[at]!);
    at += 5 + bytes.readUInt16BE(at + 3);
  }
  assert.equal(at, bytes.length, 'a torn record at the end of the stream');
  return types;
}

/** The stream ended cleanly: close_notify (the only alert) is its last record. */
function endsWithCloseNotify(chunks: Buffer[], who: string): void {
  const types = recordTypes(chunks);
  assert.equal(types.filter((t) => t === ALERT).length, 1, `${who}: one alert record (close_notify), got types ${[...new Set(types)]}`);
  assert.equal(types.at(-1), ALERT, `${who}: close_notify is the last record before FIN`);
}

/** A node:tls client (TLS 1.2, through `port`) that reads nothing until `reading()` is called. */
function tls12Client(port: number, options: tls.ConnectionOptions = {}) {
  const chunks: Buffer[] = [];
  let ended = false;
  // node:tls passes allowHalfOpen on to net (its types omit it): the server's end is seen as 'end'.
  const socket = tls.connect({ host: '127.0.0.1', port, ca: certs.ca, servername: 'localhost', maxVersion: 'TLSv1.2', allowHalfOpen: true, ...options } as tls.ConnectionOptions);
  const secure = new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  socket.on('data', (d: Buffer) => chunks.push(d));
  const end = new Promise<Buffer>((resolve, reject) => {
    socket.on('end', () => {
      ended = true;
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', reject);
    socket.on('close', () => {
      if (!ended) reject(new Error(`closed without an end after ${Buffer.concat(chunks).length} bytes`));
    });
  });
  end.catch(() => {});
  return { socket, secure, end, received: () => chunks.reduce((n, c) => n + c.length, 0) };
}

describe(`tls half-close (${testMode})`, () => {
  for (const allowHalfOpen of [true, false]) {
    test(`allowHalfOpen ${allowHalfOpen}: the peer's end() after 2 MiB → onEnd after the last byte, the reply arrives, then close_notify and FIN`, { timeout: 60_000 }, async () => {
      const payload = randomBytes(2 * MiB);
      const tail = randomBytes(MiB);
      const seen = { bytes: 0, atEnd: -1, closeError: undefined as Error | null | undefined };
      const hash = createHash('sha256');
      const handler: EventHandler = {
        onTraffic(c) {
          if (seen.atEnd >= 0) {
            // A later turn of the loop (wake): still writable after the peer's end.
            c.write(tail);
            c.end();
            return;
          }
          const data = c.next()!;
          seen.bytes += data.length;
          hash.update(data);
        },
        onEnd(c) {
          seen.atEnd = seen.bytes;
          c.write(`got ${seen.bytes} ${hash.digest('hex')}\n`);
          if (allowHalfOpen) void c.wake();
        },
        onClose(_c, err) {
          seen.closeError = err;
        },
      };
      const server = await startServer(handler, LOOPBACK.tcp, { tls: serverTls(), allowHalfOpen });
      const wire = await relay(portOf(server.addrs[0]!));
      try {
        const client = tls12Client(wire.port);
        await within('the handshake', 10_000, client.secure);
        client.socket.end(payload);
        const got = await within('the reply and the end', 30_000, client.end);
        const reply = `got ${payload.length} ${sha(payload)}\n`;
        const expected = allowHalfOpen ? Buffer.concat([Buffer.from(reply), tail]) : Buffer.from(reply);
        assert.equal(got.length, expected.length, `${got.length} bytes of ${expected.length}`);
        assert.ok(got.equals(expected), 'the reply, byte for byte');
        assert.equal(seen.atEnd, payload.length, 'onEnd came after every byte');
        await until('onClose', () => seen.closeError !== undefined);
        // Both sides ended: null when our end() was the last step, EOF when the peer's was.
        if (allowHalfOpen) assert.equal(seen.closeError, null);
        else assert.equal((seen.closeError as Error & { code?: string }).code, 'EOF');
        client.socket.destroy();
        await until('the relay saw both ends', () => wire.toClient.length === 1);
        endsWithCloseNotify(wire.toClient[0]!, 'the server');
      } finally {
        wire.close();
        await server.shutdown();
      }
    });
  }

  test("zgnet's client: c.end() sends close_notify then FIN after every byte; the server's reply arrives, then onEnd", { timeout: 60_000 }, async () => {
    const payload = randomBytes(3 * MiB + 17);
    // A node:tls server limited to TLS 1.2 (so close_notify shows on the wire): it answers once the client ended.
    const nodeServer = tls.createServer({ cert: certs.server.cert, key: certs.server.key, maxVersion: 'TLSv1.2', allowHalfOpen: true }, (s) => {
      const hash = createHash('sha256');
      let n = 0;
      s.on('data', (d: Buffer) => {
        n += d.length;
        hash.update(d);
      });
      s.on('end', () => s.end(`got ${n} ${hash.digest('hex')}\n`));
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', resolve));
    const wire = await relay((nodeServer.address() as net.AddressInfo).port);
    const got: Buffer[] = [];
    const events: string[] = [];
    const client = new Client(
      {
        onTraffic(c) {
          got.push(Buffer.from(c.next()!));
        },
        onEnd() {
          events.push(`end after ${Buffer.concat(got).toString().trim()}`);
        },
        onClose(_c, err) {
          events.push(`close ${err === null ? 'null' : (err as Error & { code?: string }).code}`);
        },
      },
      { mode: testMode, allowHalfOpen: true },
    );
    await client.start();
    try {
      const c = await client.dial(`tcp://127.0.0.1:${wire.port}`, { tls: { ca: certs.ca, servername: 'localhost' } });
      assert.equal(c.tls!.protocol, 'TLSv1.2');
      c.end(payload);
      const reply = `got ${payload.length} ${sha(payload)}`;
      await until('the reply, onEnd and onClose', () => events.length === 2, 30_000);
      assert.deepEqual(events, [`end after ${reply}`, 'close EOF']);
      await until('the relay saw both ends', () => wire.toServer.length === 1 && wire.toServer[0]!.length > 0);
      endsWithCloseNotify(wire.toServer[0]!, "zgnet's client");
    } finally {
      await client.stop();
      wire.close();
      nodeServer.close();
    }
  });
});

describe(`tls flow control (${testMode})`, () => {
  test('8 MiB through a TLS echo to a slow reader: pauseRead/resumeRead by the high-water mark, every byte back in order, a bounded queue', { timeout: 90_000 }, async () => {
    const highWater = 256 * 1024;
    const readCap = 64 * 1024;
    const stats = { pauses: 0, maxOutbound: 0, maxInbound: 0 };
    const handler: EventHandler = {
      onTraffic(c: Conn) {
        c.write(c.next()!);
        stats.maxInbound = Math.max(stats.maxInbound, c.inboundBuffered());
        stats.maxOutbound = Math.max(stats.maxOutbound, c.outboundBuffered());
        if (!c.writable) {
          stats.pauses++;
          c.pauseRead();
        }
      },
      onWritable(c) {
        c.resumeRead();
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp, { tls: serverTls(), outboundHighWaterMark: highWater, readBufferCap: readCap });
    try {
      const payload = randomBytes(8 * MiB);
      const socket = tls.connect({ host: '127.0.0.1', port: portOf(server.addrs[0]!), ca: certs.ca, servername: 'localhost' });
      const got = await within('8 MiB echoed to the slow reader', 80_000, new Promise<Buffer>((resolve, reject) => {
        socket.on('error', reject);
        const chunks: Buffer[] = [];
        let received = 0;
        socket.once('secureConnect', () => {
          socket.pause();
          socket.write(payload);
          // 64 KiB every 10 ms: far slower than the loopback, so the server's queue fills.
          const timer = setInterval(() => {
            for (let taken = 0, chunk: Buffer | null; taken < 64 * 1024 && (chunk = socket.read() as Buffer | null) !== null; taken += chunk.length) {
              chunks.push(chunk);
              received += chunk.length;
            }
            if (received >= payload.length) {
              clearInterval(timer);
              resolve(Buffer.concat(chunks));
            }
          }, 10);
          socket.on('close', () => clearInterval(timer));
        });
      }));
      socket.destroy();
      assert.equal(got.length, payload.length, `${got.length} of ${payload.length} bytes`);
      assert.equal(sha(got), sha(payload), 'the same bytes, in order');
      assert.ok(stats.pauses > 0, 'the queue never reached the high-water mark: the reader was not slow');
      // One read's worth (and its records' overhead) past the mark at most, however slow the reader.
      assert.ok(stats.maxOutbound <= highWater + 2 * readCap, `outbound queue reached ${stats.maxOutbound} bytes`);
      assert.equal(stats.maxInbound, 0, 'next() took everything');
    } finally {
      await server.shutdown();
    }
  });
});

describe(`tls close flushes (${testMode})`, () => {
  test('8 MiB written then close() at once: the peer gets every byte, then close_notify', { timeout: 60_000 }, async () => {
    const answer = randomBytes(8 * MiB);
    let closeError: Error | null | undefined;
    const server = await startServer({
      onOpen(c) {
        c.write(answer);
        void c.close();
      },
      onClose(_c, err) {
        closeError = err;
      },
    }, LOOPBACK.tcp, { tls: serverTls() });
    const wire = await relay(portOf(server.addrs[0]!));
    try {
      const client = tls12Client(wire.port);
      const got = await within('every byte, then the end', 40_000, client.end);
      assert.equal(got.length, answer.length, `${got.length} of ${answer.length} bytes`);
      assert.equal(sha(got), sha(answer), 'the same bytes, in order');
      assert.equal(closeError, null);
      client.socket.destroy();
      await until('the server closed', () => server.engine.countConnections() === 0);
      endsWithCloseNotify(wire.toClient[0]!, 'the server');
    } finally {
      wire.close();
      await server.shutdown();
    }
  });

  test('stop() with 4 MiB queued on each of two connections: both peers get every byte, then close_notify', { timeout: 60_000 }, async () => {
    const answers = [randomBytes(4 * MiB), randomBytes(4 * MiB)];
    let opened = 0;
    const server = await startServer({
      onOpen(c) {
        c.write(answers[opened++]!);
      },
    }, LOOPBACK.tcp, { tls: serverTls() });
    const wire = await relay(portOf(server.addrs[0]!));
    try {
      const first = tls12Client(wire.port);
      await within('the first handshake', 10_000, first.secure);
      await until('the first open', () => opened === 1);
      const second = tls12Client(wire.port);
      await within('the second handshake', 10_000, second.secure);
      await until('both open', () => opened === 2);
      // Neither peer reads yet: most of each answer is still queued in the server.
      first.socket.pause();
      second.socket.pause();
      const stopped = server.engine.stop();
      first.socket.resume();
      second.socket.resume();
      const got = await within('every byte on both, then the end', 40_000, Promise.all([first.end, second.end]));
      await within('stop()', 20_000, stopped);
      got.forEach((g, i) => {
        assert.equal(g.length, answers[i]!.length, `conn ${i}: ${g.length} of ${answers[i]!.length} bytes`);
        assert.equal(sha(g), sha(answers[i]!), `conn ${i}: the same bytes, in order`);
      });
      await until('the relay saw both', () => wire.toClient.length === 2);
      wire.toClient.forEach((chunks, i) => endsWithCloseNotify(chunks, `conn ${i}`));
    } finally {
      wire.close();
      await server.shutdown();
    }
  });
});
