/**
 * The public types of the event-driven API, common to both engines: the
 * native engine (Zig over epoll/kqueue, through koffi) and the fallback engine (node:net and
 * node:dgram, with the Zig core in wasm).
 */
import type { DgramSocket, NetSocket, NodeAbortSignal, NodeBuffer, X509Certificate } from './node-types.js';
import type { Mode } from './core/binding.js';
import type { ModeOption } from './core/select.js';

/** What a callback asks the engine to do next. Any other value, and `undefined`, is `None`. */
export const Action = Object.freeze({
  /** Carry on. */
  None: 0,
  /** Close this connection (what it has queued is flushed first). */
  Close: 1,
  /** Shut the whole engine down. */
  Shutdown: 2,
} as const);
/** One of the `Action` values. */
export type Action = (typeof Action)[keyof typeof Action];

/** What `onTick` returns: when to tick next, and optionally an action for the engine. */
export interface TickResult {
  /** Milliseconds until the next tick; 0 runs it on the next turn of the event loop. */
  delayMs: number;
  /** `Action.Shutdown` stops the engine; other actions are ignored here. */
  action?: Action;
}

/**
 * The callbacks of a server or client (gnet's EventHandler); every one is optional. `Ctx` is
 * the type of `c.context` on its connections (default `unknown`): `EventHandler<Session>`
 * gives `onOpen(c)` a `Conn<Session>`. A callback that throws closes only its connection.
 */
export interface EventHandler<Ctx = unknown> {
  /** The engine is ready (listeners bound, `engine.addrs` known); `Action.Shutdown` stops it. */
  onBoot?(engine: Engine): Action | void;
  /** The engine is shutting down, after every connection's `onClose`. */
  onShutdown?(engine: Engine): void;
  /** A connection opened (not for server UDP). Writes made here go out before its action applies. */
  onOpen?(c: Conn<Ctx>): Action | void;
  /** A connection closed: `err` is null for a local close, else why (`EOF` for a peer FIN). */
  onClose?(c: Conn<Ctx>, err: Error | null): Action | void;
  /** Data arrived (server UDP: once per datagram). Bytes left unread stay buffered for the next call. */
  onTraffic?(c: Conn<Ctx>): Action | void;
  /**
   * The peer sent FIN (half-closed its side), after the last `onTraffic`: nothing more will
   * arrive; unread bytes are still buffered. Without `allowHalfOpen` the connection then closes
   * (what is queued is flushed first; onClose gets `EOF`); with it, it stays writable until
   * `c.end()` or `c.close()`.
   */
  onEnd?(c: Conn<Ctx>): Action | void;
  /** The ticker (option `ticker: true`): returns when to tick next; nothing means 1000 ms. */
  onTick?(): TickResult | void;
  /**
   * After `c.writable` was false (read as false, or a write crossed `outboundHighWaterMark`),
   * the outbound queue drained to half the mark: writing may go on (netty's writability event).
   */
  onWritable?(c: Conn<Ctx>): void;
}

/** An `EventHandler` whose every method does nothing; extend it and override what you need. */
export class BuiltinEventEngine<Ctx = unknown> implements Required<EventHandler<Ctx>> {
  /** Does nothing; returns `Action.None`. */
  onBoot(_engine: Engine): Action | void {
    return Action.None;
  }
  /** Does nothing. */
  onShutdown(_engine: Engine): void {}
  /** Does nothing; returns `Action.None`. */
  onOpen(_c: Conn<Ctx>): Action | void {
    return Action.None;
  }
  /** Does nothing; returns `Action.None`. */
  onClose(_c: Conn<Ctx>, _err: Error | null): Action | void {
    return Action.None;
  }
  /** Does nothing (what arrived stays buffered); returns `Action.None`. */
  onTraffic(_c: Conn<Ctx>): Action | void {
    return Action.None;
  }
  /** Does nothing; returns `Action.None` (the connection then closes unless `allowHalfOpen`). */
  onEnd(_c: Conn<Ctx>): Action | void {
    return Action.None;
  }
  /** Returns nothing: the next tick comes in 1000 ms. */
  onTick(): TickResult | void {
    return undefined;
  }
  /** Does nothing. */
  onWritable(_c: Conn<Ctx>): void {}
}

/** How new connections are spread over event loops (gnet's LoadBalancing). */
export type LoadBalancing = 'round-robin' | 'least-connections' | 'source-addr-hash';
/** The least severe message a logger passes on. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Where zgnet's log messages go; `console` fits. */
export interface Logger {
  /** Detail for debugging (e.g. why `'auto'` mode picked wasm where no native package exists). */
  debug(message: string, ...rest: unknown[]): void;
  /** Normal events. */
  info(message: string, ...rest: unknown[]): void;
  /** Something degraded (e.g. native library unavailable: wasm mode runs instead). */
  warn(message: string, ...rest: unknown[]): void;
  /** A failure (e.g. a handler threw; its connection is closed). */
  error(message: string, ...rest: unknown[]): void;
}

/**
 * Server options (gnet's Options). All are optional; a wrong type, value or name rejects with
 * `ERR_INVALID_OPTION` naming it. Sizes are in bytes, durations in milliseconds.
 */
export interface Options {
  /** Default `false`. `true` with `numEventLoop` 0 runs one event loop per CPU (`os.availableParallelism()`). */
  multicore?: boolean;
  /** Default 0: 1 loop, or one per CPU with `multicore`. At most 256. With a handler object every loop runs on the calling thread; with a handler module they run on worker threads (native mode) or worker processes (wasm mode). */
  numEventLoop?: number;
  /** Default `'round-robin'`. How accepted connections are assigned to loops. */
  lb?: LoadBalancing;
  /** Default `false`. SO_REUSEADDR on listeners. */
  reuseAddr?: boolean;
  /**
   * Default `false`. SO_REUSEPORT: one listener per loop, balanced by the kernel (native mode).
   * Off for Unix sockets, and off with several loops outside Linux and FreeBSD; ignored in wasm mode.
   */
  reusePort?: boolean;
  /**
   * Default 0, meaning 64 KiB: the most bytes read from a connection per readable event. Values
   * up to 1024 become 1024, larger ones the next power of two. At most 1 GiB.
   */
  readBufferCap?: number;
  /**
   * Default 0, meaning 64 KiB: the static part of a connection's outbound buffer; what exceeds it
   * is queued in a linked list. Rounded as `readBufferCap`.
   */
  writeBufferCap?: number;
  /** Default `false`. Runs `onTick`. */
  ticker?: boolean;
  /** Default 0 (off). TCP keep-alive idle time, ms. */
  tcpKeepAliveMs?: number;
  /** Default 0, meaning `tcpKeepAliveMs / 5`: ms between keep-alive probes (native mode). */
  tcpKeepIntervalMs?: number;
  /** Default 0, meaning 5: unanswered probes before the connection drops (native mode). At most 255. */
  tcpKeepCount?: number;
  /** Default `true`. TCP_NODELAY (Nagle's algorithm off). */
  tcpNoDelay?: boolean;
  /** Default 0 (the OS default). SO_RCVBUF, bytes. */
  socketRecvBuffer?: number;
  /** Default 0 (the OS default). SO_SNDBUF, bytes. */
  socketSendBuffer?: number;
  /** Default 0 (the OS chooses). The interface index a UDP listener on a multicast address joins on. */
  multicastInterfaceIndex?: number;
  /** Default `''` (none). SO_BINDTODEVICE: a network interface name (Linux, native mode). */
  bindToDevice?: string;
  /** Default `false`. Edge-triggered epoll, reading up to `edgeTriggeredIOChunk` per event (native mode; not UDP). */
  edgeTriggeredIO?: boolean;
  /** Default 0, meaning 1 MiB when `edgeTriggeredIO`. Bytes per edge-triggered read; > 0 turns `edgeTriggeredIO` on. Rounded up to a power of two. */
  edgeTriggeredIOChunk?: number;
  /** Default: `console`, each message prefixed with `[zgnet]`. */
  logger?: Logger;
  /** Default `'info'`. Messages below this level are dropped. */
  logLevel?: LogLevel;
  /** Default `'auto'`: native when its library loads, else wasm (`ZGNET_MODE` overrides `'auto'`). */
  mode?: ModeOption;
  /** Default none. Aborting it shuts the engine down, as `engine.stop()`. */
  signal?: NodeAbortSignal;
  /** Default 1 MiB. Bytes queued for a connection at which `c.writable` turns false; `onWritable` comes at half of it. */
  outboundHighWaterMark?: number;
  /** Default 16 MiB (a codec's default maxFrameLength). Unread bytes at which the engine stops reading a connection until a callback leaves fewer. */
  inboundHighWaterMark?: number;
  /** Default 0 (never). Milliseconds without inbound bytes after which a connection closes with `ERR_IDLE_TIMEOUT`. */
  idleTimeoutMs?: number;
  /**
   * Default `false` (as node:net). After the peer's FIN (`onEnd`): `false` flushes what is
   * queued, then closes; `true` keeps the connection writable until `c.end()` or `c.close()`.
   */
  allowHalfOpen?: boolean;
  /** Default 0 (no limit). Accepted connections beyond this many are closed at once, before `onOpen`. */
  maxConnections?: number;
  /** Default: what the umask gives. File mode of a bound unix socket, e.g. `0o660`. */
  unixSocketMode?: number;
  /**
   * With a handler module: structured-clonable data given to every process's instance (a class
   * default export is constructed as `new Handler(handlerData)`; `handlerData()` returns it too).
   */
  handlerData?: unknown;
  /** Default none (plain TCP). Serves TLS on every address (tcp and unix; see docs/tls.md). */
  tls?: TlsServerOptions;
}

/** Client options: the server's without the listener-only ones (TLS is per dial: `dial(addr, { tls })`). */
export type ClientOptions = Omit<
  Options, 'lb' | 'reusePort' | 'reuseAddr' | 'multicastInterfaceIndex' | 'bindToDevice' | 'maxConnections' | 'unixSocketMode' | 'handlerData' | 'tls'
>;

/** PEM text: a string, a Buffer, or several of them (a chain, several CAs). */
export type PemInput = string | Uint8Array | Array<string | Uint8Array>;

/** The TLS versions `minVersion` accepts (TLS 1.0 and 1.1 are not offered). */
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** `options.tls` of run()/rotate(); names and meanings as node:tls's `createServer`. */
export interface TlsServerOptions {
  /** The certificate chain, PEM. */
  cert: PemInput;
  /** Its private key, PEM (encrypted keys take `passphrase`). */
  key: PemInput;
  /** CAs that sign client certificates (with `requestCert`); default: none. */
  ca?: PemInput;
  /** Decrypts an encrypted `key`. */
  passphrase?: string;
  /** Protocols offered by ALPN, most preferred first (e.g. `['h2', 'http/1.1']`); default: no ALPN. */
  ALPNProtocols?: string[];
  /** Certificates by server name (SNI); `*.example.org` matches one label. Unknown names get `cert`. */
  sni?: Record<string, SniCertificate>;
  /** Default `false`. Ask clients for a certificate. */
  requestCert?: boolean;
  /** Default `true`. With `requestCert`: refuse clients without a certificate signed by `ca`. */
  rejectUnauthorized?: boolean;
  /** Default `'TLSv1.2'`. */
  minVersion?: TlsVersion;
  /** Default 10000. Milliseconds a handshake may take; a slower one is dropped (logged, never seen by the handler). */
  handshakeTimeoutMs?: number;
}

/** One `sni` entry of `TlsServerOptions`. */
export interface SniCertificate {
  /** The certificate chain served for this name, PEM. */
  cert: PemInput;
  /** Its private key, PEM. */
  key: PemInput;
  /** Decrypts an encrypted `key`. */
  passphrase?: string;
}

/** `tls` of `client.dial()`; names and meanings as node:tls's `connect`. `true`: the defaults. */
export interface TlsDialOptions {
  /** SNI and the name the certificate must carry; default: the dialled host when it is a name. */
  servername?: string;
  /** CAs to trust instead of Node's bundled ones, PEM. */
  ca?: PemInput;
  /** Default `true`. Refuse a server whose certificate does not verify (the dial rejects `ERR_TLS_HANDSHAKE`). */
  rejectUnauthorized?: boolean;
  /** Protocols to offer by ALPN, most preferred first. */
  ALPNProtocols?: string[];
  /** A client certificate and its key (PEM), for servers that ask for one. */
  cert?: PemInput;
  /** The client certificate's private key, PEM. */
  key?: PemInput;
  /** Decrypts an encrypted `key`. */
  passphrase?: string;
  /** Default `'TLSv1.2'`. */
  minVersion?: TlsVersion;
}

/** `c.tls` of a TLS connection, once its handshake finished. */
export interface TlsInfo {
  /** `'TLSv1.3'`, `'TLSv1.2'`. */
  readonly protocol: string;
  /** The IANA name, e.g. `'TLS_AES_256_GCM_SHA384'`. */
  readonly cipher: string;
  /** The protocol ALPN chose, or null. */
  readonly alpnProtocol: string | null;
  /** The server name the client sent (SNI), or null. */
  readonly servername: string | null;
  /** The peer's certificate verified against the trusted CAs (a server without `requestCert`: false). */
  readonly authorized: boolean;
  /** The peer's certificate, or null when it sent none. */
  readonly peerCertificate: X509Certificate | null;
}

/** The network of an address (`tcp://`, `udp://`, `unix://`). */
export type Network = 'tcp' | 'udp' | 'unix';

/** One listener's bound address (`engine.addresses()`). */
export interface ListenerAddress {
  /** `'tcp'`, `'udp'` or `'unix'`. */
  network: Network;
  /** The bound IP address (`'127.0.0.1'`, `'::'` for the wildcard); a unix socket: its path. */
  address: string;
  /** The bound port, never 0 once bound; absent for a unix socket. */
  port?: number;
  /** The socket's path; only for a unix socket. */
  path?: string;
}

/** One event loop's part of `engine.stats()`. */
export interface LoopStats {
  /** Connections open on this loop now. */
  connections: number;
  /** Bytes delivered to handlers on this loop (reads and datagrams), since the engine started. */
  bytesRead: number;
  /** Bytes this loop's connections and datagrams handed to the kernel, since the engine started. */
  bytesWritten: number;
}

/**
 * `engine.stats()`: counters a user can export (a metrics endpoint, a log line). Every count
 * starts at 0 when the engine starts and never resets while it runs; after shutdown the
 * engine keeps its last values. Bytes are counted as each connection's `c.bytesRead` and
 * `c.bytesWritten` (what reached a handler; what the kernel accepted, not what is still
 * queued); a closed connection counts what had left before its close. Server UDP datagrams
 * count their bytes, not as connections.
 */
export interface EngineStats {
  /** Connections open now (accepted, dialled, registered or enrolled). */
  connections: number;
  /** Connections the listeners accepted and kept (onOpen ran), in total. */
  accepted: number;
  /** Connections that closed (onClose ran), in total. */
  closed: number;
  /**
   * Connections accepted and closed at once, before onOpen: over `maxConnections`, or (native
   * mode) out of file descriptors. Not counted in `accepted`.
   */
  shed: number;
  /** Bytes delivered to handlers, in total (every loop). */
  bytesRead: number;
  /** Bytes handed to the kernel, in total (every loop). */
  bytesWritten: number;
  /** Per event loop, by `index`. */
  loops: LoopStats[];
}

/** A running engine, as `onBoot` and `onShutdown` see it (gnet's Engine). */
export interface Engine {
  /** Which artifact runs the core: `'native'` or `'wasm'`. */
  readonly mode: Mode;
  /** Bound addresses, e.g. `tcp://127.0.0.1:40123`. */
  readonly addrs: string[];
  /** Every listener's address in parts, bound ports resolved (`tcp://127.0.0.1:0` gives the port the kernel chose); a client engine: `[]`. */
  addresses(): ListenerAddress[];
  /** Open connections (a client engine: -1). */
  countConnections(): number;
  /**
   * The counters now (any time, also after shutdown); see `EngineStats`. With a handler module
   * on several loops: loops on threads (native mode) count into memory this thread reads at
   * once, except the bytes written by a connection still open there, which count once it
   * closes; loops in worker processes (wasm mode) report their counters every 100 ms while
   * they have connections, and once more when they stop.
   */
  stats(): EngineStats;
  /** A dup of the listener's fd (one listener only; else use `dupListener`); the caller closes it (native mode). */
  dup(): number;
  /** A dup of the listener on `network`/`addr` (native mode). */
  dupListener(network: Network, addr: string): number;
  /** Flushes and closes every connection, then resolves once the engine is down. */
  stop(): Promise<void>;
}

/** One event loop (`c.eventLoop`). */
export interface EventLoop {
  /** The loop's index, 0 to `numEventLoop - 1`. */
  readonly index: number;
  /** Runs `fn` on this loop; resolves after it ran. */
  execute(fn: () => void): Promise<void>;
  /** Dials `protoAddr` on this loop; resolves after `onOpen` ran with `context` set. */
  register(protoAddr: string, context?: unknown): Promise<Conn>;
  /** Adopts a connected socket on this loop; resolves after `onOpen` ran with `context` set. */
  enroll(socket: NetSocket | DgramSocket, context?: unknown): Promise<Conn>;
}

/**
 * A connection (gnet's Conn). Inbound methods read what is buffered; outbound methods queue
 * and write. Buffers returned by `next`/`peek` are views valid until the callback returns.
 * `Ctx` is the type of `context` (see `EventHandler<Ctx>`).
 */
export interface Conn<Ctx = unknown> {
  /** Copies up to `target.length` buffered bytes into `target` and consumes them; returns how many. */
  read(target: Uint8Array): number;
  /** Consumes and returns `n` bytes, or `null` when fewer are buffered; `n <= 0` or omitted: everything. */
  next(n?: number): NodeBuffer | null;
  /** As `next`, without consuming. */
  peek(n?: number): NodeBuffer | null;
  /** Drops `n` buffered bytes (`n <= 0` or omitted: all); returns how many. */
  discard(n?: number): number;
  /** Bytes received and not yet consumed. */
  inboundBuffered(): number;
  /** Bytes queued and not yet written to the socket. */
  outboundBuffered(): number;
  /**
   * Writes (or queues) `data`, copying what it must keep; returns its length in bytes. On a
   * closed connection (after its onClose) or after `end()`: throws `ERR_CONN_CLOSED`.
   */
  write(data: Uint8Array | string): number;
  /** Writes several chunks as one (`writev`); returns the total length. */
  writev(chunks: Uint8Array[]): number;
  /** UDP: sends one datagram to `addr` (`udp://host:port`); returns its length. */
  sendTo(data: Uint8Array | string, addr: string): number;
  /** Writes what is queued now (native mode; a no-op in wasm mode). */
  flush(): void;
  /** Writes from outside a callback (another loop, a timer); resolves once queued. */
  asyncWrite(data: Uint8Array | string): Promise<void>;
  /** `writev` from outside a callback. */
  asyncWritev(chunks: Uint8Array[]): Promise<void>;
  /** Runs `onTraffic` again, even without new data; resolves after it ran. */
  wake(): Promise<void>;
  /** Flushes and closes; resolves after `onClose` ran. */
  close(): Promise<void>;
  /**
   * Half-closes (node:net's `end()`): writes `data` if given, then sends FIN once everything
   * queued has left; reading goes on until the peer ends too, then the connection closes. Later
   * writes throw `ERR_CONN_CLOSED`. After the peer's FIN it closes (flushing first). Idempotent.
   */
  end(data?: Uint8Array | string): void;
  /** Bytes received on this connection so far (node:net's `bytesRead`). */
  readonly bytesRead: number;
  /**
   * Bytes of this connection handed to the kernel so far (node:net's `bytesWritten`, without
   * what is still queued); after close, what left before the close.
   */
  readonly bytesWritten: number;
  /** Yours: set it in `onOpen` (or pass `context` to dial/register/enroll). Starts `undefined`. */
  context: Ctx;
  /** This end's address, e.g. `tcp://127.0.0.1:9000`. */
  readonly localAddr: string;
  /** The peer's address. */
  readonly remoteAddr: string;
  /** The peer's IP address (`'127.0.0.1'`, `'::1'`), as node:net; a unix socket: the peer's path, `undefined` when it has none. */
  readonly remoteAddress: string | undefined;
  /** The peer's port, as node:net; `undefined` for a unix socket. */
  readonly remotePort: number | undefined;
  /** `'IPv4'` or `'IPv6'`, as node:net; `undefined` for a unix socket. */
  readonly remoteFamily: 'IPv4' | 'IPv6' | undefined;
  /** This end's IP address, as node:net; a unix socket: its path, `undefined` when it has none. */
  readonly localAddress: string | undefined;
  /** This end's port, as node:net; `undefined` for a unix socket. */
  readonly localPort: number | undefined;
  /** The socket's file descriptor (native mode; wasm mode: `ERR_UNSUPPORTED_OP`). */
  readonly fd: number;
  /** A dup of the socket's fd; the caller closes it (native mode). */
  dup(): number;
  /** TCP_NODELAY on or off. */
  setNoDelay(on: boolean): void;
  /** TCP keep-alive on with `ms` idle time (at least 1000; whole seconds), interval idle/5, 5 probes. */
  setKeepAlivePeriod(ms: number): void;
  /** Keep-alive with idle time, probe interval (ms) and probe count (interval and count: native mode). */
  setKeepAlive(on: boolean, idleMs: number, intervalMs: number, count: number): void;
  /** SO_LINGER in seconds; negative turns it off (native mode). */
  setLinger(sec: number): void;
  /** SO_RCVBUF, bytes. */
  setReadBuffer(bytes: number): void;
  /** SO_SNDBUF, bytes. */
  setWriteBuffer(bytes: number): void;
  /** The event loop serving this connection. */
  readonly eventLoop: EventLoop;
  /** `outboundBuffered() < outboundHighWaterMark` (any time): false asks the handler to stop writing until `onWritable`. */
  readonly writable: boolean;
  /** Stops reading this connection (TCP pushes back on the peer) until `resumeRead()`. */
  pauseRead(): void;
  /** Reads again after `pauseRead()` (while under `inboundHighWaterMark`). */
  resumeRead(): void;
  /** This connection's idle timeout in ms (0: none), overriding `idleTimeoutMs`. */
  setIdleTimeout(ms: number): void;
  /** What the TLS handshake agreed on; null on a plain connection. */
  readonly tls: TlsInfo | null;
}
