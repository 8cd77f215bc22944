/**
 * Connections of the native engine. A NativeConn is a (slot, generation) of its loop in Zig;
 * its Conn object is reused for every connection that takes the slot, so steady traffic
 * allocates nothing per message.
 *
 * Inbound bytes live in one of two places, never both (`hasChunk` implies `ringBytes === 0`):
 *   - the chunk just read, in the loop's read area (fast path): next/peek return subarrays of
 *     it (valid until the callback returns), read/discard move `pos`; no FFI call. What
 *     onTraffic leaves unread becomes a `keep` command that copies it into the Zig ring before
 *     the area is reused;
 *   - the connection's Zig ring (gnet: once bytes are buffered, new ones join them and Next
 *     copies), read through FFI.
 * Codecs scan ring + chunk in one call (FrameSource, host/core/source.ts).
 */
import { Action, type Conn, type EventLoop } from '../api.js';
import type { CoreBinding } from '../core/binding.js';
import { coreBinding, pendingConsume, scanFrames, streamVersion, type FrameSource } from '../core/source.js';
import { ErrorCode, ZgnetError } from '../errors.js';
import { INBOUND_OP, L, SOCKET_OPTION } from './binding.js';
import type { NativeLoop } from './event-loop.js';

export const OPEN = 0;
/** onClose is running: writes still go out, before the close. */
export const CLOSING = 1;
export const CLOSED = 2;

const EMPTY = Buffer.alloc(0);
const RESOLVED = Promise.resolve();

export function unsupportedOp(what: string): ZgnetError {
  return new ZgnetError(ErrorCode.UNSUPPORTED_OP, what);
}

export function connClosedError(): ZgnetError {
  return new ZgnetError(ErrorCode.CONN_CLOSED);
}

function connClosed(): ZgnetError {
  return new ZgnetError(ErrorCode.CONN_CLOSED);
}

function invalidDuration(what: string, value: number): ZgnetError {
  return new ZgnetError(ErrorCode.INVALID_ARGUMENT, `invalid time duration: ${what} ${value} ms (at least 1000 ms)`);
}

/** A rejection nobody has to handle (asyncWrite on a conn that closed meanwhile). */
function quietReject(err: Error): Promise<void> {
  const p = Promise.reject(err);
  p.catch(() => {});
  return p;
}

export class NativeConn implements Conn, FrameSource {
  readonly [coreBinding]: CoreBinding;
  [pendingConsume] = 0;
  [streamVersion] = 0;
  context: unknown = undefined;
  generation = 0;
  state = CLOSED;
  network: 'tcp' | 'udp' | 'unix' = 'tcp';
  /** The socket fd (from the open record). */
  fdValue = -1;
  /** Fast path: the unread chunk is area[pos, end). */
  hasChunk = false;
  pos = 0;
  end = 0;
  /** Bytes in the Zig ring, mirrored so that no FFI call asks. */
  ringBytes = 0;
  /** The stream's front moved outside a scan: Zig's codec scan hint must be dropped. */
  hintStale = true;
  private local: string | undefined;
  private remote: string | undefined;
  private closed: Promise<void> | undefined;
  private settleClose: (() => void) | undefined;

  constructor(
    readonly loop: NativeLoop,
    readonly slot: number,
  ) {
    this[coreBinding] = loop.engine.binding;
  }

  get eventLoop(): EventLoop {
    return this.loop;
  }

  /** The slot now holds a new connection. */
  reset(generation: number, fd: number, network: 'tcp' | 'udp' | 'unix'): void {
    this.generation = generation;
    this.fdValue = fd;
    this.network = network;
    this.state = OPEN;
    this.context = undefined;
    this.hasChunk = false;
    this.ringBytes = 0;
    this.hintStale = true;
    this[pendingConsume] = 0;
    this.local = undefined;
    this.remote = undefined;
    this.closed = undefined;
    this.settleClose = undefined;
  }

  /** Bytes just read: a chunk of the area, or (ringTotal > 0) appended to the ring. */
  receive(offset: number, length: number, ringTotal: number): void {
    if (this[pendingConsume] !== 0) this.settle();
    if (ringTotal === 0 && this.ringBytes > 0) {
      // Bytes kept earlier in this batch are not in the ring yet (their keep command is
      // queued): the new chunk goes behind them, through the ring too.
      this.loop.keep(this, offset, length);
      this.ringBytes += length;
    } else if (ringTotal === 0) {
      this.hasChunk = true;
      this.pos = offset;
      this.end = offset + length;
      this.hintStale = true;
    } else {
      this.ringBytes = ringTotal;
    }
  }

  /** After onTraffic: the unread rest of the chunk moves into the ring (a keep command). */
  spill(): void {
    if (!this.hasChunk) return;
    this.hasChunk = false;
    if (this[pendingConsume] !== 0) this.settle();
    const rest = this.end - this.pos;
    if (rest > 0 && this.state !== CLOSED) {
      this.loop.keep(this, this.pos, rest);
      this.ringBytes += rest;
    }
  }

  /** onClose ran: what is left is dropped. */
  dropInbound(): void {
    this.hasChunk = false;
    this.ringBytes = 0;
    this[pendingConsume] = 0;
    this[streamVersion]++;
  }

  // ---- inbound ------------------------------------------------------------------------------

  inboundBuffered(): number {
    if (this[pendingConsume] !== 0) this.settle();
    return this.hasChunk ? this.end - this.pos : this.ringBytes;
  }

  next(n?: number): Buffer | null {
    if (this[pendingConsume] !== 0) this.settle();
    this[streamVersion]++;
    if (this.hasChunk) {
      const start = this.pos;
      const available = this.end - start;
      if (n === undefined || n <= 0) n = available;
      else if (n > available) return null;
      this.pos = start + n;
      this.hintStale = true;
      return this.loop.area.subarray(start, start + n);
    }
    const available = this.ringBytes;
    if (n === undefined || n <= 0) n = available;
    else if (n > available) return null;
    if (n === 0) return EMPTY;
    const out = Buffer.allocUnsafe(n);
    this.ringBytes -= this.ring(INBOUND_OP.read, out, n);
    return out;
  }

  peek(n?: number): Buffer | null {
    if (this[pendingConsume] !== 0) this.settle();
    if (this.hasChunk) {
      const start = this.pos;
      const available = this.end - start;
      if (n === undefined || n <= 0) n = available;
      else if (n > available) return null;
      return this.loop.area.subarray(start, start + n);
    }
    const available = this.ringBytes;
    if (n === undefined || n <= 0) n = available;
    else if (n > available) return null;
    if (n === 0) return EMPTY;
    const out = Buffer.allocUnsafe(n);
    this.ring(INBOUND_OP.peek, out, n);
    return out;
  }

  discard(n?: number): number {
    this[streamVersion]++;
    const available = this.inboundBuffered();
    const count = n === undefined || n <= 0 || n >= available ? available : n;
    if (count === 0) return 0;
    if (this.hasChunk) {
      this.pos += count;
      this.hintStale = true;
      return count;
    }
    this.ringBytes -= this.ring(INBOUND_OP.discard, null, count);
    return count;
  }

  read(target: Uint8Array): number {
    this[streamVersion]++;
    const count = Math.min(target.length, this.inboundBuffered());
    if (count === 0) return 0;
    if (this.hasChunk) {
      target.set(this.loop.area.subarray(this.pos, this.pos + count));
      this.pos += count;
      this.hintStale = true;
      return count;
    }
    const got = this.ring(INBOUND_OP.read, target, count);
    this.ringBytes -= got;
    return got;
  }

  private ring(op: number, out: Uint8Array | null, len: number): number {
    const loop = this.loop;
    loop.flushCommands(); // keep commands must have landed in the ring
    const r = loop.api.connInbound(loop.engine.handle, loop.index, this.slot, this.generation, op, out, len);
    if (r < 0) throw loop.engine.statusError(r);
    return r;
  }

  [scanFrames](codec: number, discard: number, out: Uint8Array, offset: number, frames: Int32Array): number {
    let ringDiscard = 0;
    if (discard > 0) {
      ringDiscard = Math.min(discard, this.ringBytes);
      this.ringBytes -= ringDiscard;
      const rest = discard - ringDiscard;
      if (rest > 0) {
        this.pos += rest;
        this.hintStale = true;
      }
    }
    const loop = this.loop;
    if (this.ringBytes > 0 || ringDiscard > 0) loop.flushCommands();
    const chunkOffset = this.hasChunk ? this.pos : 0;
    const chunkLength = this.hasChunk ? this.end - this.pos : 0;
    const reset = this.hintStale ? 1 : 0;
    this.hintStale = false;
    return loop.api.connScan(
      loop.engine.handle, loop.index, this.slot, this.generation, codec, ringDiscard,
      out, out.length, offset, frames, frames.length, chunkOffset, chunkLength, reset,
    );
  }

  /** Removes the bytes of frames codecs handed out: ring first, then the chunk. */
  private settle(): void {
    const pending = this[pendingConsume];
    this[pendingConsume] = 0;
    const fromRing = Math.min(pending, this.ringBytes);
    if (fromRing > 0) this.ringBytes -= this.ring(INBOUND_OP.discard, null, fromRing);
    const rest = pending - fromRing;
    if (rest > 0) {
      this.pos += rest;
      this.hintStale = true;
    }
  }

  // ---- outbound -----------------------------------------------------------------------------

  write(data: Uint8Array | string): number {
    if (this.state === CLOSED) return 0;
    if (this.network === 'udp') return this.loop.sendDatagram(this, data);
    if (typeof data === 'string') return this.loop.writeString(this, data);
    return this.loop.writeBytes(this, data);
  }

  writev(chunks: Uint8Array[]): number {
    if (this.network === 'udp') throw unsupportedOp('writev on a udp connection');
    if (this.state === CLOSED) return 0;
    let total = 0;
    for (const chunk of chunks) total += this.loop.writeBytes(this, chunk);
    return total;
  }

  flush(): void {
    if (this.state === CLOSED) return;
    const loop = this.loop;
    loop.flushCommands();
    loop.api.connFlush(loop.engine.handle, loop.index, this.slot, this.generation);
  }

  outboundBuffered(): number {
    if (this.state === CLOSED) return 0;
    const loop = this.loop;
    loop.flushCommands();
    return Math.max(0, loop.api.connOutbound(loop.engine.handle, loop.index, this.slot, this.generation));
  }

  sendTo(_data: Uint8Array | string, _addr: string): number {
    throw unsupportedOp(`sendTo on a ${this.network} connection`);
  }

  asyncWrite(data: Uint8Array | string): Promise<void> {
    if (this.state !== OPEN) return quietReject(connClosed());
    this.write(data);
    // A datagram went out in write() (gnet: UDP AsyncWrite sends at once).
    return this.network === 'udp' ? RESOLVED : this.loop.afterFlush();
  }

  asyncWritev(chunks: Uint8Array[]): Promise<void> {
    if (this.network === 'udp') return quietReject(unsupportedOp('asyncWritev on a udp connection'));
    if (this.state !== OPEN) return quietReject(connClosed());
    this.writev(chunks);
    return this.loop.afterFlush();
  }

  wake(): Promise<void> {
    if (this.state !== OPEN) return RESOLVED;
    const generation = this.generation;
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        if (this.state === OPEN && this.generation === generation) this.loop.runTask(() => this.loop.traffic(this));
        resolve();
      });
    });
  }

  close(): Promise<void> {
    if (this.state === CLOSED) return RESOLVED;
    if (this.closed === undefined) {
      this.closed = new Promise<void>((resolve) => (this.settleClose = resolve));
      const generation = this.generation;
      setImmediate(() => {
        if (this.generation === generation) this.loop.runTask(() => this.loop.closeConn(this, null));
      });
    }
    return this.closed;
  }

  /** Called by the loop once onClose ran. */
  closedNow(): void {
    this.settleClose?.();
    this.settleClose = undefined;
  }

  // ---- addresses and socket options ----------------------------------------------------------

  get localAddr(): string {
    return (this.local ??= this.loop.connAddr(this, 0));
  }

  get remoteAddr(): string {
    return (this.remote ??= this.loop.connAddr(this, 1));
  }

  /** Addresses survive onClose for the handler's logging (gnet clears them on release). */
  cacheAddrs(): void {
    void this.localAddr;
    void this.remoteAddr;
  }

  get fd(): number {
    if (this.state === CLOSED) throw connClosed();
    return this.fdValue;
  }

  dup(): number {
    return this.loop.engine.check(this.loop.api.socketDup(this.fd));
  }

  private setopt(option: number, a: number, b = 0, c = 0, d = 0): void {
    this.loop.engine.check(this.loop.api.socketSetopt(this.fd, option, a, b, c, d));
  }

  setNoDelay(on: boolean): void {
    if (this.network !== 'tcp') throw unsupportedOp(`setNoDelay on a ${this.network} connection`);
    this.setopt(SOCKET_OPTION.noDelay, on ? 1 : 0);
  }

  /** gnet: idle = period, interval = max(period / 5, 1 s), count 5. */
  setKeepAlivePeriod(ms: number): void {
    if (this.network !== 'tcp') throw unsupportedOp(`setKeepAlivePeriod on a ${this.network} connection`);
    if (!(ms >= 1000)) throw invalidDuration('keep-alive period', ms);
    const idle = Math.floor(ms / 1000);
    this.setopt(SOCKET_OPTION.keepAlive, 1, idle, Math.max(Math.floor(idle / 5), 1), 5);
  }

  setKeepAlive(on: boolean, idleMs: number, intervalMs: number, count: number): void {
    if (this.network !== 'tcp') throw unsupportedOp(`setKeepAlive on a ${this.network} connection`);
    if (!on) return this.setopt(SOCKET_OPTION.keepAlive, 0);
    if (!(idleMs >= 1000)) throw invalidDuration('keep-alive idle', idleMs);
    if (!(intervalMs >= 1000)) throw invalidDuration('keep-alive interval', intervalMs);
    if (!(count >= 1)) throw invalidDuration('keep-alive count', count);
    this.setopt(SOCKET_OPTION.keepAlive, 1, Math.floor(idleMs / 1000), Math.floor(intervalMs / 1000), Math.floor(count));
  }

  setLinger(sec: number): void {
    this.setopt(SOCKET_OPTION.linger, Math.trunc(sec));
  }

  setReadBuffer(bytes: number): void {
    this.setopt(SOCKET_OPTION.recvBuffer, Math.min(Math.max(Math.trunc(bytes), 0), 0x7fffffff));
  }

  setWriteBuffer(bytes: number): void {
    this.setopt(SOCKET_OPTION.sendBuffer, Math.min(Math.max(Math.trunc(bytes), 0), 0x7fffffff));
  }
}

/**
 * A UDP datagram's conn (gnet §3.8): one onTraffic, no open/close; write replies to the
 * sender at once. The object is reused per loop; it is valid during its callback only.
 */
export class UdpConn implements Conn, FrameSource {
  readonly [coreBinding]: CoreBinding;
  [pendingConsume] = 0;
  [streamVersion] = 0;
  context: unknown = undefined;
  active = false;
  record = 0;
  listener = 0;
  pos = 0;
  end = 0;
  private remote: string | undefined;
  private scanRing = 0;
  /** The sender's sockaddr words, kept when the callback ends (gnet: a UDP conn can still write). */
  private sender: number[] | undefined;
  private senderLength = 0;

  constructor(readonly loop: NativeLoop) {
    this[coreBinding] = loop.engine.binding;
  }

  get eventLoop(): EventLoop {
    return this.loop;
  }

  begin(record: number, listener: number, offset: number, length: number): void {
    this.active = true;
    this.record = record;
    this.listener = listener;
    this.pos = offset;
    this.end = offset + length;
    this.remote = undefined;
    this[pendingConsume] = 0;
    this[streamVersion]++;
  }

  /** The callback returned: keep what a later write or remoteAddr needs. */
  finish(): void {
    this.active = false;
    const r = this.loop.records;
    const base = this.record * L.record_words;
    const a = base + L.field_addr;
    this.sender = [r[a]!, r[a + 1]!, r[a + 2]!, r[a + 3]!, r[a + 4]!, r[a + 5]!, r[a + 6]!];
    this.senderLength = r[base + L.field_aux2]!;
  }

  private settle(): void {
    this.pos = Math.min(this.end, this.pos + this[pendingConsume]);
    this[pendingConsume] = 0;
  }

  inboundBuffered(): number {
    if (this[pendingConsume] !== 0) this.settle();
    return this.active ? this.end - this.pos : 0;
  }

  next(n?: number): Buffer | null {
    const available = this.inboundBuffered();
    this[streamVersion]++;
    if (n === undefined || n <= 0) n = available;
    else if (n > available) return null;
    const start = this.pos;
    this.pos += n;
    return this.loop.area.subarray(start, start + n);
  }

  peek(n?: number): Buffer | null {
    const available = this.inboundBuffered();
    if (n === undefined || n <= 0) n = available;
    else if (n > available) return null;
    return this.loop.area.subarray(this.pos, this.pos + n);
  }

  discard(n?: number): number {
    this[streamVersion]++;
    const available = this.inboundBuffered();
    const count = n === undefined || n <= 0 || n >= available ? available : n;
    this.pos += count;
    return count;
  }

  read(target: Uint8Array): number {
    this[streamVersion]++;
    const count = Math.min(target.length, this.inboundBuffered());
    target.set(this.loop.area.subarray(this.pos, this.pos + count));
    this.pos += count;
    return count;
  }

  [scanFrames](codec: number, discard: number, out: Uint8Array, offset: number, frames: Int32Array): number {
    // Rare: a codec on a datagram. The datagram goes through a core ring of its own.
    const b = this[coreBinding];
    if (this.scanRing === 0) this.scanRing = b.bufferNew(1, 0);
    b.bufferReset(this.scanRing, false);
    this.pos = Math.min(this.end, this.pos + discard);
    b.bufferWrite(this.scanRing, this.loop.area.subarray(this.pos, this.end));
    return b.codecScan(codec, this.scanRing, 0, out, offset, frames);
  }

  write(data: Uint8Array | string): number {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const loop = this.loop;
    if (this.active) return loop.engine.check(loop.api.datagramReply(loop.engine.handle, loop.index, this.record, bytes, bytes.length));
    if (this.sender === undefined || loop.engine.freed) throw connClosedError();
    const addr = new Uint8Array(Int32Array.from(this.sender).buffer, 0, this.senderLength);
    return loop.engine.check(loop.api.udpSendtoRaw(this.fd, bytes, bytes.length, addr, addr.length));
  }

  writev(_chunks: Uint8Array[]): number {
    throw unsupportedOp('writev on a udp connection');
  }

  sendTo(data: Uint8Array | string, addr: string): number {
    return this.loop.engine.sendTo(this.loop.listenerFd(this.listener), data, addr);
  }

  flush(): void {}

  outboundBuffered(): number {
    return 0;
  }

  asyncWrite(data: Uint8Array | string): Promise<void> {
    try {
      this.write(data);
      return RESOLVED;
    } catch (err) {
      return quietReject(err as Error);
    }
  }

  asyncWritev(_chunks: Uint8Array[]): Promise<void> {
    return quietReject(unsupportedOp('asyncWritev on a udp connection'));
  }

  wake(): Promise<void> {
    return RESOLVED;
  }

  close(): Promise<void> {
    return RESOLVED;
  }

  get localAddr(): string {
    return this.loop.engine.listenerAddrs[this.loop.listenerSpec(this.listener)] ?? '';
  }

  get remoteAddr(): string {
    if (this.remote === undefined && this.sender !== undefined) {
      // After the callback: format from the kept sockaddr (rare).
      const addr = new Uint8Array(Int32Array.from(this.sender).buffer, 0, this.senderLength);
      this.remote = this.loop.engine.formatSockaddr(addr);
    }
    return (this.remote ??= this.active ? this.loop.datagramAddr(this.record) : '');
  }


  get fd(): number {
    return this.loop.listenerFd(this.listener);
  }

  dup(): number {
    return this.loop.engine.check(this.loop.api.socketDup(this.fd));
  }

  setNoDelay(_on: boolean): void {
    throw unsupportedOp('setNoDelay on a udp connection');
  }

  setKeepAlivePeriod(_ms: number): void {
    throw unsupportedOp('setKeepAlivePeriod on a udp connection');
  }

  setKeepAlive(_on: boolean, _idleMs: number, _intervalMs: number, _count: number): void {
    throw unsupportedOp('setKeepAlive on a udp connection');
  }

  setLinger(sec: number): void {
    this.loop.engine.check(this.loop.api.socketSetopt(this.fd, SOCKET_OPTION.linger, Math.trunc(sec), 0, 0, 0));
  }

  setReadBuffer(bytes: number): void {
    this.loop.engine.check(this.loop.api.socketSetopt(this.fd, SOCKET_OPTION.recvBuffer, Math.trunc(bytes), 0, 0, 0));
  }

  setWriteBuffer(bytes: number): void {
    this.loop.engine.check(this.loop.api.socketSetopt(this.fd, SOCKET_OPTION.sendBuffer, Math.trunc(bytes), 0, 0, 0));
  }
}

export { Action };
