/**
 * Big buffers (issue 11): the wasm allocator indexed past its size classes at 1 GiB (a trap,
 * then a corrupted shared instance), and memory freed by one buffer served only blocks of the
 * same power of two, so wasm memory ratcheted to 6 bytes per buffered byte. Every size must work
 * up to the limit, be refused cleanly past it, and freed memory must serve the next buffer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ElasticRingBuffer, RingBuffer } from '../host/buffer/index.js';
import { loadWasmCore } from '../wasm/wasm-binding.js';
import { testMode } from './support/mode.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const wasmMemory = (): number => loadWasmCore().exports.memory.buffer.byteLength;

/** Writes `total` bytes in 64 KiB pieces, as a connection's reads would arrive. */
function fill(ring: ElasticRingBuffer, total: number): void {
  const piece = Buffer.alloc(64 * 1024, 0x5a);
  while (ring.buffered() < total) ring.write(piece);
}

describe(`big buffers (${testMode})`, () => {
  test('wasm: an emptied buffer gives its memory back to the next one, and a growing ring costs < 1.5 bytes per byte', () => {
    const warm = new ElasticRingBuffer({ mode: 'wasm' });
    warm.write('x');
    const base = wasmMemory();
    const first = new ElasticRingBuffer({ mode: 'wasm' });
    fill(first, 96 * MiB);
    const grown = wasmMemory() - base;
    // First in the file, so the heap is fresh: the ring really grew the memory.
    assert.ok(grown >= 96 * MiB, `wasm memory grew by ${grown} bytes`);
    // std's allocator needed 6 bytes of memory per buffered byte here; ours grows the ring in place.
    assert.ok(grown / first.buffered() < 1.5, `${(grown / first.buffered()).toFixed(2)} bytes of wasm memory per buffered byte`);
    first.discard();
    const second = new ElasticRingBuffer({ mode: 'wasm' });
    fill(second, 96 * MiB);
    assert.equal(wasmMemory() - base, grown, 'the second buffer reused the first one\'s memory');
    second.discard();
  });

  test('a 768 MiB ring (1 GiB capacity) works; past what memory holds is ERR_OUT_OF_MEMORY and the core stays healthy', () => {
    const ring = new RingBuffer(768 * MiB);
    assert.equal(ring.cap(), GiB);
    ring.write('first');
    // Past the wasm limit (4 GiB of wasm32) / past any allocation (native).
    const tooBig = testMode === 'wasm' ? 3 * GiB : 2 ** 50;
    assert.throws(() => new RingBuffer(tooBig), { name: 'ZgnetError', code: 'ERR_OUT_OF_MEMORY' });
    const small = new RingBuffer(16);
    small.write('still fine');
    assert.equal(small.peek().toString(), 'still fine');
    assert.equal(ring.peek().toString(), 'first');
    ring.release();
  });

  test('wasm: a block the memory cannot grow to is refused without growing it; the instance stays usable', () => {
    const core = loadWasmCore();
    const holding = new RingBuffer(256 * MiB, { mode: 'wasm' });
    holding.write('kept');
    const before = wasmMemory();
    // 3.75 GiB on top of what is held passes wasm32's 4 GiB: memory.grow refuses it.
    assert.equal(core.exports.zg_alloc(0xf000_0000), 0);
    assert.equal(wasmMemory(), before);
    // A ring of 1.5 GiB rounds up to 2 GiB, which wasm's i32 results cannot count: refused
    // up front (and a buffer refuses writes past 2 GiB - 1 bytes the same way).
    assert.throws(() => new RingBuffer(1.5 * GiB, { mode: 'wasm' }), { code: 'ERR_OUT_OF_MEMORY' });
    assert.equal(wasmMemory(), before);
    const after = new ElasticRingBuffer({ mode: 'wasm' });
    after.write('x'.repeat(100_000));
    assert.equal(after.buffered(), 100_000);
    assert.equal(holding.peek().toString(), 'kept');
    holding.release();
  });

});
