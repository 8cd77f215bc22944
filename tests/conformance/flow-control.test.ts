/**
 * Flow control and limits (issue "Hostile peers and full machines"), both modes: a peer that
 * never reads costs at most the outbound high-water mark plus one write; a handler that never
 * reads costs at most the inbound high-water mark plus one read, with TCP pushing back on the
 * peer; pauseRead/resumeRead; asyncWrite settling once its bytes left for the kernel; idle
 * connections closed with ERR_IDLE_TIMEOUT; connections over maxConnections closed at once.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { ZgnetError, type Conn } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { StreamPeer } from '../support/clients.js';
import { echo } from '../support/handlers.js';
import { LOOPBACK, startServer } from '../support/server.js';
import { deferred, settle, until, within } from '../support/wait.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A raw client that connects and does not read until told (its kernel buffers fill up). */
async function lazyReader(protoAddr: string): Promise<{ socket: net.Socket; received: () => number; read(): void }> {
  const url = new URL(protoAddr.replace(/^tcp\d?:/, 'http:'));
  const socket = net.connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) });
  socket.pause();
  await within('connect', 5000, new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)));
  let received = 0;
  return {
    socket,
    received: () => received,
    read() {
      socket.on('data', (d: Buffer) => (received += d.length));
      socket.resume();
    },
  };
}

describe(`outbound flow control (${testMode})`, () => {
  test('a writer that honours c.writable queues at most the high-water mark plus one write; onWritable resumes it', { timeout: 30_000 }, async () => {
    const hwm = 256 * KiB;
    const piece = Buffer.alloc(64 * KiB, 7);
    const total = 16 * MiB;
    let written = 0;
    let maxQueued = 0;
    let writableEvents = 0;
    let stalls = 0;
    const pump = (c: Conn) => {
      while (written < total && c.writable) {
        written += c.write(piece);
        maxQueued = Math.max(maxQueued, c.outboundBuffered());
      }
      if (written < total) stalls++;
    };
    const server = await startServer(
      {
        onOpen: pump,
        onWritable(c) {
          writableEvents++;
          pump(c);
        },
      },
      LOOPBACK.tcp,
      { outboundHighWaterMark: hwm },
    );
    try {
      const peer = await lazyReader(server.addrs[0]!);
      await settle(300);
      const writtenWhileStalled = written;
      assert.ok(writtenWhileStalled < total, 'the writer stopped while the peer did not read');
      assert.ok(maxQueued <= hwm + piece.length, `queued at most hwm + one write (max ${maxQueued})`);
      peer.read();
      await until('all bytes received', () => peer.received() === total, 20_000);
      assert.ok(writableEvents > 0 && stalls > 0, `onWritable ran (${writableEvents}) after stalls (${stalls})`);
      peer.socket.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('asyncWrite settles once its bytes left for the kernel, not when they were queued', { timeout: 30_000 }, async () => {
    const big = Buffer.alloc(32 * MiB, 1);
    let sent: Promise<void> | undefined;
    let settledAt = 0;
    const server = await startServer(
      {
        onOpen(c) {
          sent = c.asyncWrite(big);
          sent.then(() => (settledAt = Date.now()), () => {});
        },
      },
      LOOPBACK.tcp,
    );
    try {
      const peer = await lazyReader(server.addrs[0]!);
      await settle(400);
      assert.equal(settledAt, 0, 'still pending while the peer does not read');
      const readAt = Date.now();
      peer.read();
      await within('asyncWrite settling', 20_000, sent!);
      assert.ok(settledAt >= readAt);
      await until('all received', () => peer.received() === big.length, 20_000);
      peer.socket.destroy();
    } finally {
      await server.shutdown();
    }
  });
});

describe(`inbound flow control (${testMode})`, () => {
  test('a handler that never reads holds at most inboundHighWaterMark + one read; TCP pushes back; wake() after reading resumes', { timeout: 30_000 }, async () => {
    const mark = 1 * MiB;
    const total = 32 * MiB;
    let held = 0;
    let conn: Conn | undefined;
    const server = await startServer(
      {
        onTraffic(c) {
          conn = c;
          held = Math.max(held, c.inboundBuffered());
        },
      },
      LOOPBACK.tcp,
      { inboundHighWaterMark: mark },
    );
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      const payload = Buffer.alloc(total, 3);
      void peer.write(payload).catch(() => {});
      await settle(500);
      const heldAtStall = held;
      assert.ok(heldAtStall >= mark, `the engine buffered up to the mark (${heldAtStall})`);
      assert.ok(heldAtStall <= mark + 64 * KiB, `at most the mark plus one read (${heldAtStall})`);
      assert.ok(peer.socket.writableLength > 0, 'the peer is pushed back: it still has bytes to send');
      // The handler consumes (here, from outside a callback, through execute) and wakes.
      let consumed = heldAtStall;
      const c = conn!;
      await c.eventLoop.execute(() => void c.discard());
      let drained = 0;
      const done = deferred();
      const wakeLoop = async () => {
        while (consumed < total) {
          await c.wake();
          await c.eventLoop.execute(() => (drained = c.discard()));
          consumed += drained;
          if (drained === 0) await settle(5);
        }
        done.resolve();
      };
      void wakeLoop();
      await within('all bytes consumed', 20_000, done.promise);
      assert.equal(consumed, total);
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('pauseRead() stops onTraffic and pushes back; resumeRead() delivers everything', { timeout: 30_000 }, async () => {
    const total = 16 * MiB;
    let received = 0;
    let conn: Conn | undefined;
    const server = await startServer(
      {
        onOpen(c) {
          conn = c;
          c.pauseRead();
        },
        onTraffic(c) {
          received += c.discard();
        },
      },
      LOOPBACK.tcp,
    );
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      void peer.write(Buffer.alloc(total, 9)).catch(() => {});
      await settle(400);
      assert.equal(received, 0, 'nothing delivered while paused');
      assert.ok(peer.socket.writableLength > 0, 'the peer is pushed back');
      await conn!.eventLoop.execute(() => conn!.resumeRead());
      await until('everything delivered', () => received === total, 20_000);
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });
});

describe(`limits (${testMode})`, () => {
  test('idleTimeoutMs closes a silent connection with ERR_IDLE_TIMEOUT; a chatty one stays', { timeout: 20_000 }, async () => {
    const closed = new Map<string, Error | null>();
    const server = await startServer(
      {
        onTraffic: echo,
        onClose(c, err) {
          closed.set(c.remoteAddr, err);
        },
      },
      LOOPBACK.tcp,
      { idleTimeoutMs: 300 },
    );
    try {
      const silent = await StreamPeer.connect(server.addrs[0]!);
      const chatty = await StreamPeer.connect(server.addrs[0]!);
      const started = Date.now();
      const timer = setInterval(() => void chatty.write('.').catch(() => {}), 50);
      await silent.waitEnd(5000);
      const after = Date.now() - started;
      clearInterval(timer);
      assert.ok(after >= 300, `not before the timeout (${after} ms)`);
      assert.ok(after < 2000, `soon after it (${after} ms)`);
      assert.equal(chatty.ended, false, 'the chatty connection is still open');
      await until('onClose ran', () => closed.size === 1);
      const err = [...closed.values()][0];
      assert.ok(err instanceof ZgnetError && err.code === 'ERR_IDLE_TIMEOUT', String(err));
      chatty.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('c.setIdleTimeout overrides the option for one connection', { timeout: 20_000 }, async () => {
    const server = await startServer({ onOpen: (c) => c.setIdleTimeout(200), onTraffic: echo }, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      const started = Date.now();
      await peer.waitEnd(5000);
      assert.ok(Date.now() - started >= 200);
    } finally {
      await server.shutdown();
    }
  });

  test('maxConnections: connections beyond it are closed at once, before onOpen; logged once', { timeout: 20_000 }, async () => {
    let opened = 0;
    const server = await startServer({ onOpen: () => void opened++, onTraffic: echo }, LOOPBACK.tcp, { maxConnections: 3 });
    try {
      const peers = await Promise.all(Array.from({ length: 6 }, () => StreamPeer.connect(server.addrs[0]!)));
      await until('the extra ones closed', () => peers.filter((p) => p.ended || p.error !== null).length === 3, 5000);
      assert.equal(opened, 3);
      assert.equal(server.engine.countConnections(), 3);
      const served = peers.filter((p) => !p.ended && p.error === null);
      for (const p of served) await p.write('ok');
      for (const p of served) assert.equal((await p.read(2)).toString(), 'ok');
      const lines = server.logger.entries.filter((e) => /maxConnections/.test(e.message));
      assert.equal(lines.length, 1, 'one rate-limited log line');
      for (const p of peers) p.destroy();
    } finally {
      await server.shutdown();
    }
  });
});
