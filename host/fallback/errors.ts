/**
 * The errors the fallback engine makes itself. System errors come from Node untouched
 * (`ECONNRESET`, `EPIPE`, `EADDRINUSE` keep Node's `code`, `errno` and `syscall`).
 */
import { ErrorCode, ZgnetError } from '../errors.js';

/** Something gnet offers that Node's net/dgram hide (see the table in engine.ts). */
export function unsupported(what: string): ZgnetError {
  return new ZgnetError(ErrorCode.UNSUPPORTED_OP, `${what} is not available in wasm mode (node:net/node:dgram hide it)`);
}

/** What a UDP server connection or a stream connection cannot do at all, in either mode. */
export function notForProtocol(what: string, network: string): ZgnetError {
  return new ZgnetError(ErrorCode.UNSUPPORTED_OP, `${what} on a ${network} connection`);
}

export function connClosed(): ZgnetError {
  return new ZgnetError(ErrorCode.CONN_CLOSED);
}

/**
 * A promise the caller may await or ignore: an ignored rejection (asyncWrite on a conn that
 * closed meanwhile) must not become an unhandled rejection that kills the process.
 */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** The `invalid time duration` of gnet's keep-alive setters (they work in whole seconds). */
export function invalidKeepAlive(detail: string): ZgnetError {
  return new ZgnetError(ErrorCode.INVALID_ARGUMENT, `invalid time duration: ${detail}`);
}
