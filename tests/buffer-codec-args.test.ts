/**
 * Wrong-typed arguments to the buffer and codec classes (issue 11: 1,379 of 6,361 fuzzed calls
 * answered with a plain TypeError or RangeError, and the modes disagreed). Every one is a
 * ZgnetError with one code, ERR_INVALID_ARGUMENT for methods and ERR_INVALID_OPTION for
 * constructors, identical in both modes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ElasticBuffer, ElasticRingBuffer, LinkedListBuffer, RingBuffer } from '../host/buffer/index.js';
import { DelimiterCodec, FixedLengthCodec, LengthFieldCodec, LineCodec, type Mode } from '../host/index.js';
import { testMode } from './support/mode.js';

/** Values no method accepts where bytes, a count or a connection are expected. */
const junk: unknown[] = [null, {}, [], [1, 2], () => 1, Symbol('s'), 10n, true, new ArrayBuffer(4), new Int32Array(2)];
const badCounts: unknown[] = [NaN, 1.5, -0.5, '3', ...junk];
const badBytes: unknown[] = [undefined, 3, NaN, ...junk.filter((v) => !(v instanceof Int32Array))];
const badTargets: unknown[] = [...badBytes, 'a string'];

type Call = (v: unknown) => unknown;
const buffers = (mode: Mode) => ({
  RingBuffer: () => new RingBuffer(64, { mode }),
  ElasticRingBuffer: () => new ElasticRingBuffer({ mode }),
  LinkedListBuffer: () => new LinkedListBuffer({ mode }),
  ElasticBuffer: () => new ElasticBuffer(32, { mode }),
});

/** [method, call, bad values]: every buffer kind has these. */
function bufferCalls(b: RingBuffer | ElasticRingBuffer | LinkedListBuffer | ElasticBuffer): [string, Call, unknown[]][] {
  return [
    ['write', (v) => b.write(v as Uint8Array), badBytes],
    ['read', (v) => b.read(v as Uint8Array), badTargets],
    ['peek', (v) => b.peek(v as number), badCounts],
    ['discard', (v) => b.discard(v as number), badCounts],
  ];
}

function codecCalls(mode: Mode): [string, Call, unknown[]][] {
  const line = new LineCodec();
  const ring = new ElasticRingBuffer({ mode });
  ring.write('abc\n');
  return [
    ['decode', (v) => line.decode(v as RingBuffer), [undefined, 'conn', 3, ...junk]],
    ['encode', (v) => line.encode(v as Uint8Array), badTargets],
    ['write (connection)', (v) => line.write(v as never, Buffer.from('x')), [undefined, 'conn', 3, ...junk]],
    ['write (payload)', (v) => line.write({ writev: () => 0 }, v as Uint8Array), badTargets],
  ];
}

const constructors: [string, Call, unknown[]][] = [
  ['new RingBuffer(size)', (v) => new RingBuffer(v as number), [NaN, -1, 1.5, '8', ...junk.filter((v) => v !== undefined)]],
  ['new RingBuffer(_, options)', (v) => new RingBuffer(8, v as never), [null, 3, 'native', Symbol('o')]],
  ['new ElasticBuffer(max)', (v) => new ElasticBuffer(v as number), [undefined, 0, NaN, '8', ...junk]],
  ['new LineCodec(options)', (v) => new LineCodec(v as never), [null, 3, 'x', Symbol('o')]],
  ['new DelimiterCodec(d)', (v) => new DelimiterCodec(v as number), [undefined, 256, -1, 1.5, NaN, '', ...junk]],
  ['new DelimiterCodec(_, options)', (v) => new DelimiterCodec(0, v as never), [null, 3, 'x']],
  ['new FixedLengthCodec(n)', (v) => new FixedLengthCodec(v as number), [undefined, 0, NaN, 1.5, '4', ...junk]],
  ['new LengthFieldCodec(options)', (v) => new LengthFieldCodec(v as never), [undefined, null, 3, 'x', Symbol('o')]],
];

function expectZgnet(call: Call, value: unknown, code: string, what: string): void {
  assert.throws(() => call(value), (err: Error & { code?: string }) => {
    assert.equal(err.name, 'ZgnetError', `${what}(${String(value)}): ${err.name}: ${err.message}`);
    assert.equal(err.code, code, `${what}(${String(value)})`);
    return true;
  });
}

describe(`wrong-typed arguments (${testMode})`, () => {
  test('every buffer method refuses every wrong-typed argument with ERR_INVALID_ARGUMENT, changing nothing', () => {
    let calls = 0;
    for (const [kind, make] of Object.entries(buffers(testMode))) {
      const b = make();
      b.write('keep');
      for (const [method, call, values] of bufferCalls(b)) {
        for (const v of values) {
          expectZgnet(call, v, 'ERR_INVALID_ARGUMENT', `${kind}.${method}`);
          calls++;
        }
      }
      assert.equal(b.peek().toString(), 'keep', `${kind} unchanged`);
    }
    assert.ok(calls > 100);
  });

  test('every codec method refuses every wrong-typed argument with ERR_INVALID_ARGUMENT', () => {
    for (const [method, call, values] of codecCalls(testMode)) {
      for (const v of values) expectZgnet(call, v, 'ERR_INVALID_ARGUMENT', `LineCodec.${method}`);
    }
  });

  test('constructors refuse wrong-typed arguments and options with ERR_INVALID_OPTION', () => {
    for (const [what, call, values] of constructors) {
      for (const v of values) {
        // LengthFieldCodec's field length has its own documented code.
        expectZgnet(call, v, 'ERR_INVALID_OPTION', what);
      }
    }
  });

  test('counts mean the same in both modes: <= 0, -Infinity, Infinity or omitted is all, more than buffered is all', () => {
    const results = (['native', 'wasm'] as const).map((mode) =>
      Object.entries(buffers(mode)).map(([kind, make]) => {
        const b = make();
        const row: (string | number)[] = [kind];
        for (const n of [Infinity, -Infinity, 0, -3, 2, 1e15, undefined]) {
          b.write('abcdef');
          row.push(b.peek(n).toString(), b.discard(n), b.buffered());
          b.reset();
        }
        return row;
      }),
    );
    assert.deepEqual(results[0], results[1]);
    // And what they are: Infinity discards all six, 2 discards two.
    assert.deepEqual(results[0]![0]!.slice(1, 4), ['abcdef', 6, 0]);
    assert.deepEqual(results[0]![0]!.slice(13, 16), ['ab', 2, 4]);
  });
});
