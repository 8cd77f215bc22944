/**
 * Starting an engine (gnet's behaviour): addresses good and bad, options validated up front,
 * bind failures in Node's shape, port 0 and the bound addresses in engine.addrs, rotate() over
 * several listeners, unix socket files, and the address strings a Conn reports.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { describe, test } from 'node:test';
import { run, type Conn, type EventHandler, type Options } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { DatagramPeer, StreamPeer, endpoint } from '../support/clients.js';
import { echo, zgnetError } from '../support/handlers.js';
import { LOOPBACK, removePath, staleUnixSocket, startServer, unixPath } from '../support/server.js';
import { Counter, deferred, within } from '../support/wait.js';

const echoServer: EventHandler = { onTraffic: echo };

describe(`addresses and options (${testMode})`, () => {
  const badAddresses: Array<[string, string]> = [
    ['tulip://howdy', 'ERR_UNSUPPORTED_PROTOCOL'],
    ['howdy', 'ERR_INVALID_NETWORK_ADDRESS'],
    ['tcp://', 'ERR_INVALID_NETWORK_ADDRESS'],
    ['tcp://localhost:8080/foo', 'ERR_INVALID_NETWORK_ADDRESS'],
    ['unix://', 'ERR_INVALID_NETWORK_ADDRESS'],
  ];
  for (const [addr, code] of badAddresses) {
    test(`run(${JSON.stringify(addr)}) rejects ${code} without calling onBoot (TestBadAddresses)`, { timeout: 10_000 }, async () => {
      let booted = false;
      await assert.rejects(run({ onBoot: () => void (booted = true) }, addr, { mode: testMode }), zgnetError(code));
      assert.equal(booted, false);
    });
  }

  for (const addr of [':foo', 'tcp://127.0.0.1\n']) {
    test(`run(${JSON.stringify(addr)}) rejects`, { timeout: 10_000 }, async () => {
      await assert.rejects(run({}, addr, { mode: testMode }));
    });
  }

  test('two run() calls on a bad scheme with different loggers both reject ERR_UNSUPPORTED_PROTOCOL (TestMultiInstLoggerRace)', { timeout: 10_000 }, async () => {
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const results = await Promise.allSettled([
      run({}, 'tulip://howdy', { mode: testMode, logger: quiet }),
      run({}, 'tulip://howdy', { mode: testMode, logger: { ...quiet } }),
    ]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      zgnetError('ERR_UNSUPPORTED_PROTOCOL')((r as PromiseRejectedResult).reason);
    }
  });

  const badOptions: Array<[string, Record<string, unknown>]> = [
    ['readBufferCap', { readBufferCap: -1 }],
    ['writeBufferCap', { writeBufferCap: -1024 }],
    ['lb', { lb: 'random' }],
    ['numEventLoop', { numEventLoop: 257 }],
    ['numEventLoop', { numEventLoop: -1 }],
    ['ticker', { ticker: 'yes' }],
    ['tcpKeepAliveMs', { tcpKeepAliveMs: -5 }],
    ['mode', { mode: 'fast' }],
    ['bogusOption', { bogusOption: 1 }],
  ];
  for (const [name, options] of badOptions) {
    test(`option ${JSON.stringify(options)} rejects ERR_INVALID_OPTION naming ${name}`, { timeout: 10_000 }, async () => {
      let booted = false;
      const o = { mode: testMode, ...options } as Options;
      await assert.rejects(run({ onBoot: () => void (booted = true) }, LOOPBACK.tcp, o), zgnetError('ERR_INVALID_OPTION', new RegExp(name)));
      assert.equal(booted, false);
    });
  }

  test('every documented option with a valid value is accepted, and the engine serves', { timeout: 20_000 }, async () => {
    const options: Options = {
      multicore: true,
      numEventLoop: 2,
      lb: 'least-connections',
      reuseAddr: true,
      reusePort: false,
      readBufferCap: 2000,
      writeBufferCap: 2000,
      ticker: false,
      tcpKeepAliveMs: 60_000,
      tcpKeepIntervalMs: 10_000,
      tcpKeepCount: 10,
      tcpNoDelay: false,
      socketRecvBuffer: 256 * 1024,
      socketSendBuffer: 256 * 1024,
      multicastInterfaceIndex: 0,
      bindToDevice: '',
      edgeTriggeredIO: true,
      edgeTriggeredIOChunk: 64 * 1024,
      logLevel: 'warn',
    };
    const server = await startServer(echoServer, LOOPBACK.tcp, options);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      const data = Buffer.alloc(100_000, 3);
      await peer.write(data);
      assert.ok((await peer.read(data.length)).equals(data));
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('an address in use rejects with EADDRINUSE in Node\'s shape (code, errno, syscall)', { timeout: 10_000 }, async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as net.AddressInfo).port;
      let booted = false;
      await assert.rejects(run({ onBoot: () => void (booted = true) }, `tcp://127.0.0.1:${port}`, { mode: testMode }), (err: unknown) => {
        const e = err as Error & { code?: unknown; errno?: unknown; syscall?: unknown };
        assert.ok(e instanceof Error);
        assert.equal(e.code, 'EADDRINUSE');
        assert.equal(e.errno, -os.constants.errno.EADDRINUSE, 'errno as Node reports it (negative)');
        assert.equal(typeof e.syscall, 'string');
        assert.match(String(e.syscall), /^(bind|listen)$/);
        return true;
      });
      assert.equal(booted, false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe(`bound addresses (${testMode})`, () => {
  test('port 0 on tcp binds an ephemeral port, shown in engine.addrs; the conn reports both ends', { timeout: 20_000 }, async () => {
    const seen = deferred<{ local: string; remote: string }>();
    const server = await startServer({ ...echoServer, onOpen: (c) => seen.resolve({ local: c.localAddr, remote: c.remoteAddr }) }, LOOPBACK.tcp);
    try {
      assert.equal(server.addrs.length, 1);
      const m = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(server.addrs[0]!);
      assert.ok(m, server.addrs[0]);
      assert.ok(Number(m[1]) > 0);
      assert.deepEqual(server.engine.addrs, server.addrs);
      const peer = await StreamPeer.connect(server.addrs[0]!);
      const { local, remote } = await within('onOpen', 10_000, seen.promise);
      assert.equal(local, server.addrs[0]);
      assert.equal(remote, `tcp://127.0.0.1:${peer.socket.localPort}`);
      await peer.write('x');
      assert.equal((await peer.read(1)).toString(), 'x');
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('tcp6 on [::1] port 0: the address prints in brackets and serves', { timeout: 20_000 }, async () => {
    const seen = deferred<{ local: string; remote: string }>();
    const server = await startServer({ ...echoServer, onOpen: (c) => seen.resolve({ local: c.localAddr, remote: c.remoteAddr }) }, LOOPBACK.tcp6);
    try {
      const m = /^tcp6?:\/\/\[::1\]:(\d+)$/.exec(server.addrs[0]!);
      assert.ok(m, server.addrs[0]);
      assert.ok(Number(m[1]) > 0);
      const peer = await StreamPeer.connect(server.addrs[0]!);
      const { local, remote } = await within('onOpen', 10_000, seen.promise);
      assert.match(local, new RegExp(`^tcp6?://\\[::1\\]:${m[1]}$`));
      assert.match(remote, new RegExp(`^tcp6?://\\[::1\\]:${peer.socket.localPort}$`));
      await peer.write('x6');
      assert.equal((await peer.read(2)).toString(), 'x6');
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('tcp4 port 0 binds IPv4', { timeout: 20_000 }, async () => {
    const server = await startServer(echoServer, LOOPBACK.tcp4);
    try {
      assert.match(server.addrs[0]!, /^tcp4?:\/\/127\.0\.0\.1:[1-9]\d*$/);
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('x4');
      assert.equal((await peer.read(2)).toString(), 'x4');
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('unix: engine.addrs names the path; a stale socket there is replaced; the file is removed at shutdown', { timeout: 20_000 }, async () => {
    const p = unixPath('addrs');
    staleUnixSocket(p); // (anything else at the path is refused: paths.test.ts)
    const seen = deferred<{ local: string; remote: string }>();
    try {
      const server = await startServer({ ...echoServer, onOpen: (c) => seen.resolve({ local: c.localAddr, remote: c.remoteAddr }) }, `unix://${p}`);
      try {
        assert.deepEqual(server.addrs, [`unix://${p}`]);
        const peer = await StreamPeer.connect(server.addrs[0]!);
        const { local, remote } = await within('onOpen', 10_000, seen.promise);
        assert.equal(local, `unix://${p}`);
        assert.match(remote, /^unix:\/\//);
        await peer.write('xu');
        assert.equal((await peer.read(2)).toString(), 'xu');
        peer.destroy();
      } finally {
        await server.shutdown();
      }
      assert.equal(fs.existsSync(p), false, 'the socket file is removed when the listener closes');
    } finally {
      removePath(p);
    }
  });

  test('udp port 0: engine.addrs shows the port; a datagram conn reports both ends', { timeout: 20_000 }, async () => {
    const seen = deferred<{ local: string; remote: string }>();
    const handler: EventHandler = {
      onTraffic(c) {
        seen.resolve({ local: c.localAddr, remote: c.remoteAddr });
        c.write(c.next()!);
      },
    };
    const server = await startServer(handler, LOOPBACK.udp);
    const peer = await DatagramPeer.open(server.addrs[0]!);
    try {
      assert.match(server.addrs[0]!, /^udp:\/\/127\.0\.0\.1:[1-9]\d*$/);
      await peer.send('dgram');
      assert.equal((await peer.receive()).toString(), 'dgram');
      const { local, remote } = await seen.promise;
      assert.equal(local, server.addrs[0]);
      assert.equal(remote, `udp://127.0.0.1:${peer.port}`);
    } finally {
      peer.close();
      await server.shutdown();
    }
  });

  test('rotate() binds several addresses of mixed protocols; each serves and each conn reports its own listener', { timeout: 20_000 }, async () => {
    const p = unixPath('rotate');
    const locals: string[] = [];
    const handler: EventHandler = {
      onTraffic(c) {
        locals.push(c.localAddr);
        c.write(c.next()!);
      },
    };
    const server = await startServer(handler, [LOOPBACK.tcp, LOOPBACK.tcp, LOOPBACK.udp, `unix://${p}`, LOOPBACK.tcp6]);
    try {
      assert.equal(server.addrs.length, 5);
      assert.match(server.addrs[0]!, /^tcp:\/\/127\.0\.0\.1:\d+$/);
      assert.match(server.addrs[1]!, /^tcp:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(server.addrs[0], server.addrs[1]);
      assert.match(server.addrs[2]!, /^udp:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(server.addrs[3], `unix://${p}`);
      assert.match(server.addrs[4]!, /^tcp6?:\/\/\[::1\]:\d+$/);
      for (const addr of server.addrs) {
        if (endpoint(addr).network === 'udp') {
          const peer = await DatagramPeer.open(addr);
          try {
            await peer.send(addr);
            assert.equal((await peer.receive()).toString(), addr);
          } finally {
            peer.close();
          }
        } else {
          const peer = await StreamPeer.connect(addr);
          await peer.write(addr);
          assert.equal((await peer.read(Buffer.byteLength(addr))).toString(), addr);
          peer.destroy();
        }
      }
      assert.deepEqual(locals, server.addrs);
      assert.throws(() => server.engine.dup(), zgnetError('ERR_UNSUPPORTED_OP'), 'dup() with several listeners');
    } finally {
      await server.shutdown();
      removePath(p);
    }
  });
});

describe(`connections and their state (${testMode})`, () => {
  test('countConnections follows opens and closes; udp datagrams are not counted (TestShutdown)', { timeout: 20_000 }, async () => {
    const counts: number[] = [];
    const opened = new Counter('onOpen');
    const closed = new Counter('onClose');
    let engineCount = () => -2;
    const handler: EventHandler = {
      onBoot(engine) {
        engineCount = () => engine.countConnections();
      },
      onOpen() {
        opened.inc();
        counts.push(engineCount());
      },
      onClose: () => void closed.inc(),
      onTraffic: (c) => void c.write(c.next()!),
    };
    const server = await startServer(handler, [LOOPBACK.tcp, LOOPBACK.udp]);
    try {
      assert.equal(server.engine.countConnections(), 0);
      const peers: StreamPeer[] = [];
      for (let i = 0; i < 5; i++) {
        peers.push(await StreamPeer.connect(server.addrs[0]!));
        await opened.wait(i + 1);
      }
      assert.deepEqual(counts, [1, 2, 3, 4, 5], 'onOpen sees itself counted');
      const udp = await DatagramPeer.open(server.addrs[1]!);
      try {
        await udp.send('u');
        await udp.receive();
      } finally {
        udp.close();
      }
      assert.equal(server.engine.countConnections(), 5);
      peers[0]!.end();
      peers[1]!.destroy();
      await closed.wait(2);
      assert.equal(server.engine.countConnections(), 3);
      for (const p of peers.slice(2)) p.end();
      await closed.wait(5);
      assert.equal(server.engine.countConnections(), 0);
    } finally {
      await server.shutdown();
    }
  });

  test('countConnections is -1 once the engine has shut down (gnet: Validate fails)', { timeout: 20_000 }, async () => {
    const server = await startServer({}, LOOPBACK.tcp);
    await server.shutdown();
    assert.equal(server.engine.countConnections(), -1);
  });

  test('c.context is kept from onOpen through onClose and reads undefined afterwards', { timeout: 20_000 }, async () => {
    let conn: Conn | undefined;
    const inClose = deferred<unknown>();
    const handler: EventHandler = {
      onOpen(c) {
        conn = c;
        c.context = { user: 42 };
      },
      onTraffic(c) {
        c.write(JSON.stringify(c.context));
        c.discard();
      },
      onClose: (c) => inClose.resolve(c.context),
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!);
      await peer.write('?');
      assert.equal((await peer.read(11)).toString(), '{"user":42}');
      peer.end();
      assert.deepEqual(await within('onClose', 10_000, inClose.promise), { user: 42 });
      await new Promise((r) => setImmediate(r));
      assert.equal(conn!.context, undefined);
    } finally {
      await server.shutdown();
    }
  });
});
