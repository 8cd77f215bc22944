/**
 * Errors. Every failure zgnet reports is a `ZgnetError` with a stable string `code`
 * (documented in the README); system failures keep Node's shape (`code`, `errno`, `syscall`).
 */
import os from 'node:os';

export const ErrorCode = Object.freeze({
  EMPTY_ENGINE: 'ERR_EMPTY_ENGINE',
  ENGINE_SHUTDOWN: 'ERR_ENGINE_SHUTDOWN',
  ENGINE_IN_SHUTDOWN: 'ERR_ENGINE_IN_SHUTDOWN',
  ACCEPT_SOCKET: 'ERR_ACCEPT_SOCKET',
  UNSUPPORTED_PROTOCOL: 'ERR_UNSUPPORTED_PROTOCOL',
  UNSUPPORTED_OP: 'ERR_UNSUPPORTED_OP',
  INVALID_NETWORK_ADDRESS: 'ERR_INVALID_NETWORK_ADDRESS',
  INVALID_NET_CONN: 'ERR_INVALID_NET_CONN',
  INVALID_OPTION: 'ERR_INVALID_OPTION',
  CONN_CLOSED: 'ERR_CONN_CLOSED',
  NATIVE_UNAVAILABLE: 'ERR_NATIVE_UNAVAILABLE',
  FRAME_TOO_LARGE: 'ERR_FRAME_TOO_LARGE',
  INVALID_FRAME: 'ERR_INVALID_FRAME',
  UNSUPPORTED_LENGTH: 'ERR_UNSUPPORTED_LENGTH',
  INVALID_FIXED_LENGTH: 'ERR_INVALID_FIXED_LENGTH',
  /** A handle or argument the core refused: a bug in zgnet or use after release. */
  INVALID_HANDLE: 'ERR_INVALID_HANDLE',
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  OUT_OF_MEMORY: 'ERR_OUT_OF_MEMORY',
} as const);

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
};

export class ZgnetError extends Error {
  readonly code: ErrorCodeName;

  constructor(code: ErrorCodeName, detail?: string, options?: { cause?: unknown }) {
    const base = messages[code] ?? code;
    super(detail ? `${base}: ${detail}` : base, options);
    this.name = 'ZgnetError';
    this.code = code;
  }
}

/** An error shaped like Node's own system errors (`err.code === 'ECONNRESET'`). */
export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

const errnoNames: Map<number, string> = new Map(
  Object.entries(os.constants.errno).map(([name, value]) => [value as number, name]),
);

/** Builds a Node-shaped system error from a positive errno, as `net` would report it. */
export function systemError(errno: number, syscall: string, detail?: string): SystemError {
  const code = errnoNames.get(errno) ?? `E${errno}`;
  const err = new Error(`${syscall} ${code}${detail ? ` ${detail}` : ''}`) as SystemError;
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

/** libuv's UV_EOF, the errno Node reports for end of stream. */
const UV_EOF = -4095;

/**
 * onClose's error when the peer closed its side: gnet's `SyscallError("read", io.EOF)` in
 * Node's shape (libuv names it `EOF`). Both engines report it the same way.
 */
export function eofError(): SystemError {
  const err = new Error('read EOF') as SystemError;
  err.code = 'EOF';
  err.errno = UV_EOF;
  err.syscall = 'read';
  return err;
}

export function invalidOption(name: string, rule: string): ZgnetError {
  return new ZgnetError(ErrorCode.INVALID_OPTION, `${name} ${rule}`);
}

/** A wrong-typed or out-of-range argument to a method (options go through `invalidOption`). */
export function invalidArgument(name: string, rule: string, value: unknown): ZgnetError {
  return new ZgnetError(ErrorCode.INVALID_ARGUMENT, `${name} ${rule} (got ${describe(value)})`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return typeof value;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : `an object (${value.constructor?.name ?? 'null prototype'})`;
}
