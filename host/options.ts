/**
 * Options: validated up front (a wrong type, value or name is `ERR_INVALID_OPTION` naming
 * it) and normalised as gnet does (buffer caps, keep-alive defaults, the reuse-port and
 * edge-triggered forcing rules).
 */
import * as os from 'node:os';
import type { ClientOptions, LoadBalancing, Logger, LogLevel, Network, Options } from './api.js';
import { parseMode, type ModeOption } from './core/select.js';
import { invalidOption } from './errors.js';
import { resolveServerTls, type ServerTls } from './tls/options.js';
import type { NodeAbortSignal } from './node-types.js';

/** The most event loops an engine runs (`numEventLoop`). */
export const EVENT_LOOPS_MAX = 256;
/** `readBufferCap`/`writeBufferCap` when unset or <= 0: 64 KiB. */
export const DEFAULT_BUFFER_CAP = 64 * 1024;
const ET_CHUNK_DEFAULT = 1024 * 1024;

/**
 * `Options` after validation, defaults and gnet's forcing rules (internal: engines read this,
 * users pass `Options`). Every field has the meaning and unit of the `Options` field of the same
 * name (see host/api.ts), with its default applied.
 */
export interface ResolvedOptions {
  numEventLoop: number;
  lb: LoadBalancing;
  reuseAddr: boolean;
  reusePort: boolean;
  readBufferCap: number;
  writeBufferCap: number;
  ticker: boolean;
  tcpKeepAliveMs: number;
  tcpKeepIntervalMs: number;
  tcpKeepCount: number;
  tcpNoDelay: boolean;
  socketRecvBuffer: number;
  socketSendBuffer: number;
  multicastInterfaceIndex: number;
  bindToDevice: string;
  edgeTriggeredIO: boolean;
  edgeTriggeredIOChunk: number;
  logger: Logger;
  logLevel: LogLevel;
  mode: ModeOption;
  signal: NodeAbortSignal | undefined;
  /** A client engine (host/client.ts): no listeners, least-connections, gnet's client lifecycle. */
  client: boolean;
  outboundHighWaterMark: number;
  /** onWritable fires once the queue is at or below this: half the high-water mark (netty's ratio). */
  outboundLowWaterMark: number;
  inboundHighWaterMark: number;
  idleTimeoutMs: number;
  maxConnections: number;
  allowHalfOpen: boolean;
  unixSocketMode: number | undefined;
  /** A handler module's data (structured-cloned to worker processes). */
  handlerData: unknown;
  /** `options.tls`, certificates parsed (host/tls/options.ts); undefined: plain connections. */
  tls: ServerTls | undefined;
}

export const OUTBOUND_HIGH_WATER_MARK = 1024 * 1024;
/** As a codec's default maxFrameLength: a handler waiting for one whole frame never stalls. */
export const INBOUND_HIGH_WATER_MARK = 16 * 1024 * 1024;

const SERVER_OPTIONS = [
  'multicore', 'numEventLoop', 'lb', 'reuseAddr', 'reusePort', 'readBufferCap', 'writeBufferCap', 'ticker',
  'tcpKeepAliveMs', 'tcpKeepIntervalMs', 'tcpKeepCount', 'tcpNoDelay', 'socketRecvBuffer', 'socketSendBuffer',
  'multicastInterfaceIndex', 'bindToDevice', 'edgeTriggeredIO', 'edgeTriggeredIOChunk', 'logger', 'logLevel',
  'mode', 'signal', 'outboundHighWaterMark', 'inboundHighWaterMark', 'idleTimeoutMs', 'maxConnections', 'unixSocketMode',
  'handlerData', 'allowHalfOpen', 'tls',
] as const;
const CLIENT_ONLY_EXCLUDED = new Set([
  'lb', 'reusePort', 'reuseAddr', 'multicastInterfaceIndex', 'bindToDevice', 'maxConnections', 'unixSocketMode', 'handlerData', 'tls',
]);

function bool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, 'must be a boolean', value);
  return value;
}

function int(value: unknown, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidOption(name, `must be an integer from ${min} to ${max}`, value);
  }
  return value;
}

/** gnet: <= 0 → 64 KiB, <= 1024 → 1024, otherwise the next power of two. */
export function normalizeBufferCap(cap: number): number {
  if (cap <= 0) return DEFAULT_BUFFER_CAP;
  if (cap <= 1024) return 1024;
  return 2 ** Math.ceil(Math.log2(cap));
}

const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Wraps a logger (console by default) so that messages below `level` are dropped. */
export function leveledLogger(base: Logger | undefined, level: LogLevel): Logger {
  const sink: Logger = base ?? {
    debug: (m, ...r) => console.debug(`[zgnet] ${m}`, ...r),
    info: (m, ...r) => console.info(`[zgnet] ${m}`, ...r),
    warn: (m, ...r) => console.warn(`[zgnet] ${m}`, ...r),
    error: (m, ...r) => console.error(`[zgnet] ${m}`, ...r),
  };
  const min = LEVELS[level];
  const noop = () => {};
  return {
    debug: min <= 0 ? (m, ...r) => sink.debug(m, ...r) : noop,
    info: min <= 1 ? (m, ...r) => sink.info(m, ...r) : noop,
    warn: min <= 2 ? (m, ...r) => sink.warn(m, ...r) : noop,
    error: (m, ...r) => sink.error(m, ...r),
  };
}

function validateLogger(value: unknown): Logger | undefined {
  if (value === undefined) return undefined;
  const l = value as Record<string, unknown>;
  if (typeof value !== 'object' || value === null || !['debug', 'info', 'warn', 'error'].every((k) => typeof l[k] === 'function')) {
    throw invalidOption('logger', 'must have debug, info, warn and error functions', value);
  }
  return value as Logger;
}

/**
 * Validates and normalises options. `networks` are the networks of the addresses being bound
 * (empty for a client), which drive gnet's forcing rules.
 */
export function resolveOptions(input: Options | ClientOptions | undefined, networks: Network[], client = false): ResolvedOptions {
  const o = (input ?? {}) as Options;
  if (typeof o !== 'object' || o === null) throw invalidOption('options', 'must be an object', o);
  for (const key of Object.keys(o)) {
    if (!(SERVER_OPTIONS as readonly string[]).includes(key) || (client && CLIENT_ONLY_EXCLUDED.has(key))) {
      throw invalidOption(key, `is not a${client ? ' client' : 'n'} option`);
    }
  }
  const multicore = bool(o.multicore, 'multicore', false);
  let numEventLoop = int(o.numEventLoop, 'numEventLoop', 0, 0, EVENT_LOOPS_MAX);
  if (numEventLoop === 0) numEventLoop = multicore ? Math.min(os.availableParallelism(), EVENT_LOOPS_MAX) : 1;

  // gnet's client always balances with least-connections.
  const lb = client ? 'least-connections' : (o.lb === undefined ? 'round-robin' : o.lb);
  if (lb !== 'round-robin' && lb !== 'least-connections' && lb !== 'source-addr-hash') {
    throw invalidOption('lb', `must be 'round-robin', 'least-connections' or 'source-addr-hash'`, lb);
  }
  const logLevel = o.logLevel === undefined ? 'info' : o.logLevel;
  if (typeof logLevel !== 'string' || !Object.hasOwn(LEVELS, logLevel)) throw invalidOption('logLevel', `must be 'debug', 'info', 'warn' or 'error'`, logLevel);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidOption('signal', 'must be an AbortSignal', o.signal);
  const bindToDevice = o.bindToDevice === undefined ? '' : o.bindToDevice;
  if (typeof bindToDevice !== 'string') throw invalidOption('bindToDevice', 'must be a string', bindToDevice);

  // gnet's forcing rules: unix turns reuse-port off; off on platforms whose SO_REUSEPORT does
  // not balance when there are several loops. gnet also forces it on for UDP, which lets a
  // second copy of a server bind the same port silently and take half its datagrams: zgnet
  // sets it only when asked, so that bind fails with EADDRINUSE (docs/servers.md: where zgnet differs from gnet).
  let reusePort = bool(o.reusePort, 'reusePort', false);
  if (networks.includes('unix')) reusePort = false;
  if (numEventLoop > 1 && !['linux', 'freebsd'].includes(process.platform)) reusePort = false;

  let edgeTriggeredIO = bool(o.edgeTriggeredIO, 'edgeTriggeredIO', false);
  let edgeTriggeredIOChunk = int(o.edgeTriggeredIOChunk, 'edgeTriggeredIOChunk', 0, 0, 2 ** 30);
  if (edgeTriggeredIOChunk > 0) {
    edgeTriggeredIO = true;
    edgeTriggeredIOChunk = 2 ** Math.ceil(Math.log2(edgeTriggeredIOChunk));
  } else if (edgeTriggeredIO) {
    edgeTriggeredIOChunk = ET_CHUNK_DEFAULT;
  }
  if (networks.includes('udp')) edgeTriggeredIO = false;

  const tcpKeepAliveMs = int(o.tcpKeepAliveMs, 'tcpKeepAliveMs', 0);
  const interval = int(o.tcpKeepIntervalMs, 'tcpKeepIntervalMs', 0);
  const count = int(o.tcpKeepCount, 'tcpKeepCount', 0, 0, 255);

  const outboundHighWaterMark = int(o.outboundHighWaterMark, 'outboundHighWaterMark', OUTBOUND_HIGH_WATER_MARK, 1, 2 ** 31 - 1);
  const unixSocketMode = o.unixSocketMode === undefined ? undefined : int(o.unixSocketMode, 'unixSocketMode', 0, 0, 0o777);
  return {
    numEventLoop,
    lb,
    reuseAddr: bool(o.reuseAddr, 'reuseAddr', false),
    reusePort,
    readBufferCap: normalizeBufferCap(int(o.readBufferCap, 'readBufferCap', 0, 0, 2 ** 30)),
    writeBufferCap: normalizeBufferCap(int(o.writeBufferCap, 'writeBufferCap', 0, 0, 2 ** 30)),
    ticker: bool(o.ticker, 'ticker', false),
    tcpKeepAliveMs,
    tcpKeepIntervalMs: interval > 0 ? interval : Math.floor(tcpKeepAliveMs / 5),
    tcpKeepCount: count > 0 ? count : 5,
    tcpNoDelay: bool(o.tcpNoDelay, 'tcpNoDelay', true),
    socketRecvBuffer: int(o.socketRecvBuffer, 'socketRecvBuffer', 0, 0, 2 ** 31 - 1),
    socketSendBuffer: int(o.socketSendBuffer, 'socketSendBuffer', 0, 0, 2 ** 31 - 1),
    multicastInterfaceIndex: int(o.multicastInterfaceIndex, 'multicastInterfaceIndex', 0, 0, 2 ** 31 - 1),
    bindToDevice,
    edgeTriggeredIO,
    edgeTriggeredIOChunk: edgeTriggeredIO ? edgeTriggeredIOChunk : 0,
    logger: leveledLogger(validateLogger(o.logger), logLevel),
    logLevel,
    mode: parseMode(o.mode),
    signal: o.signal,
    client,
    outboundHighWaterMark,
    outboundLowWaterMark: Math.floor(outboundHighWaterMark / 2),
    inboundHighWaterMark: int(o.inboundHighWaterMark, 'inboundHighWaterMark', INBOUND_HIGH_WATER_MARK, 1, 2 ** 31 - 1),
    idleTimeoutMs: int(o.idleTimeoutMs, 'idleTimeoutMs', 0, 0, 2 ** 31 - 1),
    maxConnections: int(o.maxConnections, 'maxConnections', 0, 0, 2 ** 31 - 1),
    allowHalfOpen: bool(o.allowHalfOpen, 'allowHalfOpen', false),
    unixSocketMode,
    handlerData: cloneable(o.handlerData),
    tls: resolveServerTls(o.tls, networks),
  };
}

/** handlerData crosses to worker processes by structured clone: what cannot is refused now. */
function cloneable(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    structuredClone(value);
  } catch (err) {
    throw invalidOption('handlerData', `must be structured-clonable (${(err as Error).message})`);
  }
  return value;
}
