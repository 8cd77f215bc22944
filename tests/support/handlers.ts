/** Small pieces shared by the conformance tests. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { ZgnetError, type Conn } from '../../host/index.js';
import type { Random } from './random.js';

/** onTraffic of an echo server: everything received goes straight back. */
export function echo(c: Conn): void {
  const data = c.next();
  if (data !== null && data.length > 0) c.write(data);
}

/** A validator for assert.throws/rejects: a ZgnetError with `code` (and a message matching `detail`). */
export function zgnetError(code: string, detail?: RegExp): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof ZgnetError, `a ZgnetError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (detail) assert.match(err.message, detail);
    return true;
  };
}

/**
 * `length` pseudo-random bytes drawn from `rng` (its next four values key an AES-128-CTR
 * stream): reproducible from the seed like `rng.bytes`, and fast enough for megabytes.
 */
export function seededBytes(rng: Random, length: number): Buffer {
  const key = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) key.writeUInt32BE(rng.int(0, 0xffff_ffff), i * 4);
  return crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}
