/**
 * Several codecs taking turns on one stream, against a model (issue 11: the delimiter scan
 * position was kept per stream, so one codec's "no delimiter before here" misled another:
 * missed frames, a delimiter swallowed into a payload, spurious ERR_FRAME_TOO_LARGE).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ElasticRingBuffer, RingBuffer } from '../host/buffer/index.js';
import { DelimiterCodec, FixedLengthCodec, LineCodec, type Codec } from '../host/index.js';
import { testMode } from './support/mode.js';
import { Random } from './support/random.js';

interface Modelled {
  codec: Codec;
  /** The frame the model expects at the front of `stream`: consumed bytes and payload, null, or an error code. */
  expect(stream: Buffer): { consume: number; payload: Buffer } | null | string;
}

function delimited(delimiter: Buffer, maxFrameLength: number, codec: Codec): Modelled {
  return {
    codec,
    expect(stream) {
      if (stream.length < delimiter.length) return null;
      // A delimiter may start at p only if the frame before it is allowed (p <= max).
      const startsEnd = Math.min(stream.length - delimiter.length + 1, maxFrameLength + 1);
      const p = stream.indexOf(delimiter);
      if (p >= 0 && p < startsEnd) return { consume: p + delimiter.length, payload: stream.subarray(0, p) };
      return stream.length - delimiter.length + 1 > maxFrameLength ? 'ERR_FRAME_TOO_LARGE' : null;
    },
  };
}

function fixed(n: number): Modelled {
  return {
    codec: new FixedLengthCodec(n),
    expect: (stream) => (stream.length >= n ? { consume: n, payload: stream.subarray(0, n) } : null),
  };
}

/** Bytes from a small alphabet rich in every codec's delimiters, so frames end often. */
function streamBytes(rng: Random, length: number): Buffer {
  const alphabet = Buffer.from('ab\n\0\r\nxyz\0\n');
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = alphabet[rng.int(0, alphabet.length - 1)]!;
  return out;
}

/** One round: random writes, decodes by random codecs, reads and discards; every result checked against the model. */
function round(seed: number, ring: ElasticRingBuffer | RingBuffer): void {
  const rng = new Random(seed);
  const codecs: Modelled[] = [
    delimited(Buffer.from('\n'), 40, new LineCodec({ maxFrameLength: 40 })),
    delimited(Buffer.from([0]), 30, new DelimiterCodec(0, { maxFrameLength: 30 })),
    delimited(Buffer.from('\r\n'), 60, new DelimiterCodec('\r\n', { maxFrameLength: 60 })),
    fixed(rng.int(1, 9)),
  ];
  let model = Buffer.alloc(0);
  for (let step = 0; step < 400; step++) {
    const where = `seed ${seed}, step ${step}`;
    const action = rng.int(0, 9);
    if (action < 3) {
      const bytes = streamBytes(rng, rng.int(1, 12));
      ring.write(bytes);
      model = Buffer.concat([model, bytes]);
    } else if (action < 9) {
      const m = codecs[rng.int(0, codecs.length - 1)]!;
      const expected = m.expect(model);
      if (typeof expected === 'string') {
        assert.throws(() => m.codec.decode(ring), { code: expected }, where);
        // A connection would close here: start a fresh stream.
        ring.reset();
        model = Buffer.alloc(0);
      } else {
        const frame = m.codec.decode(ring);
        assert.deepEqual(frame, expected?.payload ?? null, where);
        if (expected) model = model.subarray(expected.consume);
      }
    } else {
      const n = rng.int(1, 5);
      assert.equal(ring.discard(n), Math.min(n, model.length), where);
      model = model.subarray(Math.min(n, model.length));
    }
    assert.equal(ring.buffered(), model.length, where);
  }
}

describe(`codecs sharing one stream (${testMode})`, () => {
  test('four codecs in random turns decode exactly what a model decodes (84 seeded rounds, two buffer kinds)', () => {
    for (let seed = 1; seed <= 84; seed++) {
      const ring = seed % 2 === 0 ? new ElasticRingBuffer() : new RingBuffer(64);
      assert.equal(ring.mode, testMode);
      round(seed, ring);
    }
  });

  test('`line ?? zero` finds the NUL-terminated frame the line codec passed over', () => {
    const line = new LineCodec();
    const zero = new DelimiterCodec(0);
    const ring = new ElasticRingBuffer();
    ring.write('abc\0def\0');
    assert.equal(line.decode(ring), null);
    assert.equal(zero.decode(ring)?.toString(), 'abc');
    assert.equal(line.decode(ring), null);
    assert.equal(zero.decode(ring)?.toString(), 'def');
    ring.write('gh\n');
    assert.equal(zero.decode(ring), null);
    assert.equal(line.decode(ring)?.toString(), 'gh');
  });
});
