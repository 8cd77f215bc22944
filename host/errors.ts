/**
 * Errors. Every failure zgnet reports is a `ZgnetError` with a stable string `code`
 * (documented in docs/errors.md); system failures keep Node's shape (`code`, `errno`, `syscall`).
 */
import * as os from 'node:os';
import { inspect } from 'node:util';

/** The `code` of every `ZgnetError` zgnet raises (system failures carry Node's errno names instead). */
export const ErrorCode = Object.freeze({
  /** The engine has no listener or has not started (a client engine's `dup`, `stop`). */
  EMPTY_ENGINE: 'ERR_EMPTY_ENGINE',
  /** The engine is about to shut down. */
  ENGINE_SHUTDOWN: 'ERR_ENGINE_SHUTDOWN',
  /** The engine is shutting down or has shut down: no new work is taken. */
  ENGINE_IN_SHUTDOWN: 'ERR_ENGINE_IN_SHUTDOWN',
  /** Accepting a new connection failed. */
  ACCEPT_SOCKET: 'ERR_ACCEPT_SOCKET',
  /** An address scheme other than tcp/tcp4/tcp6, udp/udp4/udp6 or unix. */
  UNSUPPORTED_PROTOCOL: 'ERR_UNSUPPORTED_PROTOCOL',
  /** The operation does not exist in this mode or for this kind of connection. */
  UNSUPPORTED_OP: 'ERR_UNSUPPORTED_OP',
  /** An address that cannot be parsed, resolved or bound; the message names it. */
  INVALID_NETWORK_ADDRESS: 'ERR_INVALID_NETWORK_ADDRESS',
  /** The connection is empty (no socket behind it). */
  INVALID_NET_CONN: 'ERR_INVALID_NET_CONN',
  /** An option of the wrong type, value or name; the message names it and quotes the value. */
  INVALID_OPTION: 'ERR_INVALID_OPTION',
  /** The connection is closed (a write after onClose or after `end()`). */
  CONN_CLOSED: 'ERR_CONN_CLOSED',
  /** `mode: 'native'` was asked for but the native library cannot be loaded. */
  NATIVE_UNAVAILABLE: 'ERR_NATIVE_UNAVAILABLE',
  /** A frame longer than the codec's `maxFrameLength` (or than its length field holds). */
  FRAME_TOO_LARGE: 'ERR_FRAME_TOO_LARGE',
  /** A frame the codec cannot decode. */
  INVALID_FRAME: 'ERR_INVALID_FRAME',
  /** A `lengthFieldLength` other than 1, 2, 3, 4 or 8. */
  UNSUPPORTED_LENGTH: 'ERR_UNSUPPORTED_LENGTH',
  /** `FixedLengthCodec.encode` got a length that is not a multiple of `frameLength`. */
  INVALID_FIXED_LENGTH: 'ERR_INVALID_FIXED_LENGTH',
  /** A handle or argument the core refused: a bug in zgnet or use after release. */
  INVALID_HANDLE: 'ERR_INVALID_HANDLE',
  /** An argument of the wrong type or value; the message quotes it. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** The core could not allocate memory. */
  OUT_OF_MEMORY: 'ERR_OUT_OF_MEMORY',
  /** No inbound bytes for longer than the idle timeout (onClose's error). */
  IDLE_TIMEOUT: 'ERR_IDLE_TIMEOUT',
  /** The handler module cannot be imported or has no usable handler. */
  HANDLER_MODULE: 'ERR_HANDLER_MODULE',
  /** A worker process or thread serving an event loop exited: the engine stops. */
  WORKER_EXITED: 'ERR_WORKER_EXITED',
  /** A bad certificate, key or TLS option (from `run()`/`dial()`). */
  TLS_CONFIG: 'ERR_TLS_CONFIG',
  /** A TLS handshake failed or timed out. */
  TLS_HANDSHAKE: 'ERR_TLS_HANDSHAKE',
} as const);

/** One of the `ErrorCode` values, or an errno name (`'EADDRINUSE'`) for a failed system call. */
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode] | string;

const messages: Record<string, string> = {
  ERR_EMPTY_ENGINE: 'the internal engine is empty',
  ERR_ENGINE_SHUTDOWN: 'the engine is going to be shut down',
  ERR_ENGINE_IN_SHUTDOWN: 'the engine is already in shutdown',
  ERR_ACCEPT_SOCKET: 'accepting a new connection failed',
  ERR_UNSUPPORTED_PROTOCOL: 'only unix, tcp/tcp4/tcp6, udp/udp4/udp6 are supported',
  ERR_UNSUPPORTED_OP: 'unsupported operation',
  ERR_INVALID_NETWORK_ADDRESS: 'invalid network address',
  ERR_INVALID_NET_CONN: 'the connection is empty',
  ERR_INVALID_OPTION: 'invalid option',
  ERR_CONN_CLOSED: 'the connection is closed',
  ERR_NATIVE_UNAVAILABLE: 'the native library cannot be loaded',
  ERR_FRAME_TOO_LARGE: 'frame longer than maxFrameLength (or than its length field holds)',
  ERR_INVALID_FRAME: 'malformed frame',
  ERR_UNSUPPORTED_LENGTH: 'unsupported lengthFieldLength (expected 1, 2, 3, 4 or 8)',
  ERR_INVALID_FIXED_LENGTH: 'length is not a multiple of the fixed frame length',
  ERR_INVALID_HANDLE: 'invalid or released handle',
  ERR_INVALID_ARGUMENT: 'invalid argument',
  ERR_OUT_OF_MEMORY: 'out of memory',
  ERR_IDLE_TIMEOUT: 'no inbound traffic for longer than the idle timeout',
  ERR_HANDLER_MODULE: 'the handler module cannot be used',
  ERR_WORKER_EXITED: 'a worker process or thread serving an event loop exited',
  ERR_TLS_CONFIG: 'invalid TLS configuration',
  ERR_TLS_HANDSHAKE: 'the TLS handshake failed',
};

/** Every failure zgnet reports: an Error with a stable `code`. */
export class ZgnetError extends Error {
  /** An `ErrorCode` value, or an errno name for a system failure. */
  readonly code: ErrorCodeName;

  constructor(code: ErrorCodeName, detail?: string, options?: { cause?: unknown }) {
    const base = messages[code] ?? code;
    super(detail ? `${base}: ${detail}` : base, options);
    this.name = 'ZgnetError';
    this.code = code;
  }
}

/**
 * A failed system call: a ZgnetError in the shape of Node's own system errors
 * (`err.code === 'EADDRINUSE'`, `errno`, `syscall`), with the address in the message.
 */
export interface SystemError extends ZgnetError {
  /** Node's errno name, e.g. `'EADDRINUSE'`. */
  code: string;
  /** The negative errno, as Node's system errors. */
  errno: number;
  /** The failed call, e.g. `'bind'`. */
  syscall: string;
  /** The address the call was about, when there is one. */
  address?: string;
  /** The port the call was about, when there is one. */
  port?: number;
}

const errnoNames: Map<number, string> = new Map(
  Object.entries(os.constants.errno).map(([name, value]) => [value as number, name]),
);

/**
 * Builds a system error from a positive errno: `bind EADDRINUSE 127.0.0.1:9200` — the same
 * text in both modes (`where`: the address the call was about, or a detail).
 */
export function systemError(errno: number, syscall: string, where?: string): SystemError {
  const code = errnoNames.get(errno) ?? `E${errno}`;
  const err = new ZgnetError(code) as SystemError;
  err.message = `${syscall} ${code}${where ? ` ${where}` : ''}`;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

/**
 * `host:port` (`[::1]:9200`) or the unix path: what a system error's message names. Port and
 * host are also kept on the error (`address`, `port`), as Node does.
 */
export function withAddress(err: SystemError, addr: { network: string; host: string; port: number; path: string }): SystemError {
  if (addr.network === 'unix') {
    err.message = `${err.syscall} ${err.code} ${addr.path}`;
    err.address = addr.path;
    return err;
  }
  err.message = `${err.syscall} ${err.code} ${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
  err.address = addr.host;
  err.port = addr.port;
  return err;
}

/**
 * Node's libuv defers a bind() failure to listen(): the wasm engine reports those as `bind`,
 * as the kernel (and native mode) do.
 */
const BIND_ERRORS = new Set(['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES']);

/** An error Node's net/dgram reported, as zgnet reports system errors (anything else: as is). */
export function fromNodeError(err: unknown, addr: { network: string; host: string; port: number; path: string }): Error {
  const e = err as Partial<SystemError> & Error;
  if (typeof e?.errno !== 'number' || typeof e.code !== 'string' || typeof e.syscall !== 'string') return err as Error;
  const syscall = e.syscall === 'listen' && BIND_ERRORS.has(e.code) ? 'bind' : e.syscall;
  const errno = errnoByName(e.code) ?? -e.errno;
  return withAddress(systemError(errno, syscall), addr);
}

function errnoByName(code: string): number | undefined {
  return (os.constants.errno as Record<string, number>)[code];
}

/** libuv's UV_EOF, the errno Node reports for end of stream. */
const UV_EOF = -4095;

/**
 * onClose's error when the peer closed its side: gnet's `SyscallError("read", io.EOF)` in
 * Node's shape (libuv names it `EOF`). Both engines report it the same way.
 */
export function eofError(): SystemError {
  const err = new ZgnetError('EOF') as SystemError;
  err.message = 'read EOF';
  err.errno = UV_EOF;
  err.syscall = 'read';
  return err;
}

/** An option that breaks its rule; `value`, when given, is quoted as passed (see `describe`). */
export function invalidOption(name: string, rule: string, ...value: [unknown?]): ZgnetError {
  return new ZgnetError(ErrorCode.INVALID_OPTION, value.length === 0 ? `${name} ${rule}` : `${name} ${rule} (got ${describe(value[0])})`);
}

// ---- what a connection's methods report, the same in both modes --------------------------

/** `what`: the call that found the connection closed (`write`, ...), named in the message. */
export function connClosed(what?: string): ZgnetError {
  return new ZgnetError(ErrorCode.CONN_CLOSED, what === undefined ? undefined : `${what}() after close`);
}

/** A write after `c.end()`: the write side is finished (node:net's write after end). */
export function writeAfterEnd(what: string): ZgnetError {
  return new ZgnetError(ErrorCode.CONN_CLOSED, `${what}() after end()`);
}

export function unsupportedOp(what: string): ZgnetError {
  return new ZgnetError(ErrorCode.UNSUPPORTED_OP, what);
}

/** What a connection of this protocol cannot do at all, in either mode (setNoDelay on udp). */
export function notForProtocol(what: string, network: string): ZgnetError {
  return new ZgnetError(ErrorCode.UNSUPPORTED_OP, `${what} on a ${network} connection`);
}

/** The bytes a write takes: a Uint8Array (Buffer) or a string; anything else is refused. */
export function checkBytes(data: unknown, method: string): void {
  const err = bytesError(data, method);
  if (err !== null) throw err;
}

/** checkBytes' verdict as a value, for methods that reject instead of throwing. */
export function bytesError(data: unknown, method: string): ZgnetError | null {
  if (typeof data === 'string' || data instanceof Uint8Array) return null;
  return invalidArgument(`${method}(data)`, 'must be a Uint8Array or a string', data);
}

/** An array of Uint8Arrays, for writev. */
export function checkChunks(chunks: unknown, method: string): void {
  if (!Array.isArray(chunks)) throw invalidArgument(`${method}(chunks)`, 'must be an array of Uint8Array', chunks);
  for (const chunk of chunks) {
    if (!(chunk instanceof Uint8Array)) throw invalidArgument(`${method}(chunks)`, 'must hold only Uint8Arrays', chunk);
  }
}

/**
 * A promise the caller may await or ignore: an ignored rejection (asyncWrite on a conn that
 * closed meanwhile) must not become an unhandled rejection that kills the process.
 */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** A rejected promise nobody has to handle. */
export function quietReject(err: Error): Promise<never> {
  return quiet(Promise.reject(err));
}

/** A wrong-typed or out-of-range argument to a method (options go through `invalidOption`). */
export function invalidArgument(name: string, rule: string, value: unknown): ZgnetError {
  return new ZgnetError(ErrorCode.INVALID_ARGUMENT, `${name} ${rule} (got ${describe(value)})`);
}

/**
 * A value as an error message quotes it, as written in code: `'2'` for a string, `2n` for a
 * BigInt, `Symbol(x)`, `[Object: null prototype] {}`. Never throws, whatever the value (no
 * custom inspect, no getters run, proxies shown as proxies), and stays short.
 */
export function describe(value: unknown): string {
  try {
    return inspect(value, { depth: 0, customInspect: false, showProxy: true, breakLength: Infinity, maxArrayLength: 4, maxStringLength: 40 });
  } catch {
    return typeof value;
  }
}
