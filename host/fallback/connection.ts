/**
 * Connections of the fallback engine. `LoopConn` is what every connection that opens and
 * closes shares (TCP, Unix, and a dialled or enrolled connected UDP socket, connected-udp.ts);
 * `StreamConn` is a `net.Socket` behind gnet's Conn.
 *
 * Lifecycle (gnet reference §3.1, §3.5): open → onOpen (writes made there go out before its
 * action applies) → onTraffic per 'data' chunk → close, which runs onClose once and then ends
 * the socket: `end()` flushes what is queued (then the socket is destroyed, as gnet closes
 * the fd), `destroy()` only when the peer is already gone.
 *
 * onClose's error: null for a local close (close(), Action.Close, engine shutdown); the EOF
 * error (`code: 'EOF'`) when the peer sent FIN; Node's error (`ECONNRESET`, `EPIPE`, ...) when
 * the socket failed; the thrown error when a handler threw.
 */
import type net from 'node:net';
import { Action, type Conn, type EventHandler, type Logger } from '../api.js';
import type { CoreBinding } from '../core/binding.js';
import { handlerError, invoke, toAction } from '../engine/invoke.js';
import { eofError } from '../errors.js';
import { connClosed, invalidKeepAlive, notForProtocol, quiet, unsupported } from './errors.js';
import type { FallbackEventLoop, LoopMember } from './event-loop.js';
import { Inbound } from './inbound.js';

/** What a connection needs of its engine. */
export interface ConnOwner {
  readonly handler: EventHandler;
  readonly logger: Logger;
  readonly binding: CoreBinding;
  /** gnet reads at most this much per read: longer 'data' chunks are presented in pieces. */
  readonly readBufferCap: number;
  /** A callback of a connection on loop `index` returned Action.Shutdown. */
  shutdownFromLoop(index: number): void;
}

export const OPEN = 0;
/** onClose is running: writes still go out (they are flushed with the rest). */
const CLOSING = 1;
export const CLOSED = 2;

const RESOLVED = Promise.resolve();
const EMPTY = Buffer.alloc(0);

function destroyAfterFinish(this: net.Socket): void {
  this.destroy();
}

/** The lifecycle, the inbound path and the task queue of a connection that opens and closes. */
export abstract class LoopConn extends Inbound implements Conn, LoopMember {
  context: unknown = undefined;
  protected state = OPEN;
  /** The last chunk Node read: it and views of it are written without a copy. */
  private lastRead: Buffer = EMPTY;
  private closed: Promise<void> | undefined;
  private settleClose: (() => void) | undefined;

  constructor(
    protected readonly owner: ConnOwner,
    protected readonly loop: FallbackEventLoop,
    readonly localAddr: string,
    readonly remoteAddr: string,
  ) {
    super(owner.binding);
  }

  get eventLoop(): FallbackEventLoop {
    return this.loop;
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Joins the loop and runs onOpen (the subclass has wired its socket's events). */
  protected begin(): void {
    this.loop.add(this);
    const h = this.owner.handler;
    const outcome = invoke(this.owner.logger, 'onOpen', () => h.onOpen?.(this));
    if (outcome.error !== null) this.closeWith(outcome.error, false);
    else this.apply(outcome.action);
  }

  protected onData(data: Buffer): void {
    if (this.state !== OPEN) return;
    this.lastRead = data;
    const cap = this.owner.readBufferCap;
    try {
      if (data.length <= cap) this.deliver(data);
      else for (let at = 0; at < data.length && this.state === OPEN; at += cap) this.deliver(data.subarray(at, at + cap));
    } catch (err) {
      // The wasm ring refused the leftovers (out of memory): this connection cannot go on.
      this.owner.logger.error('keeping the unread bytes failed', err);
      this.closeWith(err as Error, false);
    }
  }

  /** One gnet read: onTraffic sees the new bytes after the leftovers; its own leftovers stay. */
  private deliver(data: Buffer): void {
    this.receive(data);
    this.traffic();
    if (this.state === OPEN) this.spill();
  }

  /** The hot path: invoke()'s work inlined, with no closure or result object per message. */
  private traffic(): void {
    const h = this.owner.handler;
    if (h.onTraffic === undefined) return;
    let result: unknown;
    try {
      result = h.onTraffic(this);
    } catch (thrown) {
      this.closeWith(handlerError(this.owner.logger, 'onTraffic', thrown), false);
      return;
    }
    if (result !== undefined && result !== Action.None) this.apply(toAction(result, this.owner.logger, 'onTraffic'));
  }

  private apply(action: Action): void {
    if (action === Action.Close) this.closeWith(null, false);
    else if (action === Action.Shutdown) this.owner.shutdownFromLoop(this.loop.index);
  }

  /** gnet's close: leave the loop, onClose, release, then flush and close the socket. */
  protected closeWith(err: Error | null, peerGone: boolean): void {
    if (this.state !== OPEN) return;
    this.state = CLOSING;
    this.loop.remove(this);
    const h = this.owner.handler;
    const outcome = invoke(this.owner.logger, 'onClose', () => h.onClose?.(this, err));
    this.state = CLOSED;
    this.context = undefined;
    this.releaseInbound();
    this.finishSocket(peerGone);
    this.settleClose?.();
    if (outcome.error === null && outcome.action === Action.Shutdown) this.owner.shutdownFromLoop(this.loop.index);
  }

  /** After onClose: flush what is queued (unless the peer is gone) and close the socket. */
  protected abstract finishSocket(peerGone: boolean): void;

  closeByEngine(): void {
    this.closeWith(null, false);
  }

  /** What next()/peek() returned: the chunk just read, a view of it, or the last ring copy. */
  protected isReceived(data: Uint8Array): boolean {
    const last = this.lastRead;
    return data === last || data === this.handedOut || data.buffer === last.buffer;
  }

  // ---- the loop's task queue ----------------------------------------------------------------

  /** Queues `task` on the loop; rejects ERR_CONN_CLOSED if the connection is (or gets) closed. */
  protected later(task: (resolve: () => void) => void): Promise<void> {
    if (this.state !== OPEN) return quiet(Promise.reject(connClosed()));
    return quiet(
      new Promise<void>((resolve, reject) => {
        this.loop.enqueue(() => {
          if (this.state !== OPEN) reject(connClosed());
          else task(resolve);
        });
      }),
    );
  }

  /** Runs onTraffic again with what is buffered; silently nothing once closed (as gnet). */
  wake(): Promise<void> {
    if (this.state !== OPEN) return RESOLVED;
    return new Promise<void>((resolve) => {
      this.loop.enqueue(() => {
        if (this.state === OPEN) this.traffic();
        resolve();
      });
    });
  }

  /** Closes on the loop; resolves after onClose ran. Idempotent. */
  close(): Promise<void> {
    if (this.state === CLOSED) return RESOLVED;
    if (this.closed === undefined) {
      this.closed = new Promise<void>((resolve) => (this.settleClose = resolve));
      this.loop.enqueue(() => this.closeWith(null, false));
    }
    return this.closed;
  }

  // ---- what each transport does -------------------------------------------------------------

  abstract write(data: Uint8Array | string): number;
  abstract writev(chunks: Uint8Array[]): number;
  abstract sendTo(data: Uint8Array | string, addr: string): number;
  abstract flush(): void;
  abstract outboundBuffered(): number;
  abstract asyncWrite(data: Uint8Array | string): Promise<void>;
  abstract asyncWritev(chunks: Uint8Array[]): Promise<void>;
  abstract setNoDelay(on: boolean): void;
  abstract setKeepAlivePeriod(ms: number): void;
  abstract setKeepAlive(on: boolean, idleMs: number, intervalMs: number, count: number): void;
  abstract setReadBuffer(bytes: number): void;
  abstract setWriteBuffer(bytes: number): void;

  get fd(): number {
    throw unsupported('Conn.fd');
  }

  dup(): number {
    throw unsupported('Conn.dup');
  }

  setLinger(_sec: number): void {
    throw unsupported('Conn.setLinger (SO_LINGER)');
  }
}

export class StreamConn extends LoopConn {
  constructor(
    owner: ConnOwner,
    loop: FallbackEventLoop,
    private readonly socket: net.Socket,
    private readonly network: 'tcp' | 'unix',
    localAddr: string,
    remoteAddr: string,
  ) {
    super(owner, loop, localAddr, remoteAddr);
  }

  /** Wires the socket, joins the loop, runs onOpen, then reads. */
  open(): void {
    const s = this.socket;
    s.on('data', (data: Buffer) => this.onData(data));
    s.on('end', () => this.closeWith(eofError(), false));
    s.on('error', (err: Error) => this.closeWith(err, true));
    // Only reached without 'end' or 'error' when the socket was destroyed under us.
    s.on('close', () => this.closeWith(eofError(), true));
    this.begin();
  }

  protected finishSocket(peerGone: boolean): void {
    const s = this.socket;
    if (peerGone || s.destroyed) {
      s.destroy();
      return;
    }
    s.once('finish', destroyAfterFinish);
    s.end();
  }

  // ---- writing ------------------------------------------------------------------------------

  /**
   * Writes or queues all of `data` (Node keeps the order); 0 once the connection is closed.
   * Like gnet, what is queued is a copy: the caller may reuse its buffer at once. Node keeps a
   * reference to whatever the kernel did not take at once, so a buffer is copied first —
   * except what next()/peek() returned (a view of the bytes Node just read, or the engine's
   * copy from the ring), which nothing rewrites: echoing received data costs no copy.
   */
  write(data: Uint8Array | string): number {
    if (this.state === CLOSED) return 0;
    if (typeof data === 'string') {
      this.socket.write(data);
      return Buffer.byteLength(data);
    }
    this.socket.write(this.isReceived(data) ? data : Buffer.from(data));
    return data.length;
  }

  /** One vectored write: corked, so Node hands the chunks to the kernel together. */
  writev(chunks: Uint8Array[]): number {
    if (this.state === CLOSED) return 0;
    const s = this.socket;
    let total = 0;
    s.cork();
    try {
      for (const chunk of chunks) {
        s.write(this.isReceived(chunk) ? chunk : Buffer.from(chunk));
        total += chunk.length;
      }
    } finally {
      s.uncork();
    }
    return total;
  }

  /** Nothing waits for a flush here: Node writes queued bytes as soon as the socket can take them. */
  flush(): void {}

  outboundBuffered(): number {
    return this.socket.writableLength;
  }

  sendTo(_data: Uint8Array | string, _addr: string): number {
    throw notForProtocol('sendTo', this.network);
  }

  asyncWrite(data: Uint8Array | string): Promise<void> {
    return this.later((resolve) => {
      this.write(data);
      resolve();
    });
  }

  asyncWritev(chunks: Uint8Array[]): Promise<void> {
    return this.later((resolve) => {
      this.writev(chunks);
      resolve();
    });
  }

  // ---- socket options -----------------------------------------------------------------------

  setNoDelay(on: boolean): void {
    if (this.network !== 'tcp') throw notForProtocol('setNoDelay', this.network);
    this.socket.setNoDelay(on);
  }

  setKeepAlivePeriod(ms: number): void {
    if (this.network !== 'tcp') throw notForProtocol('setKeepAlivePeriod', this.network);
    if (!(ms >= 1000)) throw invalidKeepAlive(`keep-alive period ${ms} ms is under 1 s`);
    this.socket.setKeepAlive(true, ms);
  }

  /** Node 20 sets SO_KEEPALIVE and TCP_KEEPIDLE only: `intervalMs` and `count` are validated, not applied. */
  setKeepAlive(on: boolean, idleMs: number, intervalMs: number, count: number): void {
    if (this.network !== 'tcp') throw notForProtocol('setKeepAlive', this.network);
    if (!on) {
      this.socket.setKeepAlive(false);
      return;
    }
    if (!(idleMs >= 1000)) throw invalidKeepAlive(`keep-alive idle ${idleMs} ms is under 1 s`);
    if (!(intervalMs >= 1000)) throw invalidKeepAlive(`keep-alive interval ${intervalMs} ms is under 1 s`);
    if (!(count >= 1)) throw invalidKeepAlive(`keep-alive count ${count} is under 1`);
    this.socket.setKeepAlive(true, idleMs);
  }

  setReadBuffer(_bytes: number): void {
    throw unsupported('Conn.setReadBuffer (SO_RCVBUF on a stream socket)');
  }

  setWriteBuffer(_bytes: number): void {
    throw unsupported('Conn.setWriteBuffer (SO_SNDBUF on a stream socket)');
  }
}
