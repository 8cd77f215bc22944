/**
 * TLS with a handler module on several loops (issue "TLS in both modes", item 3): native mode
 * runs each loop on a thread of its own, all of them sessions of the engine's one OpenSSL
 * context; wasm mode passes each accepted socket, before its handshake, to the worker process
 * of its loop, which runs node:tls with the same options. Both: every client verified and
 * echoed by a loop off the main thread, a failed handshake on a worker loop counted on the
 * main side and logged without disturbing the connections of either loop, stop() clean.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { Client, rotate, type Conn, type Engine, type TlsServerOptions } from '../../host/index.js';
import { BOOT_HOOK, PLACE, type MulticoreData } from '../fixtures/multicore-handler.js';
import { testMode } from '../support/mode.js';
import { recordingLogger, removePath, unixPath } from '../support/server.js';
import { makeTestCerts, type TestCerts } from '../support/tls-certs.js';
import { until, within } from '../support/wait.js';

const HANDLER = new URL('../fixtures/multicore-handler.js', import.meta.url);

let certs: TestCerts;
before(() => {
  certs = makeTestCerts();
});
after(() => certs.remove());

/** A node:tls client keeping everything it received. */
interface TlsPeer {
  socket: tls.TLSSocket;
  received(): string;
}

function tlsPeer(target: { port: number } | { path: string }): Promise<TlsPeer> {
  return within(
    'a node:tls handshake',
    15_000,
    new Promise((resolve, reject) => {
      let got = '';
      const socket = tls.connect({ host: '127.0.0.1', ...target, ca: certs.ca, servername: 'localhost' }, () => resolve({ socket, received: () => got }));
      socket.on('data', (d) => (got += d));
      socket.on('error', reject);
    }),
  );
}

/** `who`'s answer line: `place loop tag tag`. */
function parseWho(line: string): { place: string; loop: number } {
  const [place, loop] = line.split(' ');
  return { place: place!, loop: Number(loop) };
}

describe(`tls on several loops with a handler module (${testMode})`, () => {
  test('two loops, tcp and unix: every client verified and echoed off the main thread; a failed handshake counted, logged, nothing else disturbed; stop() clean', { timeout: 90_000 }, async () => {
    const log = path.join(os.tmpdir(), `zgnet-tls-loops-${process.pid}.log`);
    fs.writeFileSync(log, '');
    const sock = unixPath('tls-loops');
    const logger = recordingLogger();
    const hooks = globalThis as Record<symbol, unknown>;
    const booted = new Promise<Engine>((resolve) => (hooks[BOOT_HOOK] = resolve));
    const tlsOptions: TlsServerOptions = { cert: certs.server.cert, key: certs.server.key, handshakeTimeoutMs: 5_000 };
    const data: MulticoreData = { log, tag: 'tls' };
    const done = rotate(HANDLER, ['tcp://127.0.0.1:0', `unix://${sock}`], {
      mode: testMode, numEventLoop: 2, lb: 'round-robin', handlerData: data, logger, tls: tlsOptions,
    });
    done.catch(() => {});
    const engine = await within('boot', 30_000, Promise.race([booted, done.then(() => Promise.reject(new Error('rotate() resolved before boot')))]));
    const port = Number(/:(\d+)$/.exec(engine.addrs[0]!)![1]);
    const peers: TlsPeer[] = [];
    const client = new Client(
      {
        onTraffic(c: Conn) {
          (c.context as { got: string[] }).got.push(c.next()!.toString());
        },
      },
      { mode: testMode },
    );
    await client.start();
    try {
      // node:tls clients over tcp and unix: each answers `who` from a loop, and echoes its own line.
      const places = new Map<number, string>();
      for (let i = 0; i < 6; i++) {
        const line = `echo-${i}-${'x'.repeat(100 * i)}\n`;
        const peer = await tlsPeer(i % 2 === 0 ? { port } : { path: sock });
        peers.push(peer);
        assert.ok(peer.socket.authorized, 'the client verified the server');
        peer.socket.write('who\n');
        await until(`conn ${i}'s who`, () => peer.received().endsWith('\n'), 15_000);
        const whoLine = peer.received();
        const w = parseWho(whoLine.trim());
        peer.socket.write(line);
        await until(`conn ${i}'s echo`, () => peer.received().length >= whoLine.length + line.length, 15_000);
        assert.equal(peer.received().slice(peer.received().indexOf('\n') + 1), line, `conn ${i}'s echo`);
        assert.notEqual(w.place, PLACE, 'served on the main thread');
        if (!places.has(w.loop)) places.set(w.loop, w.place);
        assert.equal(places.get(w.loop), w.place, `loop ${w.loop} is one thread or process`);
      }
      assert.deepEqual([...places.keys()].sort(), [0, 1], 'both loops served');
      assert.notEqual(places.get(0), places.get(1));

      // zgnet's own TLS client, both addresses.
      const dialled: Conn[] = [];
      for (const addr of engine.addrs) {
        const c = await client.dial(addr, { context: { got: [] }, tls: { ca: certs.ca, servername: 'localhost' } });
        assert.equal(c.tls!.authorized, true);
        dialled.push(c);
      }
      for (const [i, c] of dialled.entries()) c.write(`zgnet-${i}\n`);
      const gotOf = (c: Conn) => (c.context as { got: string[] }).got.join('');
      await until('both zgnet clients echoed', () => dialled.every((c, i) => gotOf(c) === `zgnet-${i}\n`), 15_000);

      // A plain-text client on the TLS port, on whichever loop: dropped, counted, logged.
      const counted = () => (engine as unknown as { tlsHandshakeFailures: number }).tlsHandshakeFailures;
      assert.equal(counted(), 0);
      await plainTextPeer(port);
      await until('the failure counted on the main side', () => counted() === 1, 15_000);
      await until('the failure logged', () => logger.entries.some((e) => e.level === 'warn' && /loop \d .*TLS handshake.* failed/.test(e.message)), 15_000);
      // Every connection of both loops still answers.
      for (const [i, p] of peers.entries()) {
        p.socket.write(`again-${i}\n`);
        await until(`conn ${i} after the failure`, () => p.received().endsWith(`again-${i}\n`), 15_000);
      }
      for (const [i, c] of dialled.entries()) c.write(`more-${i}\n`);
      await until('the zgnet clients after the failure', () => dialled.every((c, i) => gotOf(c) === `zgnet-${i}\nmore-${i}\n`), 15_000);
      assert.equal(engine.countConnections(), peers.length + dialled.length);
    } finally {
      await client.stop();
      await engine.stop().catch(() => {});
      await within('rotate() settling', 30_000, done);
      for (const p of peers) p.socket.destroy();
      removePath(sock);
    }
    const events = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
    fs.rmSync(log, { force: true });
    assert.equal(events.filter((e) => e.startsWith('open ')).length, 8, 'the failed handshake never reached onOpen');
    assert.equal(events.filter((e) => e.startsWith('close ')).length, 8, 'every onClose ran');
    assert.ok(logger.entries.every((e) => e.level !== 'error'), logger.entries.map((e) => e.message).join('\n'));
  });
});

/** A plain-text peer: resolves once the server closed it. */
function plainTextPeer(port: number): Promise<void> {
  return within(
    'the server dropping a plain-text client',
    15_000,
    new Promise<void>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('GET / HTTP/1.1\r\n\r\n'));
      socket.on('error', () => {});
      socket.on('data', () => {});
      socket.on('close', () => resolve());
    }),
  );
}
