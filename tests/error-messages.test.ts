/**
 * Errors a user can act on, table-driven: a wrong option or argument is ERR_INVALID_OPTION /
 * ERR_INVALID_ARGUMENT quoting the value as it was written, whatever its type (a string as
 * '2', a BigInt, a Symbol, a null-prototype object: none may crash the formatter); an address
 * error names the address; dialling port 0 is ERR_INVALID_NETWORK_ADDRESS. Runs in the mode
 * `npm test` sets, so both modes give the same answers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Client, FixedLengthCodec, LengthFieldCodec, LineCodec, run, ZgnetError } from '../host/index.js';
import { RingBuffer } from '../host/buffer/index.js';
import { testMode } from './support/mode.js';

const NULL_PROTO = Object.create(null) as object;
/** Values of every awkward type, with how a message must quote each. */
const ODD_VALUES: [unknown, string][] = [
  ['2', "'2'"],
  [2n, '2n'],
  [Symbol('x'), 'Symbol(x)'],
  [NULL_PROTO, '[Object: null prototype] {}'],
  [null, 'null'],
  [[1, 2], '[ 1, 2 ]'],
];

async function failure(fn: () => unknown): Promise<ZgnetError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof ZgnetError, `a ZgnetError, got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    return err;
  }
  assert.fail('no error');
}

const ADDR = 'tcp://127.0.0.1:0';
const mode = testMode;
/** Bounds a run() that wrongly starts, so that the test fails instead of hanging. */
const bounded = () => AbortSignal.timeout(2000);

describe(`error messages (${testMode})`, () => {
  const optionCases: [string, (v: unknown) => unknown][] = [
    ['numEventLoop', (v) => run({}, ADDR, { mode, signal: bounded(), numEventLoop: v as number })],
    ['multicore', (v) => run({}, ADDR, { mode, signal: bounded(), multicore: v as boolean })],
    ['lb', (v) => run({}, ADDR, { mode, signal: bounded(), lb: v as 'round-robin' })],
    ['logLevel', (v) => run({}, ADDR, { mode, signal: bounded(), logLevel: v as 'info' })],
    ['mode', (v) => run({}, ADDR, { mode: v as 'auto', signal: bounded() })],
    ['readBufferCap', (v) => run({}, ADDR, { mode, signal: bounded(), readBufferCap: v as number })],
    ['maxFrameLength', (v) => new LineCodec({ maxFrameLength: v as number })],
    ['frameLength', (v) => new FixedLengthCodec(v as number)],
    ['sizeBytes', (v) => new RingBuffer(v as number, { mode })],
  ];
  for (const [option, attempt] of optionCases) {
    test(`${option}: ERR_INVALID_OPTION quoting each odd value as written`, async () => {
      for (const [value, quoted] of ODD_VALUES) {
        const err = await failure(() => attempt(value));
        assert.equal(err.code, 'ERR_INVALID_OPTION', err.message);
        assert.ok(err.message.includes(option), `names ${option}: ${err.message}`);
        assert.ok(err.message.endsWith(`(got ${quoted})`), `quotes ${quoted}: ${err.message}`);
      }
    });
  }

  test('lengthFieldLength: an odd value is named in the error, not a crash', async () => {
    for (const [value, quoted] of ODD_VALUES) {
      const err = await failure(() => new LengthFieldCodec({ lengthFieldLength: value as 4 }));
      assert.equal(err.code, 'ERR_UNSUPPORTED_LENGTH', err.message);
      assert.ok(err.message.endsWith(quoted), err.message);
    }
  });

  test('a write of an odd value: ERR_INVALID_ARGUMENT quoting it', async () => {
    let server: Client | undefined;
    const errs: string[] = [];
    // The check runs before any I/O: a client conn to a listener of our own is enough.
    const done = run(
      {
        onTraffic(c) {
          for (const [value, quoted] of ODD_VALUES.filter(([v]) => typeof v !== 'string')) {
            try {
              c.write(value as string);
              errs.push('no error');
            } catch (err) {
              const e = err as ZgnetError;
              errs.push(e.code === 'ERR_INVALID_ARGUMENT' && e.message.endsWith(`(got ${quoted})`) ? 'ok' : e.message);
            }
          }
          return 2;
        },
        onBoot(engine) {
          server = new Client({}, { mode });
          const client = server;
          void client.start().then(() => client.dial(engine.addrs[0]!)).then((c) => void c.write('x'));
        },
      },
      ADDR,
      { mode, signal: AbortSignal.timeout(10_000) },
    );
    await done;
    await server?.stop();
    assert.deepEqual(errs, ['ok', 'ok', 'ok', 'ok', 'ok']);
  });

  const addressCases: [string, string, RegExp][] = [
    ['an unresolvable host', 'tcp://999.1.1.1:80', /^invalid network address: 'tcp:\/\/999\.1\.1\.1:80': cannot resolve 999\.1\.1\.1/],
    ['a bad port', 'tcp://127.0.0.1:99999', /'tcp:\/\/127\.0\.0\.1:99999': bad port '99999'/],
    ['no scheme', '127.0.0.1:80', /'127\.0\.0\.1:80': expected scheme:\/\/address/],
  ];
  for (const [what, addr, message] of addressCases) {
    test(`run() on ${what}: ERR_INVALID_NETWORK_ADDRESS naming ${addr}`, async () => {
      const err = await failure(() => run({}, addr, { mode, signal: bounded() }));
      assert.equal(err.code, 'ERR_INVALID_NETWORK_ADDRESS');
      assert.match(err.message, message);
    });
  }

  test('an address of an odd type: ERR_INVALID_NETWORK_ADDRESS quoting it', async () => {
    for (const [value, quoted] of ODD_VALUES.filter(([v]) => typeof v !== 'string')) {
      const err = await failure(() => run({}, value as string, { mode, signal: bounded() }));
      assert.equal(err.code, 'ERR_INVALID_NETWORK_ADDRESS', err.message);
      assert.ok(err.message.includes(quoted), err.message);
    }
  });

  test('dial() to port 0, tcp and udp, IPv4 and IPv6: ERR_INVALID_NETWORK_ADDRESS naming the address', async () => {
    const client = new Client({}, { mode });
    await client.start();
    try {
      for (const addr of ['tcp://127.0.0.1:0', 'udp://127.0.0.1:0', 'tcp://[::1]:0', 'udp://[::1]:0']) {
        const err = await failure(() => client.dial(addr));
        assert.equal(err.code, 'ERR_INVALID_NETWORK_ADDRESS', err.message);
        assert.ok(err.message.includes(`'${addr}': port 0 cannot be dialled`), err.message);
      }
    } finally {
      await client.stop();
    }
  });
});
