/**
 * gnet's client tests about what a callback sees: TestWakeConnImmediately — a
 * conn woken and closed right after dial sees the empty-buffer semantics, for every
 * transport — and TestClientReadOnEOF — bytes that arrive together with the FIN reach
 * onTraffic before onClose, whose error is the EOF.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import type { EventHandler } from '../../host/index.js';
import { removePath, unixPath } from '../support/server.js';
import { deferred, within } from '../support/wait.js';
import { withClient } from '../support/client.js';
import { zgnetEcho } from '../support/echo-backends.js';
import { testMode } from '../support/mode.js';

describe(`client callback semantics (${testMode})`, () => {
  for (const transport of ['tcp', 'unix', 'udp'] as const) {
    test(`${transport}: woken and closed right after dial, onTraffic sees an empty buffer (TestWakeConnImmediately)`, { timeout: 20_000 }, async () => {
      const server = await zgnetEcho(transport);
      const seen = deferred<Record<string, unknown>>();
      const order: string[] = [];
      const handler: EventHandler = {
        onTraffic(c) {
          order.push('traffic');
          if (seen.settled) return;
          seen.resolve({
            read0: c.read(new Uint8Array(0)),
            read10: c.read(new Uint8Array(10)),
            next10: c.next(10),
            nextAll: c.next(-1)?.length,
            next0: c.next(0)?.length,
            peek10: c.peek(10),
            peekAll: c.peek(-1)?.length,
            discard10: c.discard(10),
            discardAll: c.discard(-1),
            inbound: c.inboundBuffered(),
          });
        },
        onClose: () => void order.push('close'),
      };
      try {
        await withClient(handler, async (client) => {
          const c = await client.dial(server.addr);
          await within('wake() and close()', 10_000, Promise.all([c.wake(), c.close()]));
          const r = await within('onTraffic from wake()', 10_000, seen.promise);
          assert.deepEqual(r, {
            read0: 0, read10: 0, next10: null, nextAll: 0, next0: 0, peek10: null, peekAll: 0, discard10: 0, discardAll: 0, inbound: 0,
          });
          assert.deepEqual(order, ['traffic', 'close'], 'the wake queued first runs first');
          await c.wake(); // closed: silently nothing (TestClosedWakeUp)
          assert.deepEqual(order, ['traffic', 'close']);
        });
      } finally {
        await server.close();
      }
    });
  }

  for (const transport of ['tcp', 'unix'] as const) {
    test(`${transport}: data sent with the FIN reaches onTraffic before onClose (TestClientReadOnEOF)`, { timeout: 20_000 }, async () => {
      // A node:net server that answers up to 8 bytes and closes at once, as gnet's test.
      const backend = net.createServer((s) => {
        s.once('data', (d) => s.end(d.subarray(0, 8)));
        s.on('error', () => {});
      });
      const path = transport === 'unix' ? unixPath('eof') : '';
      await new Promise<void>((resolve) => (path ? backend.listen(path, resolve) : backend.listen(0, '127.0.0.1', resolve)));
      const addr = path ? `unix://${path}` : `tcp://127.0.0.1:${(backend.address() as net.AddressInfo).port}`;
      const events: string[] = [];
      const closed = deferred<Error | null>();
      const handler: EventHandler = {
        onOpen: (c) => void c.write('test-eof-and-more'),
        onTraffic: (c) => void events.push(`traffic ${c.next()!.toString()}`),
        onClose: (_c, err) => {
          events.push('close');
          closed.resolve(err);
        },
      };
      try {
        await withClient(handler, async (client) => {
          await client.dial(addr);
          const err = (await within('onClose', 10_000, closed.promise)) as (Error & { code?: string }) | null;
          assert.deepEqual(events, ['traffic test-eof', 'close']);
          assert.equal(err?.code, 'EOF', 'the peer closed: onClose gets the EOF');
        });
      } finally {
        await new Promise((resolve) => backend.close(resolve));
        if (path) removePath(path);
      }
    });
  }
});
