/**
 * Socket-level operations (gnet's behaviour): fd, dup and the socket options on
 * tcp, unix and udp conns, and the engine's dup. What docs/modes.md marks unsupported in a mode
 * (fd, dup and setLinger where Node hides the descriptor, in wasm mode) must throw
 * ERR_UNSUPPORTED_OP there and work in native mode: the test branches on the mode, never skips.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { ZgnetError, type Conn, type Engine, type EventHandler } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { DatagramPeer, StreamPeer } from './support/clients.js';
import { LOOPBACK, removePath, startServer, unixPath } from './support/server.js';
import { deferred, within } from './support/wait.js';

type Outcome = { ok: true; value: unknown } | { ok: false; code: string | undefined; message: string; zgnet: boolean };

function attempt(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ok: false, code: e.code, message: e.message, zgnet: err instanceof ZgnetError };
  }
}

async function attemptAsync(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ok: false, code: e.code, message: e.message, zgnet: err instanceof ZgnetError };
  }
}

function assertOk(o: Outcome | undefined, what: string): unknown {
  assert.ok(o, `${what} was tried`);
  assert.ok(o.ok, `${what} failed: ${o.ok ? '' : `${o.code} ${o.message}`}`);
  return o.value;
}

function assertCode(o: Outcome | undefined, code: string, what: string): void {
  assert.ok(o, `${what} was tried`);
  assert.ok(!o.ok, `${what} should throw ${code}, returned ${o.ok ? String(o.value) : ''}`);
  assert.equal(o.code, code, `${what}: ${o.message}`);
  assert.ok(o.zgnet, `${what}: a ZgnetError`);
}

function assertFd(value: unknown, what: string): number {
  assert.ok(Number.isInteger(value) && (value as number) > 2, `${what}: ${String(value)} is not a descriptor`);
  return value as number;
}

/** Runs `probe` on the first conn with traffic and echoes; returns what the probe found. */
async function probeStream(addr: string, probe: (c: Conn) => Record<string, Outcome>): Promise<Record<string, Outcome>> {
  const found = deferred<Record<string, Outcome>>();
  const handler: EventHandler = {
    onTraffic(c) {
      if (!found.settled) found.resolve(probe(c));
      c.write(c.next()!);
    },
  };
  const server = await startServer(handler, addr);
  try {
    const peer = await StreamPeer.connect(server.addrs[0]!);
    await peer.write('probe');
    assert.equal((await peer.read(5)).toString(), 'probe', 'the conn still echoes after the probes');
    peer.destroy();
    return await within('the probe', 10_000, found.promise);
  } finally {
    await server.shutdown();
  }
}

describe(`socket operations (${testMode})`, () => {
  test(`tcp conn: fd, dup and setLinger ${testMode === 'native' ? 'work' : 'throw ERR_UNSUPPORTED_OP'}; the portable options work`, { timeout: 20_000 }, async () => {
    const r = await probeStream(LOOPBACK.tcp, (c) => ({
      fd: attempt(() => c.fd),
      dup: attempt(() => c.dup()),
      linger: attempt(() => c.setLinger(1)),
      lingerOff: attempt(() => c.setLinger(-1)),
      noDelayOff: attempt(() => c.setNoDelay(false)),
      noDelayOn: attempt(() => c.setNoDelay(true)),
      keepAlivePeriod: attempt(() => c.setKeepAlivePeriod(60_000)),
      keepAliveZero: attempt(() => c.setKeepAlive(true, 0, 0, 0)),
      keepAliveOff: attempt(() => c.setKeepAlive(false, 0, 0, 0)),
      keepAliveOn: attempt(() => c.setKeepAlive(true, 600_000, 60_000, 10)),
      readBuffer: attempt(() => c.setReadBuffer(1024 * 1024)),
      writeBuffer: attempt(() => c.setWriteBuffer(1024 * 1024)),
      flush: attempt(() => c.flush()),
      inbound: attempt(() => c.inboundBuffered()),
      sendTo: attempt(() => c.sendTo('x', 'udp://127.0.0.1:9')),
    }));
    if (testMode === 'native') {
      const fd = assertFd(assertOk(r.fd, 'fd'), 'fd');
      const dup = assertFd(assertOk(r.dup, 'dup()'), 'dup()');
      assert.notEqual(dup, fd, 'dup() is a new descriptor');
      fs.closeSync(dup);
      assertOk(r.linger, 'setLinger(1)');
      assertOk(r.lingerOff, 'setLinger(-1)');
      assertOk(r.readBuffer, 'setReadBuffer');
      assertOk(r.writeBuffer, 'setWriteBuffer');
    } else {
      assertCode(r.fd, 'ERR_UNSUPPORTED_OP', 'fd');
      assertCode(r.dup, 'ERR_UNSUPPORTED_OP', 'dup()');
      assertCode(r.linger, 'ERR_UNSUPPORTED_OP', 'setLinger(1)');
      // Node has no SO_RCVBUF/SO_SNDBUF for a stream socket: either done or refused cleanly.
      if (!r.readBuffer!.ok) assertCode(r.readBuffer, 'ERR_UNSUPPORTED_OP', 'setReadBuffer');
      if (!r.writeBuffer!.ok) assertCode(r.writeBuffer, 'ERR_UNSUPPORTED_OP', 'setWriteBuffer');
    }
    assertOk(r.noDelayOff, 'setNoDelay(false)');
    assertOk(r.noDelayOn, 'setNoDelay(true)');
    assertOk(r.keepAlivePeriod, 'setKeepAlivePeriod(1 min)');
    assert.equal(r.keepAliveZero!.ok, false, 'setKeepAlive(true, 0, 0, 0) is an invalid duration (gnet)');
    assertOk(r.keepAliveOff, 'setKeepAlive(false, …)');
    assertOk(r.keepAliveOn, 'setKeepAlive(true, 10 min, 1 min, 10)');
    assertOk(r.flush, 'flush()');
    assert.equal(assertOk(r.inbound, 'inboundBuffered()'), 5, 'the probe runs before next() consumes the 5 bytes');
    assertCode(r.sendTo, 'ERR_UNSUPPORTED_OP', 'sendTo on a stream');
  });

  test(`unix conn: keep-alive is ERR_UNSUPPORTED_OP; fd ${testMode === 'native' ? 'works' : 'throws ERR_UNSUPPORTED_OP'}`, { timeout: 20_000 }, async () => {
    const p = unixPath('sockopts');
    try {
      const r = await probeStream(`unix://${p}`, (c) => ({
        fd: attempt(() => c.fd),
        keepAlivePeriod: attempt(() => c.setKeepAlivePeriod(60_000)),
        keepAlive: attempt(() => c.setKeepAlive(true, 600_000, 60_000, 10)),
        sendTo: attempt(() => c.sendTo('x', 'udp://127.0.0.1:9')),
      }));
      if (testMode === 'native') assertFd(assertOk(r.fd, 'fd'), 'fd');
      else assertCode(r.fd, 'ERR_UNSUPPORTED_OP', 'fd');
      assertCode(r.keepAlivePeriod, 'ERR_UNSUPPORTED_OP', 'setKeepAlivePeriod on unix');
      assertCode(r.keepAlive, 'ERR_UNSUPPORTED_OP', 'setKeepAlive on unix');
      assertCode(r.sendTo, 'ERR_UNSUPPORTED_OP', 'sendTo on unix');
    } finally {
      removePath(p);
    }
  });

  test('udp server conn: writev and asyncWritev are ERR_UNSUPPORTED_OP, keep-alive too; sendTo reaches each sender (TestUDPSendtoServer)', { timeout: 20_000 }, async () => {
    const senders: string[] = [];
    const allIn = deferred();
    const probes: Record<string, Outcome> = {};
    let asyncWritev: Promise<Outcome> | undefined;
    const clients = 3;
    const handler: EventHandler = {
      onTraffic(c) {
        if (senders.length === 0) {
          probes.inbound = attempt(() => c.inboundBuffered());
          probes.writev = attempt(() => c.writev([Buffer.from('a'), Buffer.from('b')]));
          asyncWritev = attemptAsync(() => c.asyncWritev([Buffer.from('a')]));
          probes.keepAlive = attempt(() => c.setKeepAlivePeriod(60_000));
          probes.badAddr = attempt(() => c.sendTo('x', 'not an address'));
          probes.outbound = attempt(() => c.outboundBuffered());
        }
        senders.push(c.remoteAddr);
        c.discard();
        if (senders.length === clients) {
          for (const to of senders) probes[`sendTo ${to}`] = attempt(() => c.sendTo('Broadcasting message', to));
          allIn.resolve();
        }
      },
    };
    const server = await startServer(handler, LOOPBACK.udp);
    const peers = await Promise.all(Array.from({ length: clients }, () => DatagramPeer.open(server.addrs[0]!)));
    try {
      for (const p of peers) await p.send('hello!');
      await within('every datagram', 10_000, allIn.promise);
      for (const p of peers) assert.equal((await p.receive('the broadcast')).toString(), 'Broadcasting message');
      assert.deepEqual(senders.slice().sort(), peers.map((p) => `udp://127.0.0.1:${p.port}`).sort());
      assert.equal(assertOk(probes.inbound, 'inboundBuffered()'), 6);
      assertCode(probes.writev, 'ERR_UNSUPPORTED_OP', 'writev on server udp');
      assertCode(await asyncWritev!, 'ERR_UNSUPPORTED_OP', 'asyncWritev on server udp');
      assertCode(probes.keepAlive, 'ERR_UNSUPPORTED_OP', 'setKeepAlivePeriod on udp');
      assertCode(probes.badAddr, 'ERR_INVALID_NETWORK_ADDRESS', 'sendTo a bad address');
      assert.equal(assertOk(probes.outbound, 'outboundBuffered()'), 0);
      for (const to of senders) assert.equal(assertOk(probes[`sendTo ${to}`], `sendTo ${to}`), 'Broadcasting message'.length);
    } finally {
      for (const p of peers) p.close();
      await server.shutdown();
    }
  });

  test(`engine.dup() ${testMode === 'native' ? 'duplicates the listener, also in onShutdown (TestShutdownActionOnOpen)' : 'throws ERR_UNSUPPORTED_OP'}`, { timeout: 20_000 }, async () => {
    const inShutdown = deferred<Outcome>();
    let engine: Engine | undefined;
    const handler: EventHandler = {
      onBoot: (e) => void (engine = e),
      onShutdown: (e) => inShutdown.resolve(attempt(() => e.dup())),
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const atBoot = attempt(() => server.engine.dup());
      const badListener = attempt(() => server.engine.dupListener('tcp', 'abc'));
      await server.engine.stop();
      const during = await within('onShutdown', 10_000, inShutdown.promise);
      const after = attempt(() => engine!.dup());
      if (testMode === 'native') {
        fs.closeSync(assertFd(assertOk(atBoot, 'engine.dup()'), 'engine.dup()'));
        fs.closeSync(assertFd(assertOk(during, 'engine.dup() in onShutdown'), 'engine.dup() in onShutdown'));
        assertCode(badListener, 'ERR_INVALID_NETWORK_ADDRESS', "dupListener('tcp', 'abc')");
        assertCode(after, 'ERR_ENGINE_IN_SHUTDOWN', 'engine.dup() after shutdown');
      } else {
        assertCode(atBoot, 'ERR_UNSUPPORTED_OP', 'engine.dup()');
        assertCode(during, 'ERR_UNSUPPORTED_OP', 'engine.dup() in onShutdown');
        assert.equal(after.ok, false, 'engine.dup() after shutdown throws');
        assert.ok(after.ok === false && (after.code === 'ERR_ENGINE_IN_SHUTDOWN' || after.code === 'ERR_UNSUPPORTED_OP'), String(!after.ok && after.code));
      }
    } finally {
      await server.shutdown();
    }
  });
});
