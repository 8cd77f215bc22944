import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ElasticBuffer, ElasticRingBuffer, LinkedListBuffer, RingBuffer } from '../host/buffer/index.js';
import { testMode } from './support/mode.js';
import { Random } from './support/random.js';

type AnyBuffer = RingBuffer | ElasticRingBuffer | LinkedListBuffer | ElasticBuffer;

const kinds: Array<[string, () => AnyBuffer]> = [
  ['RingBuffer', () => new RingBuffer(0)],
  ['ElasticRingBuffer', () => new ElasticRingBuffer()],
  ['LinkedListBuffer', () => new LinkedListBuffer()],
  ['ElasticBuffer', () => new ElasticBuffer(4096)],
];

describe(`buffers (${testMode})`, () => {
  test('every buffer runs in the mode under test', () => {
    for (const [, make] of kinds) assert.equal(make().mode, testMode);
  });

  test('RingBuffer grows as gnet: 1025 bytes into an empty ring give cap 2048', () => {
    const ring = new RingBuffer(0);
    assert.equal(ring.cap(), 0);
    ring.write(Buffer.alloc(1025, 1));
    assert.equal(ring.cap(), 2048);
    assert.equal(ring.buffered(), 1025);
  });

  test('RingBuffer grows as gnet: 4096 full + 2049 gives 6400', () => {
    const ring = new RingBuffer(4096);
    ring.write(Buffer.alloc(4096, 2));
    assert.equal(ring.isFull(), true);
    ring.write(Buffer.alloc(2049, 3));
    assert.equal(ring.cap(), 6400);
    assert.equal(ring.buffered(), 6145);
  });

  test('RingBuffer peek of wrapped data is one contiguous copy', () => {
    const ring = new RingBuffer(1024);
    ring.write(Buffer.alloc(1000, 7));
    assert.equal(ring.discard(900), 900);
    const tail = Buffer.from('x'.repeat(500));
    ring.write(tail); // wraps: 100 bytes at the end, 400 at the start
    assert.equal(ring.cap(), 1024);
    const all = ring.peek();
    assert.deepEqual(all, Buffer.concat([Buffer.alloc(100, 7), tail]));
    assert.deepEqual(ring.peek(150), all.subarray(0, 150));
    assert.equal(ring.buffered(), 600);
  });

  test('ElasticRingBuffer holds no memory until written and after it empties', () => {
    const ring = new ElasticRingBuffer();
    assert.equal(ring.cap(), 0);
    ring.write('hello');
    assert.ok(ring.cap() >= 5);
    const out = Buffer.alloc(5);
    assert.equal(ring.read(out), 5);
    assert.equal(out.toString(), 'hello');
    assert.equal(ring.cap(), 0);
    assert.equal(ring.isEmpty(), true);
  });

  test('ElasticBuffer keeps order across its ring and its list', () => {
    const buf = new ElasticBuffer(1024);
    const parts = [Buffer.alloc(5000, 1), Buffer.alloc(700, 2), Buffer.alloc(3000, 3)];
    for (const p of parts) buf.write(p);
    assert.deepEqual(buf.peek(), Buffer.concat(parts));
    assert.equal(buf.discard(5100), 5100);
    assert.deepEqual(buf.peek(), Buffer.concat(parts).subarray(5100));
  });

  test('release empties a buffer that stays usable', () => {
    for (const [, make] of kinds) {
      const b = make();
      b.write(Buffer.alloc(9000, 5));
      b.release();
      assert.equal(b.buffered(), 0);
      b.write('again');
      assert.equal(b.peek().toString(), 'again');
    }
  });

  test('ElasticBuffer refuses a non-positive maxStaticBytes', () => {
    assert.throws(() => new ElasticBuffer(0), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => new RingBuffer(-1), { code: 'ERR_INVALID_OPTION' });
  });

  test('read, discard and peek on an empty buffer', () => {
    for (const [, make] of kinds) {
      const b = make();
      assert.equal(b.read(Buffer.alloc(10)), 0);
      assert.equal(b.discard(10), 0);
      assert.equal(b.discard(), 0);
      assert.equal(b.peek(10).length, 0);
      assert.equal(b.isEmpty(), true);
    }
  });

  for (const [name, make] of kinds) {
    test(`${name} matches a plain FIFO model over random operations`, () => {
      const seed = 0x5eed + name.length;
      const rng = new Random(seed);
      const buf = make();
      let model = Buffer.alloc(0);
      for (let step = 0; step < 3000; step++) {
        const op = rng.int(0, 9);
        if (op < 4) {
          const data = rng.bytes(rng.int(0, 3000));
          assert.equal(buf.write(data), data.length);
          model = Buffer.concat([model, data]);
        } else if (op < 6) {
          const out = Buffer.alloc(rng.int(0, 4000));
          const n = buf.read(out);
          const expected = Math.min(out.length, model.length);
          assert.equal(n, expected, `seed ${seed} step ${step}`);
          assert.deepEqual(out.subarray(0, n), model.subarray(0, n), `seed ${seed} step ${step}`);
          model = model.subarray(n);
        } else if (op < 8) {
          const n = rng.int(-1, 4000);
          const peeked = buf.peek(n);
          const expected = n > 0 ? model.subarray(0, n) : model;
          assert.deepEqual(peeked, expected, `seed ${seed} step ${step}`);
        } else if (op < 9) {
          const n = rng.int(0, 3000);
          assert.equal(buf.discard(n), n > 0 ? Math.min(n, model.length) : model.length, `seed ${seed} step ${step}`);
          model = n > 0 ? model.subarray(Math.min(n, model.length)) : model.subarray(model.length);
        } else if (rng.int(0, 20) === 0) {
          buf.reset();
          model = Buffer.alloc(0);
        }
        assert.equal(buf.buffered(), model.length, `seed ${seed} step ${step}`);
        assert.equal(buf.isEmpty(), model.length === 0);
      }
    });
  }
});
