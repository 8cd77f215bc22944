/**
 * The public types of the event-driven API (shared/API.md), common to both engines: the
 * native engine (Zig over epoll/kqueue, through koffi) and the fallback engine (node:net and
 * node:dgram, with the Zig core in wasm).
 */
import type dgram from 'node:dgram';
import type net from 'node:net';
import type { Mode } from './core/binding.js';
import type { ModeOption } from './core/select.js';

/** What a callback asks the engine to do next. Any other value, and `undefined`, is `None`. */
export const Action = Object.freeze({ None: 0, Close: 1, Shutdown: 2 } as const);
export type Action = (typeof Action)[keyof typeof Action];

export interface TickResult {
  /** Milliseconds until the next tick; 0 runs it on the next turn of the event loop. */
  delayMs: number;
  action?: Action;
}

export interface EventHandler {
  onBoot?(engine: Engine): Action | void;
  onShutdown?(engine: Engine): void;
  onOpen?(c: Conn): Action | void;
  onClose?(c: Conn, err: Error | null): Action | void;
  onTraffic?(c: Conn): Action | void;
  onTick?(): TickResult | void;
  /** `c.writable` went false, and the outbound queue has since drained below the low mark. */
  onWritable?(c: Conn): void;
}

/** An `EventHandler` whose every method does nothing; extend it and override what you need. */
export class BuiltinEventEngine implements Required<EventHandler> {
  onBoot(_engine: Engine): Action | void {
    return Action.None;
  }
  onShutdown(_engine: Engine): void {}
  onOpen(_c: Conn): Action | void {
    return Action.None;
  }
  onClose(_c: Conn, _err: Error | null): Action | void {
    return Action.None;
  }
  onTraffic(_c: Conn): Action | void {
    return Action.None;
  }
  onTick(): TickResult | void {
    return undefined;
  }
  onWritable(_c: Conn): void {}
}

export type LoadBalancing = 'round-robin' | 'least-connections' | 'source-addr-hash';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, ...rest: unknown[]): void;
  info(message: string, ...rest: unknown[]): void;
  warn(message: string, ...rest: unknown[]): void;
  error(message: string, ...rest: unknown[]): void;
}

export interface Options {
  multicore?: boolean;
  numEventLoop?: number;
  lb?: LoadBalancing;
  reuseAddr?: boolean;
  reusePort?: boolean;
  readBufferCap?: number;
  writeBufferCap?: number;
  ticker?: boolean;
  tcpKeepAliveMs?: number;
  tcpKeepIntervalMs?: number;
  tcpKeepCount?: number;
  tcpNoDelay?: boolean;
  socketRecvBuffer?: number;
  socketSendBuffer?: number;
  multicastInterfaceIndex?: number;
  bindToDevice?: string;
  edgeTriggeredIO?: boolean;
  edgeTriggeredIOChunk?: number;
  logger?: Logger;
  logLevel?: LogLevel;
  mode?: ModeOption;
  signal?: AbortSignal;
  /** Bytes queued for a connection above which `c.writable` is false (default 1 MiB). */
  outboundHighWaterMark?: number;
  /** Unread bytes above which the engine stops reading a connection (default 16 MiB). */
  inboundHighWaterMark?: number;
  /** Closes a connection with no inbound bytes for this long, ms (default 0: never). */
  idleTimeoutMs?: number;
  /** Accepted connections beyond this many are closed at once (default 0: no limit). */
  maxConnections?: number;
  /** File mode of a bound unix socket, e.g. 0o660 (default: what the umask gives). */
  unixSocketMode?: number;
  /**
   * With a handler module: structured-clonable data given to every process's instance (a class
   * default export is constructed as `new Handler(handlerData)`; `handlerData()` returns it too).
   */
  handlerData?: unknown;
}

export type ClientOptions = Omit<
  Options, 'lb' | 'reusePort' | 'reuseAddr' | 'multicastInterfaceIndex' | 'bindToDevice' | 'maxConnections' | 'unixSocketMode' | 'handlerData'
>;

export type Network = 'tcp' | 'udp' | 'unix';

export interface Engine {
  readonly mode: Mode;
  /** Bound addresses, e.g. `tcp://127.0.0.1:40123`. */
  readonly addrs: string[];
  countConnections(): number;
  dup(): number;
  dupListener(network: Network, addr: string): number;
  stop(): Promise<void>;
}

export interface EventLoop {
  readonly index: number;
  execute(fn: () => void): Promise<void>;
  register(protoAddr: string, context?: unknown): Promise<Conn>;
  enroll(socket: net.Socket | dgram.Socket, context?: unknown): Promise<Conn>;
}

export interface Conn {
  read(target: Uint8Array): number;
  next(n?: number): Buffer | null;
  peek(n?: number): Buffer | null;
  discard(n?: number): number;
  inboundBuffered(): number;
  outboundBuffered(): number;
  write(data: Uint8Array | string): number;
  writev(chunks: Uint8Array[]): number;
  sendTo(data: Uint8Array | string, addr: string): number;
  flush(): void;
  asyncWrite(data: Uint8Array | string): Promise<void>;
  asyncWritev(chunks: Uint8Array[]): Promise<void>;
  wake(): Promise<void>;
  close(): Promise<void>;
  context: unknown;
  readonly localAddr: string;
  readonly remoteAddr: string;
  readonly fd: number;
  dup(): number;
  setNoDelay(on: boolean): void;
  setKeepAlivePeriod(ms: number): void;
  setKeepAlive(on: boolean, idleMs: number, intervalMs: number, count: number): void;
  setLinger(sec: number): void;
  setReadBuffer(bytes: number): void;
  setWriteBuffer(bytes: number): void;
  readonly eventLoop: EventLoop;
  /** `outboundBuffered() < outboundHighWaterMark`: false asks the handler to stop writing until onWritable. */
  readonly writable: boolean;
  /** Stops reading this connection (the peer is pushed back by TCP) until `resumeRead()`. */
  pauseRead(): void;
  resumeRead(): void;
  /** This connection's idle timeout, ms (0: none), overriding `idleTimeoutMs`. */
  setIdleTimeout(ms: number): void;
}
