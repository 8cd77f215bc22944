/**
 * The one error the fallback engine adds to host/errors.ts: what Node's net/dgram hide.
 * System errors come from Node untouched (`ECONNRESET`, `EPIPE`, `EADDRINUSE` keep Node's
 * `code`, `errno` and `syscall`).
 */
import { ErrorCode, ZgnetError } from '../errors.js';

/** Something gnet offers that Node's net/dgram hide (see the table in engine.ts). */
export function unsupported(what: string): ZgnetError {
  return new ZgnetError(ErrorCode.UNSUPPORTED_OP, `${what} is not available in wasm mode (node:net/node:dgram hide it)`);
}
