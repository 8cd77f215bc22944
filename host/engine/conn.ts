/**
 * A connection that opens and closes (TCP, Unix, dialled or enrolled connected UDP), written
 * once for both engines: the lifecycle, the onTraffic call, and the tasks a conn queues on its
 * loop. Each engine adds its transport (how bytes go out, what closing the socket means).
 *
 * Lifecycle (gnet's): OPEN → onOpen (writes made there go out before its
 * action applies) → onTraffic per read → CLOSING while onClose runs (writes still go out, with
 * what was queued before) → CLOSED: context cleared, unread bytes dropped, then the engine
 * flushes what is queued (bounded by FLUSH_ON_CLOSE_MS) and closes the socket.
 *
 * onClose's error: null for a local close (close(), Action.Close, engine shutdown); the EOF
 * error (`code: 'EOF'`) when the peer sent FIN; the system error (`ECONNRESET`, ...) when the
 * socket failed; what the handler threw when a handler threw.
 */
import { Action, type Conn, type EventHandler, type EventLoop, type Logger, type TlsInfo } from '../api.js';
import type { CoreBinding } from '../core/binding.js';
import {
  bytesError, checkBytes, checkChunks, connClosed, eofError, ErrorCode, invalidArgument, notForProtocol, quiet, quietReject, unsupportedOp,
  writeAfterEnd, ZgnetError,
} from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { IdleMember, IdleSweeper } from './limits.js';
import { AddressedStream } from './addressed.js';
import { EMPTY } from './inbound.js';
import { handlerError, invoke, toAction } from './invoke.js';
import type { TaskQueue } from './task-queue.js';
import type { StatsBook } from './stats.js';

export const OPEN = 0;
/** onClose is running: writes still go out, before the close. */
export const CLOSING = 1;
export const CLOSED = 2;
export type ConnState = typeof OPEN | typeof CLOSING | typeof CLOSED;

/**
 * The one bound on flushing at close: a connection closed with bytes still queued keeps
 * writing them as long as the peer takes some of them at least once in this long; a peer
 * that takes nothing for this long is cut off, what is left dropped, and the loss logged.
 * So a slow reader still gets everything, and a peer that never reads cannot hold the
 * socket (or `run()`) forever. Both engines, close(), end() and shutdown alike; the native
 * engine checks Zig's `drain_timeout` against it at load.
 */
export const FLUSH_ON_CLOSE_MS = 5000;

const RESOLVED = Promise.resolve();

/** Why reading is paused: the handler asked, and/or the inbound high-water mark was reached. */
const PAUSED_BY_HANDLER = 1;
const PAUSED_BY_MARK = 2;

/** What a connection needs of its engine and loop. */
export interface ConnOwner {
  readonly handler: EventHandler;
  readonly logger: Logger;
  readonly binding: CoreBinding;
  readonly options: ResolvedOptions;
  readonly idle: IdleSweeper;
  /** engine.stats()'s counters. */
  readonly counters: StatsBook;
  /** A callback of a connection on loop `index` returned Action.Shutdown. */
  shutdownFromLoop(index: number): void;
}

export abstract class EngineConn extends AddressedStream implements Conn, IdleMember {
  context: unknown = undefined;
  state: ConnState = OPEN;
  /** Which connection of its native slot this is (Zig's generation); 0 elsewhere. */
  generation = 0;
  abstract readonly network: 'tcp' | 'udp' | 'unix';
  abstract readonly eventLoop: EventLoop & { readonly index: number };
  /** The loop's task queue. */
  protected abstract get tasks(): TaskQueue;
  private closed: Promise<void> | undefined;
  private settleClose: (() => void) | undefined;
  /** PAUSED_BY_* bits; reading stops while any is set. */
  private readPausedBy = 0;
  /** `writable` was false: onWritable is owed once the queue drains below the low mark. */
  private writableOwed = false;
  /** The peer sent FIN (onEnd ran or is running): nothing more will arrive. */
  private peerEnded = false;
  /** `end()` was called: no more writes; FIN follows what is queued. */
  private ended = false;
  /** Bytes received on this connection (node:net's `bytesRead`). */
  bytesRead = 0;
  idleTimeoutMs: number;
  lastActive: number;

  protected get handler(): EventHandler {
    return this.owner.handler;
  }

  protected get logger(): Logger {
    return this.owner.logger;
  }

  /** A plain connection; TLS ones override it (host/fallback/tls-conn.ts). */
  get tls(): TlsInfo | null {
    return null;
  }

  constructor(protected readonly owner: ConnOwner) {
    super(owner.binding);
    this.idleTimeoutMs = owner.options.idleTimeoutMs;
    this.lastActive = owner.idle.now;
  }

  // ---- callbacks ------------------------------------------------------------------------------

  /** Runs onOpen and applies its action. */
  protected opened(): void {
    const h = this.handler;
    if (h.onOpen === undefined) return;
    const outcome = invoke(this.logger, 'onOpen', () => h.onOpen!(this));
    if (outcome.error !== null) this.closeWith(outcome.error);
    else this.apply(outcome.action);
  }

  /**
   * onTraffic, the hot path: no closure or result object per call. The copy its next()/peek()
   * made last is let go once it returns: an idle connection holds no copy of what it read.
   */
  traffic(): void {
    const h = this.handler;
    if (h.onTraffic === undefined) return;
    let result: unknown;
    try {
      result = h.onTraffic(this);
    } catch (thrown) {
      this.handedOut = EMPTY;
      this.closeWith(handlerError(this.logger, 'onTraffic', thrown));
      return;
    }
    this.handedOut = EMPTY;
    if (result !== undefined && result !== Action.None) this.apply(toAction(result, this.logger, 'onTraffic'));
  }

  /** One read: onTraffic sees the new bytes behind the leftovers; its own leftovers stay. */
  protected delivered(bytes: Buffer, start: number, end: number): void {
    this.lastActive = this.owner.idle.now;
    this.bytesRead += end - start;
    this.owner.counters.read(this.eventLoop.index, end - start);
    this.receive(bytes, start, end);
    this.traffic();
    if (this.state !== OPEN) return;
    this.spill();
    if (this.ringBytes >= this.owner.options.inboundHighWaterMark || this.readPausedBy !== 0) this.checkInboundMark();
  }

  /** Bytes the engine put behind the ring itself: onTraffic, then the inbound mark. */
  protected deliveredIntoRing(length: number): void {
    this.lastActive = this.owner.idle.now;
    this.bytesRead += length;
    this.owner.counters.read(this.eventLoop.index, length);
    this.receivedIntoRing(length);
    this.traffic();
    if (this.state === OPEN) this.checkInboundMark();
  }

  /**
   * The peer sent FIN, after its last bytes were delivered: onEnd, then (node:net's rule)
   * without `allowHalfOpen` the connection closes once what is queued is flushed; with it, it
   * stays writable until `end()` or `close()`. Once both sides have ended it closes; onClose
   * gets the EOF error when the peer's FIN was the last step, null when our `end()` was.
   */
  peerEnd(): void {
    if (this.state !== OPEN || this.peerEnded) return;
    this.peerEnded = true;
    const h = this.handler;
    if (h.onEnd !== undefined) {
      const outcome = invoke(this.logger, 'onEnd', () => h.onEnd!(this));
      if (outcome.error !== null) return this.closeWith(outcome.error);
      if (this.state !== OPEN) return;
      if (outcome.action !== Action.None) return this.apply(outcome.action);
    }
    if (this.state !== OPEN) return;
    if (!this.owner.options.allowHalfOpen || this.ended) this.closeWith(eofError());
  }

  /**
   * Writes `data` (if given), then sends FIN once everything queued has left (node:net's
   * `end()`); reading goes on until the peer ends too. No writes after it
   * (`ERR_CONN_CLOSED`). After the peer's FIN it is a close. Idempotent; nothing once closed.
   */
  end(data?: Uint8Array | string): void {
    if (data !== undefined) checkBytes(data, 'end');
    if (this.state === CLOSED || this.ended) return;
    if (data !== undefined) this.write(data);
    this.ended = true;
    // onClose is running: the close that follows flushes, then closes.
    if (this.state === CLOSING) return;
    if (this.peerEnded || this.network === 'udp') {
      void this.close();
      return;
    }
    this.endSocket();
  }

  /** The peer has sent FIN (onEnd ran). */
  get readableEnded(): boolean {
    return this.peerEnded;
  }

  /** `end()` was called: FIN follows what is queued. */
  get writableEnded(): boolean {
    return this.ended;
  }

  /** FIN after what is queued (a shutdown of the write side); the socket stays readable. */
  protected abstract endSocket(): void;

  /** Bytes of this connection handed to the kernel (node:net's `bytesWritten`). */
  abstract readonly bytesWritten: number;

  // ---- flow control ----------------------------------------------------------------------------

  /**
   * Reading stops while the handler leaves `inboundHighWaterMark` bytes unread (TCP then
   * pushes back on the peer) and starts again once a callback leaves fewer.
   */
  private checkInboundMark(): void {
    const over = this.inboundBuffered() >= this.owner.options.inboundHighWaterMark;
    this.setPaused(PAUSED_BY_MARK, over);
  }

  private setPaused(reason: number, on: boolean): void {
    const before = this.readPausedBy;
    this.readPausedBy = on ? before | reason : before & ~reason;
    if ((before === 0) !== (this.readPausedBy === 0)) this.applyReadPaused(this.readPausedBy !== 0);
  }

  pauseRead(): void {
    if (this.state === CLOSED) return;
    this.setPaused(PAUSED_BY_HANDLER, true);
  }

  resumeRead(): void {
    if (this.state === CLOSED) return;
    this.setPaused(PAUSED_BY_HANDLER, false);
    if (this.state === OPEN) this.checkInboundMark();
  }

  /** Starts or stops reading the socket. */
  protected abstract applyReadPaused(paused: boolean): void;

  /** Reading is stopped (pauseRead, or the inbound mark). */
  protected get readPaused(): boolean {
    return this.readPausedBy !== 0;
  }

  get writable(): boolean {
    if (this.state === CLOSED) return false;
    if (this.queuedOutbound() < this.owner.options.outboundHighWaterMark) return true;
    this.owe();
    return false;
  }

  /** After a write: past the high-water mark, onWritable becomes owed. */
  protected afterWrite(): void {
    if (!this.writableOwed && this.queuedOutbound() >= this.owner.options.outboundHighWaterMark) this.owe();
  }

  private owe(): void {
    if (this.writableOwed) return;
    this.writableOwed = true;
    this.watchWritable();
  }

  /** Bytes queued for the socket (an upper bound: what the engine knows without asking). */
  protected abstract queuedOutbound(): number;
  /** Calls `drainedBelowLowMark()` once the queue is at or below the low mark. */
  protected abstract watchWritable(): void;

  /** The engine saw the queue drain to the low mark: onWritable, if it is owed. */
  drainedBelowLowMark(): void {
    if (!this.writableOwed || this.state !== OPEN) return;
    this.writableOwed = false;
    const h = this.handler;
    if (h.onWritable === undefined) return;
    const outcome = invoke(this.logger, 'onWritable', () => h.onWritable!(this));
    if (outcome.error !== null) this.closeWith(outcome.error);
  }

  // ---- idle timeout ----------------------------------------------------------------------------

  setIdleTimeout(ms: number): void {
    checkNumber(ms, 'setIdleTimeout');
    this.idleTimeoutMs = Math.max(0, Math.floor(ms));
    this.owner.idle.want(this.idleTimeoutMs); // first: it refreshes the clock read below
    this.lastActive = this.owner.idle.now;
  }

  expire(): void {
    void this.later(() => this.closeWith(new ZgnetError(ErrorCode.IDLE_TIMEOUT, `${this.idleTimeoutMs} ms`)));
  }

  private apply(action: Action): void {
    if (action === Action.Close) this.closeWith(null);
    else if (action === Action.Shutdown) this.owner.shutdownFromLoop(this.eventLoop.index);
  }

  /**
   * gnet's close: onClose (its writes still go out), then the engine flushes and closes the
   * socket (`peerGone`: nothing can be flushed, the socket is destroyed).
   */
  closeWith(err: Error | null, peerGone = false): void {
    if (this.state !== OPEN) return;
    this.state = CLOSING;
    this.spill();
    this.leaving();
    const h = this.handler;
    const outcome = h.onClose === undefined ? null : invoke(this.logger, 'onClose', () => h.onClose!(this, err));
    this.state = CLOSED;
    this.context = undefined;
    this.releaseInbound();
    this.closeSocket(peerGone);
    // After closeSocket: bytesWritten is now what left before the close, as the conn reports it.
    this.owner.counters.closed(this.eventLoop.index, this.bytesWritten);
    this.settleClose?.();
    this.settleClose = undefined;
    if (outcome !== null && outcome.error === null && outcome.action === Action.Shutdown) {
      this.owner.shutdownFromLoop(this.eventLoop.index);
    }
  }

  /** Before onClose: the connection leaves its loop's books (counts, balancer). */
  protected abstract leaving(): void;
  /** After onClose: flush what is queued (unless the peer is gone), then close the socket. */
  protected abstract closeSocket(peerGone: boolean): void;

  // ---- tasks on the loop ----------------------------------------------------------------------

  /**
   * Queues `task` for this connection; settles when it ran (with what it threw), or rejects
   * ERR_CONN_CLOSED when the connection closed first. Ignoring the promise is safe.
   */
  protected later(task: () => void): Promise<void> {
    const generation = this.generation;
    return quiet(
      new Promise<void>((resolve, reject) => {
        this.tasks.enqueue(() => {
          if (this.state !== OPEN || this.generation !== generation) return reject(connClosed());
          try {
            task();
            resolve();
          } catch (err) {
            reject(err);
          }
        });
      }),
    );
  }

  /** Runs onTraffic again with what is buffered; silently nothing once closed (as gnet). */
  wake(): Promise<void> {
    if (this.state !== OPEN) return RESOLVED;
    return new Promise<void>((resolve) => {
      const generation = this.generation;
      this.tasks.enqueue(() => {
        if (this.state === OPEN && this.generation === generation) {
          this.traffic();
          if (this.state === OPEN && this.readPausedBy !== 0) this.checkInboundMark();
        }
        resolve();
      });
    });
  }

  /** Closes on the loop; resolves after onClose ran. Idempotent. */
  close(): Promise<void> {
    if (this.state === CLOSED) return RESOLVED;
    if (this.closed === undefined) {
      this.closed = new Promise<void>((resolve) => (this.settleClose = resolve));
      void this.later(() => this.closeWith(null));
    }
    return this.closed;
  }

  // ---- writing: argument checks here, the transport in each engine ----------------------------

  write(data: Uint8Array | string): number {
    checkBytes(data, 'write');
    this.checkWritable('write');
    const n = this.send(data);
    if (!this.writableOwed) this.afterWrite();
    return n;
  }

  writev(chunks: Uint8Array[]): number {
    checkChunks(chunks, 'writev');
    if (this.network === 'udp') throw notForProtocol('writev', 'udp');
    this.checkWritable('writev');
    const n = this.sendv(chunks);
    if (!this.writableOwed) this.afterWrite();
    return n;
  }

  asyncWrite(data: Uint8Array | string): Promise<void> {
    const invalid = bytesError(data, 'asyncWrite');
    if (invalid !== null) return quietReject(invalid);
    if (this.state !== OPEN) return quietReject(connClosed());
    if (this.ended) return quietReject(writeAfterEnd('asyncWrite'));
    return quiet(this.sendLater(data));
  }

  asyncWritev(chunks: Uint8Array[]): Promise<void> {
    try {
      checkChunks(chunks, 'asyncWritev');
    } catch (err) {
      return quietReject(err as Error);
    }
    if (this.network === 'udp') return quietReject(notForProtocol('asyncWritev', 'udp'));
    if (this.state !== OPEN) return quietReject(connClosed());
    if (this.ended) return quietReject(writeAfterEnd('asyncWritev'));
    return quiet(this.sendvLater(chunks));
  }

  /**
   * Writes never vanish: on a closed connection (after onClose) or after `end()` they throw
   * `ERR_CONN_CLOSED` instead of being dropped. onClose itself may still write.
   */
  private checkWritable(method: string): void {
    if (this.state === CLOSED) throw connClosed(method);
    if (this.ended) throw writeAfterEnd(method);
  }

  sendTo(_data: Uint8Array | string, _addr: string): number {
    throw notForProtocol('sendTo', this.network === 'udp' ? 'connected udp' : this.network);
  }

  /** Writes or queues all of `data` (the connection is open or closing). */
  protected abstract send(data: Uint8Array | string): number;
  /** asyncWrite's transport: settles once the bytes are written or queued. */
  protected abstract sendLater(data: Uint8Array | string): Promise<void>;
  /** Streams only (writev on udp is refused above). */
  protected sendv(_chunks: Uint8Array[]): number {
    throw notForProtocol('writev', this.network);
  }
  protected sendvLater(_chunks: Uint8Array[]): Promise<void> {
    return Promise.reject(notForProtocol('asyncWritev', this.network));
  }

  // ---- socket options: the checks gnet makes, then each engine's setter ------------------------

  setNoDelay(on: boolean): void {
    if (this.network !== 'tcp') throw notForProtocol('setNoDelay', this.network);
    this.applyNoDelay(Boolean(on));
  }

  /** gnet: idle = period, interval = max(period / 5, 1 s), count 5. */
  setKeepAlivePeriod(ms: number): void {
    if (this.network !== 'tcp') throw notForProtocol('setKeepAlivePeriod', this.network);
    checkDuration('keep-alive period', ms);
    const idleMs = Math.floor(ms / 1000) * 1000;
    this.applyKeepAlive(true, idleMs, Math.max(Math.floor(idleMs / 5000), 1) * 1000, 5);
  }

  setKeepAlive(on: boolean, idleMs: number, intervalMs: number, count: number): void {
    if (this.network !== 'tcp') throw notForProtocol('setKeepAlive', this.network);
    if (!on) return this.applyKeepAlive(false, 0, 0, 0);
    checkDuration('keep-alive idle', idleMs);
    checkDuration('keep-alive interval', intervalMs);
    if (typeof count !== 'number' || !(count >= 1)) throw invalidArgument('keep-alive count', 'must be at least 1', count);
    this.applyKeepAlive(true, idleMs, intervalMs, Math.floor(count));
  }

  setLinger(sec: number): void {
    checkNumber(sec, 'setLinger');
    this.applyLinger(Math.trunc(sec));
  }

  setReadBuffer(bytes: number): void {
    checkNumber(bytes, 'setReadBuffer');
    this.applyBufferSize('recv', clampSize(bytes));
  }

  setWriteBuffer(bytes: number): void {
    checkNumber(bytes, 'setWriteBuffer');
    this.applyBufferSize('send', clampSize(bytes));
  }

  /** TCP only (checked above). */
  protected applyNoDelay(_on: boolean): void {
    throw notForProtocol('setNoDelay', this.network);
  }
  /** TCP only (checked above); durations in whole milliseconds, ≥ 1000 when on. */
  protected applyKeepAlive(_on: boolean, _idleMs: number, _intervalMs: number, _count: number): void {
    throw notForProtocol('setKeepAlive', this.network);
  }
  protected applyLinger(_sec: number): void {
    throw unsupportedOp('Conn.setLinger (SO_LINGER)');
  }
  protected abstract applyBufferSize(which: 'recv' | 'send', bytes: number): void;

  abstract flush(): void;
  abstract outboundBuffered(): number;
  abstract readonly fd: number;
  abstract dup(): number;
}

/** gnet's keep-alive setters work in whole seconds: under one second is `invalid time duration`. */
function checkDuration(what: string, ms: number): void {
  if (typeof ms !== 'number' || !(ms >= 1000)) throw invalidArgument(what, 'is an invalid time duration (at least 1000 ms)', ms);
}

function checkNumber(value: unknown, method: string): void {
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalidArgument(`${method}(n)`, 'must be a number', value);
}

/** SO_RCVBUF/SO_SNDBUF take a C int. */
function clampSize(bytes: number): number {
  return Math.min(Math.max(Math.trunc(bytes), 0), 0x7fffffff);
}
