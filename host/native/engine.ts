/**
 * The native engine: gnet's engine over the Zig event loops of zig-src/engine, driven from
 * the JS thread (design A: ARCHITECTURE.md, 'The batch'). Lifecycle from EngineBase; here: binding
 * (Zig sockets), starting the loops (poll watchers), closing, and the engine's methods.
 */
import type { EventHandler, Network } from '../api.js';
import type { ResolvedAddr } from '../address.js';
import { formatAddr, hostPort, parseProtoAddr } from '../address.js';
import { LbPolicy, statusError, type CoreBinding } from '../core/binding.js';
import { bindingFor } from '../core/select.js';
import { loadKoffi } from '../core/native-binding.js';
import { eofError, ErrorCode, ZgnetError, systemError, withAddress, type SystemError } from '../errors.js';
import { EngineBase, findListener } from '../engine/base.js';
import { StatsBook } from '../engine/stats.js';
import { FLUSH_ON_CLOSE_MS } from '../engine/conn.js';
import { RateLimitedLog } from '../engine/limits.js';
import { boundUnixPath, clearUnixPath, removeBoundUnixPath, type BoundUnixPath } from '../engine/unix-path.js';
import type { ResolvedOptions } from '../options.js';
import { engineApi, L, NETWORK_IDS, SYSCALL_NAMES, systemFailure, type EngineApi } from './binding.js';
import { configureServer, tlsFailureError, tlsReason } from './tls.js';
import { HandshakeFailures } from '../tls/failures.js';
import type { LoopCommands } from './commands.js';
import type { NativeConn } from './conn.js';
import { NativeLoop } from './event-loop.js';

const REAP_INTERVAL_MS = 100;

interface ListenerInfo {
  network: Network;
  addr: string;
  path: string;
  /** The socket file this engine created (unix), removed at stop if still its own. */
  unixPath?: BoundUnixPath;
}

export class NativeEngine extends EngineBase {
  readonly mode = 'native' as const;
  readonly api: EngineApi;
  readonly binding: CoreBinding;
  readonly koffi = loadKoffi();
  handle = 0;
  freed = false;
  loops: NativeLoop[] = [];
  /**
   * Open connections per loop. Shared memory: with loops on threads of their own
   * (host/multicore/thread-engine.ts) every thread counts its loop's here, and any thread can
   * sum them (countConnections, maxConnections).
   */
  counts: Int32Array;
  listenerAddrs: string[] = [];
  private listeners: ListenerInfo[] = [];
  private dirtyLoops = new Set<LoopCommands>();
  private reapTimer: NodeJS.Timeout | undefined;
  private readonly acceptLog: RateLimitedLog;
  private readonly datagramLog: RateLimitedLog;
  /** A TLS server: Zig runs every handshake; failed ones are counted and logged here. */
  readonly servesTls: boolean;
  protected readonly handshakeFailures: HandshakeFailures;
  private readonly failureWords = new Int32Array(2);
  /** Times out handshakes (Zig's reap) while a TLS server runs. */
  private handshakeTimer: NodeJS.Timeout | undefined;

  constructor(handler: EventHandler, options: ResolvedOptions) {
    super(handler, options);
    this.binding = bindingFor('native');
    this.api = engineApi();
    this.acceptLog = new RateLimitedLog(this.logger, 'error');
    this.datagramLog = new RateLimitedLog(this.logger, 'warn');
    this.counts = new Int32Array(new SharedArrayBuffer(4 * options.numEventLoop));
    this.servesTls = options.tls !== undefined;
    this.handshakeFailures = new HandshakeFailures(this.logger);
  }

  /** Accepted TLS handshakes that failed or timed out (never seen by the handler). */
  get tlsHandshakeFailures(): number {
    return this.handshakeFailures.count;
  }

  /** Counts and logs the handshakes of loop `index` that failed since the last call. */
  collectTlsFailures(index: number): void {
    if (this.freed) return;
    const n = this.api.zg_loop_tls_failures(this.handle, index, this.failureWords, 2);
    if (n <= 0) return;
    const addr = this.listenerAddrs.length === 1 ? this.listenerAddrs[0]! : this.listenerAddrs.join(', ');
    this.handshakeFailures.failed(addr, undefined, tlsReason(this.api, this.failureWords[1]!), n);
  }

  /** Shared memory, so that loops on threads of their own (host/multicore/thread-engine.ts) count into it. */
  protected override makeStatsBook(loopCount: number): StatsBook {
    return new StatsBook(loopCount, StatsBook.sharedBuffer(loopCount));
  }

  // ---- errors -------------------------------------------------------------------------------

  statusError(code: number): Error {
    const system = systemFailure(code);
    if (system !== null) return systemError(system.errno, system.syscall);
    return statusError(this.binding, code);
  }

  /** The value of a result, or the error it carries (system failures with errno and syscall). */
  check(result: number): number {
    if (result >= 0) return result;
    throw this.statusError(result);
  }

  /** onClose's error for a connection Zig saw go: EOF (errno 0) or the failed syscall's errno. */
  closeError(errno: number, syscall: number, tlsFailure = 0): Error {
    if (errno === 0) return eofError();
    if (syscall === L.syscall_tls) return tlsFailureError(this.api, tlsFailure);
    return systemError(errno, SYSCALL_NAMES[syscall] ?? 'read');
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  protected async listen(addrs: ResolvedAddr[]): Promise<void> {
    const o = this.options;
    if (o.bindToDevice !== '' && process.platform !== 'linux') {
      throw new ZgnetError(ErrorCode.UNSUPPORTED_OP, 'bindToDevice works on Linux only');
    }
    const values = new Int32Array(this.api.optionNames.length);
    const seconds = (ms: number) => (ms > 0 ? Math.max(1, Math.floor(ms / 1000)) : 0);
    const byName: Record<string, number> = {
      loops_count: o.numEventLoop,
      lb: LbPolicy[o.lb],
      reuse_addr: o.reuseAddr ? 1 : 0,
      reuse_port: o.reusePort ? 1 : 0,
      read_buffer_cap: o.readBufferCap,
      write_buffer_cap: o.writeBufferCap,
      keep_alive_s: seconds(o.tcpKeepAliveMs),
      keep_interval_s: seconds(o.tcpKeepIntervalMs),
      keep_count: o.tcpKeepAliveMs > 0 ? o.tcpKeepCount : 0,
      no_delay: o.tcpNoDelay ? 1 : 0,
      recv_buffer: o.socketRecvBuffer,
      send_buffer: o.socketSendBuffer,
      edge_triggered: o.edgeTriggeredIO ? 1 : 0,
      edge_chunk: Math.min(o.edgeTriggeredIOChunk, 0x7fffffff),
      multicast_interface_index: o.multicastInterfaceIndex,
    };
    this.api.optionNames.forEach((name, i) => {
      const v = byName[name];
      if (v === undefined) throw new Error(`native option ${name} unknown to this host: rebuild`);
      values[i] = v;
    });
    const device = Buffer.from(o.bindToDevice);
    this.handle = this.check(this.api.zg_engine_new(values, values.length, device.length > 0 ? device : null, device.length));
    if (o.tls !== undefined) configureServer(this.api, this.handle, o.tls);
    for (const a of addrs) {
      if (a.network === 'unix') await clearUnixPath(a.path);
      this.bind(a);
    }
    this.addrs = [...this.listenerAddrs];
  }

  private bind(a: ResolvedAddr): void {
    const host = Buffer.from(a.network === 'unix' ? a.path : a.host);
    const v6Only = a.proto === 'tcp6' || a.proto === 'udp6' ? 1 : 0;
    const r = this.api.zg_engine_listen(this.handle, NETWORK_IDS[a.network], host, host.length, a.port, v6Only);
    if (r < 0) {
      const err = this.statusError(r);
      throw 'syscall' in err ? withAddress(err as SystemError, a) : err;
    }
    const text = Buffer.allocUnsafe(256);
    const n = this.check(this.api.zg_engine_listener_addr(this.handle, r, text, text.length));
    const bound = text.toString('latin1', 0, n);
    const addr = a.network === 'unix' ? formatAddr('unix', a.path, 0) : `${a.network}://${bound}`;
    this.listenerAddrs.push(addr);
    const unixPath = a.network === 'unix' ? boundUnixPath(a.path, this.options.unixSocketMode) : undefined;
    this.listeners.push({ network: a.network, addr, path: a.path, unixPath });
  }

  protected startLoops(): void {
    for (let i = 0; i < this.options.numEventLoop; i++) this.loops.push(new NativeLoop(this, i, this.options.readBufferCap));
    this.check(this.api.zg_engine_start(this.handle));
    for (const loop of this.loops) loop.startPolling();
    this.reapHandshakesOnTime();
  }

  /** A TLS server times out the handshakes of its loops (those of this thread). */
  protected reapHandshakesOnTime(): void {
    if (!this.servesTls || this.handshakeTimer !== undefined) return;
    this.handshakeTimer = setInterval(() => this.reapHandshakes(), Math.min(REAP_INTERVAL_MS, this.options.tls!.handshakeTimeoutMs));
    this.handshakeTimer.unref();
  }

  protected async closeConnections(loopIndex?: number): Promise<void> {
    const loops = loopIndex === undefined ? this.loops : this.loops.filter((l) => l.index === loopIndex);
    for (const loop of loops) {
      for (const conn of loop.openConns()) loop.runTask(() => conn.closeWith(null));
      if (loopIndex === undefined) loop.abandonRegistrations();
    }
    this.flushAll();
  }

  protected async closeListeners(): Promise<void> {
    await this.finishLoops();
    this.freeEngine();
  }

  /**
   * The loops' last flush; their draining connections keep writing while their peers take
   * bytes (Zig cuts each one off after FLUSH_ON_CLOSE_MS without progress), then no more polling.
   */
  protected async finishLoops(): Promise<void> {
    if (this.handle === 0 || this.freed) return;
    this.flushAll();
    while (this.loops.length > 0 && this.reapAll() > 0) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const loop of this.loops) loop.stopPolling();
    if (this.handshakeTimer) clearInterval(this.handshakeTimer);
    this.handshakeTimer = undefined;
    if (this.reapTimer) clearInterval(this.reapTimer);
    this.reapTimer = undefined;
  }

  /** Every socket closed and the engine's memory freed; bound unix paths removed. */
  protected freeEngine(): void {
    if (this.handle === 0) return;
    this.api.zg_engine_free(this.handle);
    this.freed = true;
    this.handle = 0;
    for (const l of this.listeners) if (l.unixPath !== undefined) removeBoundUnixPath(l.unixPath);
  }

  isRunning(): boolean {
    return this.state === 'running';
  }

  shutdownFromLoop(index: number): void {
    void this.shutdown('action', index);
  }

  /** Accepting failed (`errno`), or `shed` connections were closed at once for lack of fds: logged, never fatal. */
  acceptTrouble(errno: number, shed: number, loopIndex: number): void {
    this.counters.shed(loopIndex, shed);
    if (shed > 0) this.acceptLog.note(() => `out of file descriptors: ${shed} new connection(s) accepted and closed at once`);
    if (errno !== 0) this.acceptLog.note(() => `accepting failed, retrying: ${systemError(errno, 'accept').message}`);
  }

  /** UDP replies of a batch the socket refused (full buffer, too big, no route): dropped, as UDP may; logged. */
  datagramsRefused(count: number, errno: number): void {
    this.datagramLog.note(() => `${count} UDP repl${count === 1 ? 'y' : 'ies'} dropped: ${systemError(errno, 'sendmmsg').message}`);
  }

  // ---- batches ------------------------------------------------------------------------------

  markDirty(loop: LoopCommands): void {
    this.dirtyLoops.add(loop);
  }

  flushAll(): void {
    if (this.dirtyLoops.size === 0 || this.freed) return;
    for (const loop of this.dirtyLoops) loop.flushCommands();
    this.dirtyLoops.clear();
  }

  private reapAll(): number {
    if (this.freed) return 0;
    let draining = 0;
    let cutOff = 0;
    for (const loop of this.loops) {
      draining += Math.max(0, this.api.zg_loop_reap(this.handle, loop.index));
      cutOff += Math.max(0, this.api.zg_loop_cut_off(this.handle, loop.index));
    }
    if (cutOff > 0) {
      this.logger.warn(`${cutOff} closing connection(s) took nothing for ${FLUSH_ON_CLOSE_MS} ms: their queued bytes were dropped`);
    }
    return draining;
  }

  /** Drops the handshakes past their deadline (Zig's reap), counting them. */
  private reapHandshakes(): void {
    if (this.freed || this.handle === 0) return;
    if (this.reapAll() > 0) this.watchDraining();
    for (const loop of this.loops) this.collectTlsFailures(loop.index);
  }

  watchDraining(): void {
    if (this.reapTimer !== undefined) return;
    this.reapTimer = setInterval(() => {
      if (this.reapAll() === 0) {
        clearInterval(this.reapTimer);
        this.reapTimer = undefined;
      }
    }, REAP_INTERVAL_MS);
  }

  // ---- Engine -------------------------------------------------------------------------------

  countConnections(): number {
    if (this.state === 'stopped') return -1;
    let total = 0;
    for (let i = 0; i < this.counts.length; i++) total += Atomics.load(this.counts, i);
    return total;
  }

  /** A connection of loop `index` opened (+1) or began closing (-1). */
  countConn(index: number, delta: 1 | -1): void {
    Atomics.add(this.counts, index, delta);
  }

  protected *connections(): Iterable<NativeConn> {
    for (const loop of this.loops) yield* loop.openConns();
  }

  private ensureListening(): void {
    if (this.state === 'stopped' || this.freed) throw new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN);
    if (this.handle === 0) throw new ZgnetError(ErrorCode.EMPTY_ENGINE);
  }

  dup(): number {
    this.ensureListening();
    if (this.listeners.length !== 1) throw new ZgnetError(ErrorCode.UNSUPPORTED_OP, 'dup() with several listeners: use dupListener()');
    return this.check(this.api.zg_socket_dup(this.check(this.api.zg_engine_listener_fd(this.handle, 0))));
  }

  dupListener(network: Network, addr: string): number {
    this.ensureListening();
    const index = findListener(this.listeners, network, addr);
    return this.check(this.api.zg_socket_dup(this.check(this.api.zg_engine_listener_fd(this.handle, index))));
  }

  loopListenerFd(loopIndex: number, listener: number): number {
    return this.check(this.api.zg_loop_listener_fd(this.handle, loopIndex, listener));
  }

  unixAddrOf(_conn: NativeConn): string {
    return this.listeners.find((l) => l.network === 'unix')?.addr ?? 'unix://';
  }

  /** `udp://host:port` of a raw sockaddr (sockaddr_in / sockaddr_in6 as the OS lays them out). */
  formatSockaddr(raw: Uint8Array): string {
    const view = Buffer.from(raw.buffer, raw.byteOffset, raw.length);
    const port = view.readUInt16BE(2);
    if (raw.length >= 28) {
      const parts: string[] = [];
      for (let i = 0; i < 8; i++) parts.push(view.readUInt16BE(8 + i * 2).toString(16));
      const host = parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
      return `udp://${hostPort(host, port)}`;
    }
    return `udp://${raw[4]}.${raw[5]}.${raw[6]}.${raw[7]}:${port}`;
  }

  /** UDP sendTo: `udp://host:port` (or `host:port`) with an IP literal. */
  sendTo(fd: number, data: Uint8Array | string, addr: string): number {
    let host: string;
    let port: number;
    try {
      const parsed = parseProtoAddr(addr.includes('://') ? addr : `udp://${addr}`);
      if (parsed.network !== 'udp') throw new Error('not udp');
      host = parsed.host;
      port = parsed.port;
    } catch {
      throw new ZgnetError(ErrorCode.INVALID_NETWORK_ADDRESS, JSON.stringify(addr));
    }
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const hostBytes = Buffer.from(host);
    return this.check(this.api.zg_udp_sendto(fd, bytes, bytes.length, hostBytes, hostBytes.length, port));
  }
}
