/**
 * Connections of the fallback engine: a Node socket behind gnet's Conn. The stream and the
 * lifecycle are host/engine's (conn.ts, inbound.ts); unread bytes live in a core elastic ring
 * in wasm memory. `NodeConn` is what every Node-backed connection adds (reading in gnet's
 * read-sized pieces, zero-copy echo of received bytes); `StreamConn` is a `net.Socket`, and
 * connected-udp.ts a connected `dgram.Socket`.
 *
 * Closing: onClose runs, then the socket ends — `end()` flushes what is queued (then the
 * socket is destroyed, as gnet closes the fd), `destroy()` when the peer is already gone; a
 * peer that takes nothing of what is queued for FLUSH_ON_CLOSE_MS is cut off
 * (flush-bound.ts). The peer's FIN is Node's 'end' (every socket is allowHalfOpen at Node's
 * level: the engine decides, host/engine/conn.ts `peerEnd`).
 */
import type * as net from 'node:net';
import type { CoreBinding } from '../core/binding.js';
import { CLOSED, EngineConn, OPEN, type ConnOwner } from '../engine/conn.js';
import { CoreRing } from '../engine/inbound.js';
import type { TaskQueue } from '../engine/task-queue.js';
import { connClosed, eofError } from '../errors.js';
import { unsupported } from './errors.js';
import { cutOffWithoutProgress } from './flush-bound.js';
import type { FallbackEventLoop } from './event-loop.js';

export interface NodeConnOwner extends ConnOwner {
  readonly binding: CoreBinding;
  /** gnet reads at most this much per read: longer 'data' chunks are presented in pieces. */
  readonly readBufferCap: number;
}

const EMPTY = Buffer.alloc(0);

function destroyAfterFinish(this: net.Socket): void {
  this.destroy();
}

export abstract class NodeConn extends EngineConn {
  /**
   * The chunk Node just read, while its callbacks run: it and views of it are written without a
   * copy. Let go after them, so that an idle connection does not hold its last read (up to
   * readBufferCap); a view written later is copied.
   */
  private lastRead: Buffer = EMPTY;

  constructor(
    protected override readonly owner: NodeConnOwner,
    protected readonly loop: FallbackEventLoop,
    readonly localAddr: string,
    readonly remoteAddr: string,
  ) {
    super(owner);
  }

  get eventLoop(): FallbackEventLoop {
    return this.loop;
  }

  protected get tasks(): TaskQueue {
    return this.loop.tasks;
  }

  protected newRing(): CoreRing {
    return new CoreRing(this.owner.binding);
  }

  /** Joins the loop and runs onOpen (the subclass has wired its socket's events). */
  protected begin(): void {
    this.loop.add(this);
    this.opened();
  }

  protected leaving(): void {
    this.loop.remove(this);
  }

  protected onData(data: Buffer): void {
    if (this.state !== OPEN) return;
    this.lastRead = data;
    const cap = this.owner.readBufferCap;
    try {
      if (data.length <= cap) this.delivered(data, 0, data.length);
      else for (let at = 0; at < data.length && this.state === OPEN; at += cap) this.delivered(data, at, Math.min(at + cap, data.length));
    } catch (err) {
      // The wasm ring refused the leftovers (out of memory): this connection cannot go on.
      this.logger.error('keeping the unread bytes failed', err);
      this.closeWith(err as Error);
    } finally {
      this.lastRead = EMPTY;
    }
  }

  /** What next()/peek() returned: the chunk just read, a view of it, or the last ring copy. */
  protected isReceived(data: Uint8Array): boolean {
    const last = this.lastRead;
    return data === last || data === this.handedOut || data.buffer === last.buffer;
  }

  /** A copy of what Node must keep a reference to, unless it is received bytes nothing rewrites. */
  protected owned(data: Uint8Array): Uint8Array {
    return this.isReceived(data) ? data : Buffer.from(data);
  }

  get fd(): number {
    throw unsupported('Conn.fd');
  }

  dup(): number {
    throw unsupported('Conn.dup');
  }
}

/** The connection a socket's shared listeners act for. */
const CONN = Symbol('zgnet.conn');
type WiredSocket = net.Socket & { [CONN]: StreamConn };

export class StreamConn extends NodeConn {
  constructor(
    owner: NodeConnOwner,
    loop: FallbackEventLoop,
    private readonly socket: net.Socket,
    readonly network: 'tcp' | 'unix',
    localAddr: string,
    remoteAddr: string,
  ) {
    super(owner, loop, localAddr, remoteAddr);
  }

  /**
   * Wires the socket, joins the loop, runs onOpen, then reads. The listeners are the class's
   * own functions, shared by every connection, which find theirs through the socket: an idle
   * connection holds no closures.
   */
  open(): void {
    const s = this.socket as WiredSocket;
    s[CONN] = this;
    s.on('data', StreamConn.onSocketData);
    s.on('end', StreamConn.onSocketEnd);
    s.on('error', StreamConn.onSocketError);
    // Only reached without 'end' or 'error' when the socket was destroyed under us.
    s.on('close', StreamConn.onSocketClose);
    this.begin();
    // A socket passed from another process or adopted (register, enroll) may be paused: it
    // flows now, unless onOpen paused reading (then resumeRead starts it).
    if (this.state === OPEN && !this.readPaused) s.resume();
  }

  private static onSocketData(this: WiredSocket, data: Buffer): void {
    this[CONN].onData(data);
  }

  private static onSocketEnd(this: WiredSocket): void {
    this[CONN].peerEnd();
  }

  private static onSocketError(this: WiredSocket, err: Error): void {
    const conn = this[CONN];
    conn.closeWith(conn.socketError(err), true);
  }

  private static onSocketClose(this: WiredSocket): void {
    this[CONN].closeWith(eofError(), true);
  }

  /** What onClose reports for an error of the socket (TLS connections name TLS failures). */
  protected socketError(err: Error): Error {
    return err;
  }

  protected closeSocket(peerGone: boolean): void {
    const s = this.socket;
    this.writtenAtClose = this.bytesWritten;
    if (peerGone || s.destroyed) {
      s.destroy();
      return;
    }
    s.once('finish', destroyAfterFinish);
    s.end();
    // A peer that stops reading must not keep the socket (and run()) forever.
    cutOffWithoutProgress(s, this.logger, this.remoteAddr);
  }

  /** FIN once Node has written what is queued; 'end' from the peer still arrives. */
  protected endSocket(): void {
    const s = this.socket;
    s.end();
    cutOffWithoutProgress(s, this.logger, this.remoteAddr);
  }

  /** bytesWritten when onClose had run (what left later is not counted, as in native mode). */
  private writtenAtClose = -1;

  /** What Node dispatched to the kernel minus what it still holds (node:net counts both). */
  get bytesWritten(): number {
    if (this.state === CLOSED && this.writtenAtClose >= 0) return this.writtenAtClose;
    const s = this.socket;
    return Math.max(0, s.bytesWritten - s.writableLength);
  }

  // ---- writing ------------------------------------------------------------------------------

  /**
   * Writes or queues all of `data` (Node keeps the order). Like gnet, what is queued is a copy:
   * the caller may reuse its buffer at once — except what next()/peek() returned, which
   * nothing rewrites: echoing received data costs no copy.
   */
  protected send(data: Uint8Array | string): number {
    this.socket.write(typeof data === 'string' ? data : this.owned(data));
    return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  }

  /** One vectored write (codec.write's path, once per frame): nothing allocated but the copies. */
  protected override sendv(chunks: Uint8Array[]): number {
    return this.corked(chunks, true);
  }

  /** Writes the chunks corked, so Node hands them to the kernel together; `copy`: through `owned`. */
  private corked(chunks: Uint8Array[], copy: boolean): number {
    const s = this.socket;
    let total = 0;
    s.cork();
    try {
      for (const chunk of chunks) {
        s.write(copy ? this.owned(chunk) : chunk);
        total += chunk.length;
      }
    } finally {
      s.uncork();
    }
    return total;
  }

  /** gnet's AsyncWrite on the loop; settles once Node handed its bytes to the kernel. */
  protected sendLater(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === 'string' ? data : this.owned(data);
    return this.afterQueued(() => this.socket.write(bytes));
  }

  protected override sendvLater(chunks: Uint8Array[]): Promise<void> {
    const owned = chunks.map((chunk) => this.owned(chunk));
    return this.afterQueued(() => this.corked(owned, false));
  }

  /** Runs `write` on the loop, then waits for the kernel to have taken it (an empty write's callback). */
  private afterQueued(write: () => void): Promise<void> {
    return this.later(write).then(
      // A socket destroyed first (closed, reset) reports an error here: its bytes never left.
      () => new Promise<void>((resolve, reject) => this.socket.write(EMPTY, (err) => (err ? reject(connClosed()) : resolve()))),
    );
  }

  /** Nothing waits for a flush here: Node writes queued bytes as soon as the socket can take them. */
  flush(): void {}

  outboundBuffered(): number {
    return this.socket.writableLength;
  }

  /** A destroyed socket takes nothing more: not writable, even before its 'close' arrives. */
  protected queuedOutbound(): number {
    return this.socket.destroyed ? Infinity : this.socket.writableLength;
  }

  /**
   * An empty write's callback runs once everything queued before it went to the kernel: the
   * queue is then empty, below any low mark (Node's 'drain' would need its own 16 KiB mark).
   */
  protected watchWritable(): void {
    this.socket.write(EMPTY, () => this.drainedBelowLowMark());
  }

  protected applyReadPaused(paused: boolean): void {
    if (paused) this.socket.pause();
    else this.socket.resume();
  }

  // ---- socket options -----------------------------------------------------------------------

  protected override applyNoDelay(on: boolean): void {
    this.socket.setNoDelay(on);
  }

  /** Node 20 sets SO_KEEPALIVE and TCP_KEEPIDLE only: `intervalMs` and `count` are checked, not applied. */
  protected override applyKeepAlive(on: boolean, idleMs: number): void {
    if (on) this.socket.setKeepAlive(true, idleMs);
    else this.socket.setKeepAlive(false);
  }

  protected applyBufferSize(which: 'recv' | 'send'): void {
    throw unsupported(`Conn.set${which === 'recv' ? 'Read' : 'Write'}Buffer (SO_${which === 'recv' ? 'RCV' : 'SND'}BUF on a stream socket)`);
  }
}
