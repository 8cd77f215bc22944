/**
 * Every byte exactly once: the bounded torture run (tests/conformance/support/torture.ts; the
 * long one is bench/torture.mjs), and the arena regression it led to — a write whose command
 * filled the command array was copied into the arena before the flush that empties it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import type { Conn } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { startServer } from '../support/server.js';
import { runTorture, describeMismatch } from './support/torture.js';
import { within } from '../support/wait.js';

describe(`every byte exactly once (${testMode})`, () => {
  test('seeded streams of mixed write shapes, slow readers, proxy pairs, a busy process per core: all intact', { timeout: 90_000 }, async (t) => {
    const seed = Number(process.env.ZGNET_TORTURE_SEED ?? (Date.now() % 1_000_000));
    const result = await runTorture({ seed, mode: testMode, streams: 48, concurrency: 4, deadlineMs: 45_000, hog: true, threads: true });
    t.diagnostic(`seed ${seed}: ${result.streams} streams, ${result.bytes} bytes`);
    assert.deepEqual(result.mismatches, [], `seed ${seed} (rerun with ZGNET_TORTURE_SEED=${seed})`);
    assert.ok(result.streams >= 4, `only ${result.streams} streams ran (seed ${seed})`);
  });

  test('more than a command array of small writes in one batch: each command keeps its own arena bytes', { timeout: 30_000 }, async () => {
    // pauseRead/resumeRead between the writes keeps them from merging into one command, so
    // the command array (4096) fills on a write: that write's bytes must not be overwritten.
    const expected: Buffer[] = [];
    const server = await startServer({
      onTraffic(c: Conn) {
        c.discard();
        c.pauseRead();
        for (let i = 0; i < 1500; i++) {
          c.write(Buffer.of(i & 0xff));
          c.resumeRead();
          c.pauseRead();
        }
        for (let i = 0; i < 300; i++) c.write(Buffer.alloc(1000, 0x80 | (i & 0x7f)));
        c.resumeRead();
      },
    }, 'tcp://127.0.0.1:0');
    for (let i = 0; i < 1500; i++) expected.push(Buffer.of(i & 0xff));
    for (let i = 0; i < 300; i++) expected.push(Buffer.alloc(1000, 0x80 | (i & 0x7f)));
    const sent = Buffer.concat(expected);
    try {
      const port = Number(/:(\d+)$/.exec(server.addrs[0]!)![1]);
      const got = await within('the reply', 20_000, new Promise<Buffer>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => s.write('go'));
        const chunks: Buffer[] = [];
        let size = 0;
        s.on('error', reject);
        s.on('data', (d: Buffer) => {
          chunks.push(d);
          size += d.length;
          if (size >= sent.length) setTimeout(() => (s.destroy(), resolve(Buffer.concat(chunks))), 100);
        });
      }));
      assert.equal(describeMismatch('the batch', sent, got), null);
    } finally {
      await server.shutdown();
    }
  });
});
