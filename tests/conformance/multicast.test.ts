/**
 * Multicast listeners (gnet's MulticastInterfaceIndex option and TestServeMulticast): a UDP
 * listener bound to a multicast IP joins the group, on the interface `multicastInterfaceIndex`
 * names (0: the OS chooses), and echoes what the group receives to each sender.
 *
 * Both modes join on loopback by its index (/sys/class/net/lo/ifindex) and the client sends
 * through loopback (IP_MULTICAST_IF 127.0.0.1), so no datagram leaves the machine.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import type { EventHandler } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { startServer } from '../support/server.js';
import { deferred, within } from '../support/wait.js';

const GROUP = '224.0.0.169';

function loopbackIndex(): number {
  try {
    return Number.parseInt(fs.readFileSync('/sys/class/net/lo/ifindex', 'utf8').trim(), 10) || 1;
  } catch {
    return 1; // lo is interface 1 on Linux; macOS's lo0 too
  }
}

const echo: EventHandler = {
  onTraffic(c) {
    c.write(c.next()!);
  },
};

/** A node:dgram client of the group: sends to it and waits for the echo. */
async function openClient(bindAddress: string | undefined, multicastInterface: string | undefined) {
  const socket = dgram.createSocket({ type: 'udp4' });
  const received: Buffer[] = [];
  let waiter: (() => void) | undefined;
  socket.on('message', (msg) => {
    received.push(Buffer.from(msg));
    waiter?.();
  });
  const errored = deferred<never>();
  socket.on('error', (err) => errored.reject(err));
  await within('binding the client', 5_000, Promise.race([new Promise<void>((resolve) => socket.bind({ address: bindAddress, port: 0 }, resolve)), errored.promise]));
  if (multicastInterface !== undefined) socket.setMulticastInterface(multicastInterface);
  const next = () =>
    new Promise<Buffer>((resolve) => {
      if (received.length > 0) return resolve(received.shift()!);
      waiter = () => {
        waiter = undefined;
        resolve(received.shift()!);
      };
    });
  return {
    async roundTrip(payload: Buffer, port: number): Promise<Buffer> {
      socket.send(payload, port, GROUP);
      return Promise.race([next(), errored.promise]);
    },
    close: () => socket.close(),
  };
}

describe(`multicast (${testMode})`, () => {
  test(`a udp4 listener on ${GROUP} joins the group and echoes each sender (TestServeMulticast)`, { timeout: 20_000 }, async () => {
    const server = await startServer(echo, `udp4://${GROUP}:0`, { multicastInterfaceIndex: loopbackIndex() });
    const client = await openClient('127.0.0.1', '127.0.0.1');
    try {
      const addr = server.addrs[0]!;
      assert.match(addr, new RegExp(`^udp://${GROUP.replace(/\./g, '\\.')}:\\d+$`));
      const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
      assert.ok(port > 0, addr);
      for (let i = 0; i < 5; i++) {
        const payload = Buffer.alloc(1024, i + 1);
        payload.write(`datagram ${i}`);
        const echoed = await within(`the echo of datagram ${i}`, 5_000, client.roundTrip(payload, port));
        assert.deepEqual(echoed, payload);
      }
    } finally {
      client.close();
      await server.shutdown();
    }
  });

  test(
    'joining on an interface that does not exist rejects run() with ENODEV from setsockopt',
    { timeout: 20_000 },
    async () => {
      const started = startServer(echo, `udp4://${GROUP}:0`, { multicastInterfaceIndex: 2 ** 31 - 2 });
      const err = await within(
        'run() rejecting',
        10_000,
        started.then(
          async (s) => {
            await s.shutdown();
            throw new Error('run() started');
          },
          (e: unknown) => e as Error & { code?: string; syscall?: string; errno?: number },
        ),
      );
      assert.equal(err.code, 'ENODEV', err.message);
      assert.equal(err.syscall, 'setsockopt');
      assert.ok(typeof err.errno === 'number' && err.errno < 0, `errno ${err.errno}`);
    },
  );

  test('a non-multicast udp listener ignores multicastInterfaceIndex', { timeout: 20_000 }, async () => {
    const server = await startServer(echo, 'udp4://127.0.0.1:0', { multicastInterfaceIndex: 2 ** 31 - 2 });
    const socket = dgram.createSocket('udp4');
    try {
      const addr = server.addrs[0]!;
      const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
      const got = new Promise<Buffer>((resolve) => socket.once('message', resolve));
      socket.send('plain', port, '127.0.0.1');
      assert.equal((await within('the echo', 5_000, got)).toString(), 'plain');
    } finally {
      socket.close();
      await server.shutdown();
    }
  });
});

