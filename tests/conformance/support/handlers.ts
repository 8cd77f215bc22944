/** Small pieces shared by the conformance tests. */
import assert from 'node:assert/strict';
import { ZgnetError, type Conn } from '../../../host/index.js';

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
