/**
 * Connections of the native engine. A NativeConn is a (slot, generation) of its loop in Zig,
 * one object per connection (a reference kept after onClose stays closed), and steady traffic
 * allocates nothing per message. The stream and lifecycle are host/engine's; here is where
 * the bytes live: the chunk just read is a view of the loop's read area, and what a callback
 * leaves unread goes into the Zig connection's own ring (a `keep` command, flushed with the
 * batch), read back through FFI (`ZigRing`).
 */
import type { EventLoop, TlsInfo } from '../api.js';
import type { InboundRing } from '../engine/inbound.js';
import { CLOSED, EngineConn } from '../engine/conn.js';
import { DatagramConn } from '../engine/datagram.js';
import { connClosed, quietReject } from '../errors.js';
import type { TaskQueue } from '../engine/task-queue.js';
import { INBOUND_OP, L, SOCKET_OPTION } from './binding.js';
import { DIRECT } from './commands.js';
import type { NativeLoop } from './event-loop.js';

const RESOLVED = Promise.resolve();

/** A connection's Zig ring: the inbound half of host/engine/inbound.ts for native conns. */
class ZigRing implements InboundRing {
  readonly scansChunk = true;

  constructor(
    private readonly loop: NativeLoop,
    private readonly conn: NativeConn,
  ) {}

  private op(op: number, out: Uint8Array | null, n: number): number {
    const loop = this.loop;
    loop.flushCommands(); // keep commands must have landed in the ring
    const r = loop.api.zg_conn_inbound(loop.engine.handle, loop.index, this.conn.slot, this.conn.generation, op, out, n);
    if (r < 0) throw loop.engine.statusError(r);
    return r;
  }

  read(out: Uint8Array, n: number): number {
    return this.op(INBOUND_OP.read, out, n);
  }

  peek(out: Uint8Array, n: number): number {
    return this.op(INBOUND_OP.peek, out, n);
  }

  discard(n: number): number {
    return this.op(INBOUND_OP.discard, null, n);
  }

  append(bytes: Buffer, start: number, end: number): void {
    if (bytes !== this.loop.area) throw new Error('zgnet bug: a native chunk outside the read area');
    this.loop.keep(this.conn, start, end - start);
  }

  /** Zig empties the ring when the connection closes or its slot is reused. */
  clear(): void {}

  release(): void {}

  scan(
    codec: number, ringDiscard: number, ringBytes: number, out: Uint8Array, offset: number, frames: Int32Array,
    chunk: Buffer | null, chunkStart: number, chunkEnd: number, frontMoved: boolean,
  ): number {
    const loop = this.loop;
    if (ringBytes > 0 || ringDiscard > 0) loop.flushCommands();
    const hasChunk = chunk !== null;
    return loop.api.zg_conn_scan(
      loop.engine.handle, loop.index, this.conn.slot, this.conn.generation, codec, ringDiscard,
      out, out.length, offset, frames, frames.length, hasChunk ? chunkStart : 0, hasChunk ? chunkEnd - chunkStart : 0,
      frontMoved ? 1 : 0,
    );
  }
}

/** An asyncWrite waiting for Zig to have handed its last byte to the kernel. */
interface SentWaiter {
  /** `writtenTotal` after its bytes (mod 2^32). */
  target: number;
  resolve(): void;
  reject(err: Error): void;
}

/** Shared by every conn with no asyncWrite waiting, so an idle conn holds no array of its own. */
const NO_WAITERS: SentWaiter[] = Object.freeze([]) as unknown as SentWaiter[];

export class NativeConn extends EngineConn {
  readonly network: 'tcp' | 'udp' | 'unix';
  /** The socket fd (from the open record). */
  readonly fdValue: number;
  /**
   * The outbound queue as far as this side knows without asking: what Zig last reported
   * (every record about the conn carries it; at a drain every write has been flushed) plus
   * what was written since. Never less than the real queue.
   */
  private outboundReported = 0;
  private outboundSince = 0;
  /** Bytes written to this stream, mod 2^32: the positions asyncWrite waits for. */
  private writtenTotal = 0;
  /** Bytes handed to Zig for this stream (exact: a double counts to 2^53). */
  private handedTotal = 0;
  /** bytesWritten when onClose had run (the slot is Zig's again after that). */
  private writtenAtClose = 0;
  private sentWaiters: SentWaiter[] = NO_WAITERS;
  /** A watch command is out: Zig reports back once the queue drains (or a waiter's bytes left). */
  private watching = false;
  private wantsLowMark = false;
  /** Zig refused a write (the socket failed): a loop on `c.writable` must stop, now. */
  private broken = false;
  private local: string | undefined;
  private remote: string | undefined;
  private tlsValue: TlsInfo | null = null;

  override get tls(): TlsInfo | null {
    return this.tlsValue;
  }

  /** A TLS connection: what its handshake agreed on (Zig ran it before the open record). */
  setTls(info: TlsInfo | null): void {
    this.tlsValue = info;
  }

  constructor(
    readonly loop: NativeLoop,
    readonly slot: number,
    generation: number,
    fd: number,
    network: 'tcp' | 'udp' | 'unix',
  ) {
    super(loop.engine);
    this.generation = generation;
    this.fdValue = fd;
    this.network = network;
  }

  get eventLoop(): NativeLoop {
    return this.loop;
  }

  protected get tasks(): TaskQueue {
    return this.loop.tasks;
  }

  protected newRing(): InboundRing {
    return new ZigRing(this.loop, this);
  }

  open(): void {
    this.opened();
  }

  /** A data record: bytes just read into the area, or (intoRing) appended by Zig to the ring. */
  readRecord(offset: number, length: number, intoRing: boolean, outbound: number): void {
    this.outboundReported = outbound;
    this.outboundSince = 0;
    if (intoRing) this.deliveredIntoRing(length);
    else this.delivered(this.loop.area, offset, offset + length);
  }

  // ---- flow control ---------------------------------------------------------------------------

  protected queuedOutbound(): number {
    if (this.broken) return Infinity;
    return this.network === 'udp' ? 0 : this.outboundReported + this.outboundSince;
  }

  /** A write Zig refused: the socket failed, and its close record is on its way. */
  writeFailed(): void {
    this.broken = true;
  }

  protected watchWritable(): void {
    this.wantsLowMark = true;
    this.watch();
  }

  /**
   * Asks Zig for a writable record once the queue is at the low mark or the last waiter's
   * bytes left; one watch at a time (a record re-arms it for what is still waited for).
   */
  private watch(): void {
    if (this.watching || this.state === CLOSED) return;
    this.watching = true;
    const waiters = this.sentWaiters;
    const low = this.wantsLowMark ? this.owner.options.outboundLowWaterMark : -1;
    this.loop.watchCommand(this, low, waiters.length > 0 ? waiters[waiters.length - 1]!.target : 0, waiters.length > 0);
  }

  /** Zig's writable record: the queue now holds `outbound` bytes; `sent` (mod 2^32) have left. */
  writableRecord(outbound: number, sent: number): void {
    this.watching = false;
    this.outboundReported = outbound;
    this.outboundSince = 0;
    const waiters = this.sentWaiters;
    while (waiters.length > 0 && ((sent - waiters[0]!.target) | 0) >= 0) waiters.shift()!.resolve();
    if (this.wantsLowMark && outbound <= this.owner.options.outboundLowWaterMark) {
      this.wantsLowMark = false;
      this.drainedBelowLowMark();
    }
    if (this.wantsLowMark || waiters.length > 0) this.watch();
  }

  protected applyReadPaused(paused: boolean): void {
    this.loop.pauseCommand(this, paused);
  }

  /** Bytes handed to Zig for this stream (what asyncWrite and writable count). */
  private counted(n: number): number {
    this.outboundSince += n;
    this.handedTotal += n;
    this.writtenTotal = (this.writtenTotal + n) | 0;
    return n;
  }

  protected leaving(): void {
    this.cacheAddrs();
    this.loop.connLeft();
    // Closing before Zig reported their bytes gone: what is queued is flushed within the
    // bound, or dropped with a failed socket; either way nothing will report it.
    const waiters = this.sentWaiters;
    this.sentWaiters = NO_WAITERS;
    for (const w of waiters) w.reject(connClosed());
  }

  protected closeSocket(_peerGone: boolean): void {
    // The state is CLOSED already, so the getter answers writtenAtClose: set it first.
    this.writtenAtClose = this.writtenNow();
    this.loop.closeCommand(this);
  }

  /** Zig sends FIN once the outbound buffer is empty (shutdown of the write side). */
  protected endSocket(): void {
    this.loop.endCommand(this);
  }

  /** What was handed to Zig minus what it still queues (UDP: every datagram is sent at once). */
  get bytesWritten(): number {
    return this.state === CLOSED ? this.writtenAtClose : this.writtenNow();
  }

  private writtenNow(): number {
    return this.network === 'udp' ? this.handedTotal : this.handedTotal - this.queuedInZig();
  }

  // ---- outbound -----------------------------------------------------------------------------

  protected send(data: Uint8Array | string): number {
    if (this.network === 'udp') return this.counted(this.loop.sendDatagram(this, data));
    return this.counted(typeof data === 'string' ? this.loop.writeString(this, data) : this.loop.writeBytes(this, data));
  }

  protected override sendv(chunks: Uint8Array[]): number {
    let total = 0;
    for (const chunk of chunks) total += this.loop.writeBytes(this, chunk);
    return this.counted(total);
  }

  /** Queued with this batch's writes; settles once Zig handed its last byte to the kernel. */
  protected sendLater(data: Uint8Array | string): Promise<void> {
    this.send(data);
    return this.network === 'udp' ? RESOLVED : this.sentPromise();
  }

  protected override sendvLater(chunks: Uint8Array[]): Promise<void> {
    this.sendv(chunks);
    return this.sentPromise();
  }

  private sentPromise(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.sentWaiters === NO_WAITERS) this.sentWaiters = [];
      this.sentWaiters.push({ target: this.writtenTotal, resolve, reject });
      this.loop.checkSentAfterFlush(this);
    });
  }

  /**
   * The batch with this conn's asyncWrites was flushed: an empty outbound buffer means every
   * byte left for the kernel (the common case, settled now); otherwise Zig is asked to report.
   */
  flushed(): void {
    if (this.state === CLOSED || this.sentWaiters.length === 0) return;
    const outbound = this.loop.outboundOf(this);
    this.outboundReported = outbound;
    this.outboundSince = 0;
    if (outbound === 0) {
      const waiters = this.sentWaiters;
      this.sentWaiters = NO_WAITERS;
      for (const w of waiters) w.resolve();
      return;
    }
    this.watch();
  }

  flush(): void {
    if (this.state === CLOSED) return;
    const loop = this.loop;
    loop.flushCommands();
    loop.api.zg_conn_flush(loop.engine.handle, loop.index, this.slot, this.generation);
  }

  outboundBuffered(): number {
    return this.state === CLOSED ? 0 : this.queuedInZig();
  }

  /** What Zig still queues for this conn (also while closing: the slot is ours until the close command). */
  private queuedInZig(): number {
    const loop = this.loop;
    if (loop.engine.freed) return 0; // every socket is closed: nothing is queued any more
    loop.flushCommands();
    return Math.max(0, loop.api.zg_conn_outbound(loop.engine.handle, loop.index, this.slot, this.generation));
  }

  // ---- addresses and socket options ----------------------------------------------------------

  get localAddr(): string {
    return (this.local ??= this.loop.connAddr(this, 0));
  }

  get remoteAddr(): string {
    return (this.remote ??= this.loop.connAddr(this, 1));
  }

  /** Addresses survive onClose for the handler's logging (gnet clears them on release). */
  private cacheAddrs(): void {
    void this.localAddr;
    void this.remoteAddr;
  }

  get fd(): number {
    if (this.state === CLOSED) throw connClosed();
    return this.fdValue;
  }

  dup(): number {
    return this.loop.engine.check(this.loop.api.zg_socket_dup(this.fd));
  }

  private setopt(option: number, a: number, b = 0, c = 0, d = 0): void {
    this.loop.engine.check(this.loop.api.zg_socket_setopt(this.fd, option, a, b, c, d));
  }

  protected override applyNoDelay(on: boolean): void {
    this.setopt(SOCKET_OPTION.noDelay, on ? 1 : 0);
  }

  protected override applyKeepAlive(on: boolean, idleMs: number, intervalMs: number, count: number): void {
    if (!on) return this.setopt(SOCKET_OPTION.keepAlive, 0);
    this.setopt(SOCKET_OPTION.keepAlive, 1, Math.floor(idleMs / 1000), Math.floor(intervalMs / 1000), count);
  }

  protected override applyLinger(sec: number): void {
    this.setopt(SOCKET_OPTION.linger, sec);
  }

  protected applyBufferSize(which: 'recv' | 'send', bytes: number): void {
    this.setopt(which === 'recv' ? SOCKET_OPTION.recvBuffer : SOCKET_OPTION.sendBuffer, bytes);
  }
}

/**
 * A server UDP datagram's conn in native mode: the datagram is a view of the loop's read area.
 * After its callback the conn keeps the sender's address, so a kept conn can still reply.
 */
export class UdpConn extends DatagramConn {
  private record = 0;
  private listener = 0;
  private active = false;
  private remote: string | undefined;
  /** The sender's sockaddr, copied when the callback ends (gnet: a UDP conn can still write). */
  private sender: Uint8Array | undefined;

  constructor(readonly loop: NativeLoop) {
    super(loop.engine);
  }

  get eventLoop(): EventLoop & { readonly index: number } {
    return this.loop;
  }

  /** Runs onTraffic for datagram `record` of listener `listener`, read into the area. */
  handle(record: number, listener: number, offset: number, length: number): void {
    this.active = true;
    this.record = record;
    this.listener = listener;
    this.deliver(this.loop.area, offset, offset + length);
    this.active = false;
    const r = this.loop.records;
    const base = record * L.record_words;
    const words = r.slice(base + L.field_addr, base + L.record_words);
    this.sender = new Uint8Array(words.buffer, 0, r[base + L.field_aux2]!);
  }

  /** In the callback, queued with the batch's other replies (one sendmmsg); after it, now. */
  protected reply(data: Uint8Array | string): number {
    if (this.active) {
      const n = this.loop.replyCommand(this.record, data);
      if (n !== DIRECT) return n;
    }
    return this.replyNow(data);
  }

  /** Sends now, so that a refusal (EAGAIN, EMSGSIZE, ...) is thrown to the caller. */
  private replyNow(data: Uint8Array | string): number {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const loop = this.loop;
    const engine = loop.engine;
    if (this.active) {
      loop.flushCommands(); // the replies queued before this one leave first
      return engine.check(loop.api.zg_datagram_reply(engine.handle, loop.index, this.record, bytes, bytes.length));
    }
    const sender = this.sender;
    if (sender === undefined || engine.freed) throw connClosed();
    loop.flushCommands(); // as above: what this batch queued leaves first
    return engine.check(loop.api.zg_udp_sendto_raw(this.fd, bytes, bytes.length, sender, sender.length));
  }

  /** Settles once sent: sent now, not queued. */
  protected replyLater(data: Uint8Array | string): Promise<void> {
    try {
      this.replyNow(data);
      return RESOLVED;
    } catch (err) {
      return quietReject(err as Error);
    }
  }

  protected sendToAddr(data: Uint8Array | string, addr: string): number {
    this.loop.flushCommands(); // the replies queued before it leave first
    return this.loop.engine.sendTo(this.fd, data, addr);
  }

  get localAddr(): string {
    return this.loop.engine.listenerAddrs[this.listener] ?? '';
  }

  get remoteAddr(): string {
    if (this.remote !== undefined) return this.remote;
    if (this.active) return (this.remote = this.loop.datagramAddr(this.record));
    // After the callback: formatted from the kept sockaddr (rare).
    return (this.remote = this.sender === undefined ? '' : this.loop.engine.formatSockaddr(this.sender));
  }

  get fd(): number {
    return this.loop.listenerFd(this.listener);
  }

  dup(): number {
    return this.loop.engine.check(this.loop.api.zg_socket_dup(this.fd));
  }

  private setopt(option: number, value: number): void {
    this.loop.engine.check(this.loop.api.zg_socket_setopt(this.fd, option, Math.trunc(value), 0, 0, 0));
  }

  setLinger(sec: number): void {
    this.setopt(SOCKET_OPTION.linger, sec);
  }

  setReadBuffer(bytes: number): void {
    this.setopt(SOCKET_OPTION.recvBuffer, bytes);
  }

  setWriteBuffer(bytes: number): void {
    this.setopt(SOCKET_OPTION.sendBuffer, bytes);
  }
}
