import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ElasticRingBuffer, RingBuffer } from '../host/buffer/index.js';
import { DelimiterCodec, FixedLengthCodec, LengthFieldCodec, LineCodec, type Codec } from '../host/index.js';
import { testMode } from './support/mode.js';
import { Random } from './support/random.js';

/** Feeds `stream` in random chunks and decodes after each, as a connection would. */
function decodeAll(codec: Codec, stream: Uint8Array, rng: Random, maxChunk: number): Buffer[] {
  const inbound = new ElasticRingBuffer();
  assert.equal(inbound.mode, testMode);
  const frames: Buffer[] = [];
  for (const chunk of rng.chunks(stream, maxChunk)) {
    inbound.write(chunk);
    for (let f = codec.decode(inbound); f !== null; f = codec.decode(inbound)) frames.push(f);
  }
  assert.equal(inbound.buffered(), 0, 'every byte belongs to a frame');
  return frames;
}

function randomPayloads(rng: Random, count: number, maxLen: number, avoid?: number): Buffer[] {
  return Array.from({ length: count }, () => {
    const p = rng.bytes(rng.int(0, maxLen));
    if (avoid !== undefined) for (let i = 0; i < p.length; i++) if (p[i] === avoid) p[i] = (avoid + 1) & 0xff;
    return p;
  });
}

const lengthFieldConfigs = [
  { lengthFieldLength: 1 as const },
  { lengthFieldLength: 2 as const, byteOrder: 'little' as const },
  { lengthFieldLength: 3 as const },
  { lengthFieldLength: 4 as const, initialBytesToStrip: 4 },
  { lengthFieldLength: 8 as const, byteOrder: 'little' as const, initialBytesToStrip: 8 },
  { lengthFieldLength: 4 as const, lengthFieldOffset: 3, initialBytesToStrip: 7 },
  { lengthFieldLength: 2 as const, lengthAdjustment: -2, initialBytesToStrip: 2 },
];

describe(`codecs (${testMode})`, () => {
  for (const [index, config] of lengthFieldConfigs.entries()) {
    test(`LengthFieldCodec ${JSON.stringify(config)} round-trips random payloads in random chunks`, () => {
      const rng = new Random(1000 + index);
      const codec = new LengthFieldCodec(config);
      const maxLen = config.lengthFieldLength === 1 ? 200 : 5000;
      const payloads = randomPayloads(rng, 300, maxLen);
      const stream = Buffer.concat(payloads.map((p) => codec.encode(p)));
      const headerLen = (config.lengthFieldOffset ?? 0) + config.lengthFieldLength;
      const strip = config.initialBytesToStrip ?? 0;
      const frames = decodeAll(codec, stream, rng, 3000);
      assert.equal(frames.length, payloads.length);
      frames.forEach((f, i) => {
        const encoded = codec.encode(payloads[i]!);
        assert.deepEqual(f, encoded.subarray(strip), `frame ${i}, seed ${rng.seed}`);
        assert.deepEqual(f.subarray(headerLen - strip), payloads[i]);
      });
    });
  }

  test('LengthFieldCodec decodes in 1-byte chunks', () => {
    const rng = new Random(7);
    const codec = new LengthFieldCodec({ lengthFieldLength: 2, initialBytesToStrip: 2 });
    const payloads = randomPayloads(rng, 50, 300);
    const frames = decodeAll(codec, Buffer.concat(payloads.map((p) => codec.encode(p))), rng, 1);
    assert.deepEqual(frames, payloads);
  });

  test('frames are owned: decoding more does not change earlier frames', () => {
    const codec = new LineCodec();
    const ring = new RingBuffer(0);
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
    ring.write(lines.join('\n') + '\n');
    const frames: Buffer[] = [];
    for (let f = codec.decode(ring); f; f = codec.decode(ring)) frames.push(f);
    assert.deepEqual(
      frames.map((f) => f.toString()),
      lines,
    );
  });

  test('decoding in batches is invisible: mixing decode with peek, read and buffered', () => {
    const codec = new LengthFieldCodec({ lengthFieldLength: 1, initialBytesToStrip: 1 });
    const ring = new RingBuffer(0);
    for (let i = 0; i < 10; i++) ring.write(codec.encode(Buffer.from(`f${i}`)));
    assert.equal(codec.decode(ring)?.toString(), 'f0');
    // The codec decoded all ten ahead, but the stream shows only f0 gone.
    assert.equal(ring.buffered(), 27);
    assert.deepEqual(ring.peek(3), Buffer.from('\x02f1'));
    assert.equal(codec.decode(ring)?.toString(), 'f1');
    // Reading by hand moves the front: the codec must not hand out f2 again.
    const three = Buffer.alloc(3);
    assert.equal(ring.read(three), 3);
    assert.equal(three.toString(), '\x02f2');
    assert.equal(codec.decode(ring)?.toString(), 'f3');
    assert.equal(ring.discard(3), 3);
    const rest: string[] = [];
    for (let f = codec.decode(ring); f; f = codec.decode(ring)) rest.push(f.toString());
    assert.deepEqual(rest, ['f5', 'f6', 'f7', 'f8', 'f9']);
    assert.equal(ring.buffered(), 0);
  });

  test('two codecs on one stream take turns without losing frames', () => {
    const a = new LineCodec();
    const b = new LineCodec();
    const ring = new ElasticRingBuffer();
    ring.write('1\n2\n3\n4\n');
    assert.equal(a.decode(ring)?.toString(), '1');
    assert.equal(b.decode(ring)?.toString(), '2');
    assert.equal(a.decode(ring)?.toString(), '3');
    assert.equal(b.decode(ring)?.toString(), '4');
    assert.equal(a.decode(ring), null);
  });

  test('LineCodec keeps \\r and waits for the newline', () => {
    const codec = new LineCodec();
    const ring = new ElasticRingBuffer();
    ring.write('hello\r');
    assert.equal(codec.decode(ring), null);
    ring.write('\nworld\n');
    assert.equal(codec.decode(ring)?.toString(), 'hello\r');
    assert.equal(codec.decode(ring)?.toString(), 'world');
    assert.equal(codec.decode(ring), null);
    assert.deepEqual(codec.encode(Buffer.from('x')), Buffer.from('x\n'));
  });

  test('DelimiterCodec with a multi-byte delimiter split across chunks', () => {
    const rng = new Random(11);
    const codec = new DelimiterCodec(Buffer.from('\r\n\r\n'));
    const payloads = randomPayloads(rng, 200, 400, 0x0d);
    const frames = decodeAll(codec, Buffer.concat(payloads.map((p) => codec.encode(p))), rng, 7);
    assert.deepEqual(frames, payloads);
  });

  test('FixedLengthCodec frames and rejects non-multiples on encode', () => {
    const rng = new Random(13);
    const codec = new FixedLengthCodec(8);
    const stream = rng.bytes(8 * 100);
    const frames = decodeAll(codec, codec.encode(stream), rng, 13);
    assert.equal(frames.length, 100);
    assert.deepEqual(Buffer.concat(frames), stream);
    assert.throws(() => codec.encode(Buffer.alloc(15)), { name: 'ZgnetError', code: 'ERR_INVALID_FIXED_LENGTH' });
    assert.throws(() => new FixedLengthCodec(0), { code: 'ERR_INVALID_OPTION' });
  });

  test('gnet v1: a 1-byte field rejects a 256-byte payload, 255 round-trips both orders', () => {
    for (const byteOrder of ['big', 'little'] as const) {
      const codec = new LengthFieldCodec({ lengthFieldLength: 1, byteOrder, initialBytesToStrip: 1 });
      assert.throws(() => codec.encode(Buffer.alloc(256)), { code: 'ERR_FRAME_TOO_LARGE' });
      const ring = new ElasticRingBuffer();
      const payload = new Random(3).bytes(255);
      ring.write(codec.encode(payload));
      assert.deepEqual(codec.decode(ring), payload);
    }
  });

  test('a zero-byte payload with a 4-byte field decodes to empty', () => {
    const codec = new LengthFieldCodec({ lengthFieldLength: 4, initialBytesToStrip: 4 });
    const ring = new ElasticRingBuffer();
    ring.write(codec.encode(Buffer.alloc(0)));
    assert.equal(codec.decode(ring)?.length, 0);
    assert.equal(ring.buffered(), 0);
  });

  test('unsupported field lengths throw ERR_UNSUPPORTED_LENGTH from the constructor', () => {
    for (const bad of [0, 5, 6, 7, 9, 16, -1]) {
      assert.throws(() => new LengthFieldCodec({ lengthFieldLength: bad as 1 }), { name: 'ZgnetError', code: 'ERR_UNSUPPORTED_LENGTH' });
    }
  });

  test('bad codec options throw ERR_INVALID_OPTION naming the option', () => {
    assert.throws(() => new LengthFieldCodec({ lengthFieldLength: 4, byteOrder: 'middle' as 'big' }), /byteOrder/);
    assert.throws(() => new LengthFieldCodec({ lengthFieldLength: 4, maxFrameLength: 0 }), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => new LengthFieldCodec({ lengthFieldLength: 4, lengthFieldOffset: -1 }), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => new LengthFieldCodec({ lengthFieldLength: 4, bogus: 1 } as never), /bogus/);
    assert.throws(() => new DelimiterCodec(Buffer.alloc(0)), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => new DelimiterCodec(300), { code: 'ERR_INVALID_OPTION' });
  });

  test('a hostile 8-byte length fails from the header alone and consumes nothing', () => {
    const codec = new LengthFieldCodec({ lengthFieldLength: 8 });
    const ring = new ElasticRingBuffer();
    ring.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0]));
    assert.throws(() => codec.decode(ring), { code: 'ERR_FRAME_TOO_LARGE' });
    assert.equal(ring.buffered(), 8);
    assert.throws(() => codec.decode(ring), { code: 'ERR_FRAME_TOO_LARGE' });
  });

  test('maxFrameLength is checked before the body arrives', () => {
    const codec = new LengthFieldCodec({ lengthFieldLength: 4, maxFrameLength: 1024 });
    const ring = new ElasticRingBuffer();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1021);
    ring.write(header);
    assert.throws(() => codec.decode(ring), { code: 'ERR_FRAME_TOO_LARGE' });
    const ok = new LengthFieldCodec({ lengthFieldLength: 4, maxFrameLength: 1025 });
    assert.equal(ok.decode(ring), null);
  });

  test('a negative adjusted length is ERR_INVALID_FRAME', () => {
    const codec = new LengthFieldCodec({ lengthFieldLength: 2, lengthAdjustment: -10 });
    const ring = new ElasticRingBuffer();
    ring.write(Buffer.from([0, 3, 1, 2, 3]));
    assert.throws(() => codec.decode(ring), { code: 'ERR_INVALID_FRAME' });
    assert.equal(ring.buffered(), 5);
  });

  test('a line flood without a newline fails with ERR_FRAME_TOO_LARGE, fed byte by byte', () => {
    const codec = new LineCodec({ maxFrameLength: 4096 });
    const ring = new ElasticRingBuffer();
    let error: unknown;
    for (let i = 0; i < 10_000 && !error; i++) {
      ring.write('a');
      try {
        assert.equal(codec.decode(ring), null);
      } catch (err) {
        error = err;
      }
    }
    assert.ok(error, 'the flood must be refused');
    assert.equal((error as { code: string }).code, 'ERR_FRAME_TOO_LARGE');
    assert.equal(ring.buffered(), 4097);
  });

  test('random garbage gives frames or documented errors, never a crash', () => {
    const rng = new Random(99);
    const codecs: Codec[] = [
      new LengthFieldCodec({ lengthFieldLength: 8, maxFrameLength: 1 << 20 }),
      new LengthFieldCodec({ lengthFieldLength: 3, lengthAdjustment: -5, initialBytesToStrip: 9, maxFrameLength: 5000 }),
      new LengthFieldCodec({ lengthFieldLength: 1, lengthFieldOffset: 2, byteOrder: 'little' }),
      new LineCodec({ maxFrameLength: 100 }),
      new DelimiterCodec(Buffer.from([0, 1, 2]), { maxFrameLength: 300 }),
      new FixedLengthCodec(17),
    ];
    const documented = new Set(['ERR_FRAME_TOO_LARGE', 'ERR_INVALID_FRAME']);
    for (const codec of codecs) {
      for (let round = 0; round < 200; round++) {
        const ring = new ElasticRingBuffer();
        for (const chunk of rng.chunks(rng.bytes(rng.int(0, 2000)), 64)) {
          ring.write(chunk);
          try {
            while (codec.decode(ring) !== null);
          } catch (err) {
            const code = (err as { code?: string }).code ?? '';
            assert.ok(documented.has(code), `unexpected ${code}: ${String(err)}`);
            const before = ring.buffered();
            assert.throws(() => codec.decode(ring));
            assert.equal(ring.buffered(), before, 'a failed decode consumes nothing');
            break;
          }
        }
      }
    }
  });

  test('codec.write sends header, payload and trailer as one vectored write', () => {
    const chunks: Uint8Array[][] = [];
    const sink = { writev: (c: Uint8Array[]) => (chunks.push(c), c.reduce((n, x) => n + x.length, 0)) };
    const lf = new LengthFieldCodec({ lengthFieldLength: 2 });
    assert.equal(lf.write(sink, Buffer.from('abc')), 5);
    assert.deepEqual(Buffer.concat(chunks[0]!), Buffer.from([0, 3, 0x61, 0x62, 0x63]));
    const line = new LineCodec();
    assert.equal(line.write(sink, Buffer.from('hi')), 3);
    assert.deepEqual(Buffer.concat(chunks[1]!), Buffer.from('hi\n'));
    assert.throws(() => new FixedLengthCodec(4).write(sink, Buffer.alloc(3)), { code: 'ERR_INVALID_FIXED_LENGTH' });
  });
});
