/**
 * A connection's inbound bytes, gnet's way (reference §3.2): the chunk just read, presented
 * to onTraffic as is, plus the unconsumed bytes of earlier reads, kept in a wasm elastic ring.
 *
 * Two states, never both at once (`chunk !== null` implies `ringBytes === 0`):
 *   - fast path: the ring is empty and `chunk` is the socket's 'data' chunk. next/peek return
 *     zero-copy subarrays of it, read/discard move `pos`; no wasm call. When onTraffic
 *     returns, only the unconsumed remainder is copied into the ring (`spill`).
 *   - ring path: the ring holds bytes; a new chunk is appended to it and every method serves
 *     the one contiguous stream from the ring, copying out.
 * A codec scans the ring handle, so `[scanFrames]` spills the chunk first. Frames a codec
 * has handed out stay in the ring until `settle` removes them (`[pendingConsume]`, see
 * host/core/source.ts); every method here settles first, and the ones that move the front
 * bump `[streamVersion]` so that a codec's frames decoded ahead are scanned again.
 *
 * Buffers returned by next/peek are valid until the callback returns (fast-path views share
 * memory with the chunk Node read); copy with `Buffer.from(view)` to keep one longer. They
 * are the engine's: a write of one goes out without a copy, so do not modify it after.
 */
import { BufferInfo, BufferKind, check, type CoreBinding } from '../core/binding.js';
import { coreBinding, pendingConsume, scanFrames, streamVersion, type FrameSource } from '../core/source.js';

const EMPTY = Buffer.alloc(0);

function newRing(b: CoreBinding): number {
  return check(b, b.bufferNew(BufferKind.elasticRing, 0));
}

export abstract class Inbound implements FrameSource {
  readonly [coreBinding]: CoreBinding;
  /** The chunk being presented (fast path), or null. */
  protected chunk: Buffer | null = null;
  /** Bytes of `chunk` already consumed. */
  protected pos = 0;
  /** The wasm elastic ring, created on first use (0: none yet). Holds no memory while empty. */
  private ring = 0;
  /** Bytes in the ring (handed-out frames included), tracked so that no wasm call asks. */
  protected ringBytes = 0;
  [pendingConsume] = 0;
  [streamVersion] = 0;
  /** The last copy next()/peek() made from the ring: the engine's, like a view (see write). */
  protected handedOut: Buffer = EMPTY;

  constructor(binding: CoreBinding) {
    this[coreBinding] = binding;
  }

  inboundBuffered(): number {
    if (this[pendingConsume] !== 0) this.settle();
    const chunk = this.chunk;
    return chunk !== null ? chunk.length - this.pos : this.ringBytes;
  }

  /** Consumes and returns `n` bytes (all when n <= 0 or omitted); null when fewer are buffered. */
  next(n?: number): Buffer | null {
    if (this[pendingConsume] !== 0) this.settle();
    this[streamVersion]++;
    const chunk = this.chunk;
    if (chunk !== null) {
      const start = this.pos;
      const available = chunk.length - start;
      if (n === undefined || n <= 0) n = available;
      else if (n > available) return null;
      this.pos = start + n;
      // The echo case, next() on a fresh chunk: the chunk itself, not even a view to allocate.
      return n === chunk.length ? chunk : chunk.subarray(start, start + n);
    }
    const available = this.ringBytes;
    if (n === undefined || n <= 0) n = available;
    else if (n > available) return null;
    if (n === 0) return EMPTY;
    const out = Buffer.allocUnsafe(n);
    const b = this[coreBinding];
    this.ringBytes -= check(b, b.bufferRead(this.ring, out));
    return (this.handedOut = out);
  }

  /** Like next() without consuming. */
  peek(n?: number): Buffer | null {
    if (this[pendingConsume] !== 0) this.settle();
    const chunk = this.chunk;
    if (chunk !== null) {
      const start = this.pos;
      const available = chunk.length - start;
      if (n === undefined || n <= 0) n = available;
      else if (n > available) return null;
      return n === chunk.length ? chunk : chunk.subarray(start, start + n);
    }
    const available = this.ringBytes;
    if (n === undefined || n <= 0) n = available;
    else if (n > available) return null;
    if (n === 0) return EMPTY;
    const out = Buffer.allocUnsafe(n);
    const b = this[coreBinding];
    check(b, b.bufferPeek(this.ring, out));
    return (this.handedOut = out);
  }

  /** Drops `n` bytes (all when n <= 0, omitted or more than buffered); returns how many. */
  discard(n?: number): number {
    this[streamVersion]++;
    const available = this.inboundBuffered();
    const count = n === undefined || n <= 0 || n >= available ? available : n;
    if (this.chunk !== null) {
      this.pos += count;
      return count;
    }
    if (count === 0) return 0;
    const b = this[coreBinding];
    this.ringBytes -= check(b, b.bufferDiscard(this.ring, count));
    return count;
  }

  /** Copies and consumes up to `target.length` bytes; 0 when nothing is buffered. */
  read(target: Uint8Array): number {
    this[streamVersion]++;
    const count = Math.min(target.length, this.inboundBuffered());
    if (count === 0) return 0;
    const chunk = this.chunk;
    if (chunk !== null) {
      target.set(chunk.subarray(this.pos, this.pos + count));
      this.pos += count;
      return count;
    }
    const b = this[coreBinding];
    const got = check(b, b.bufferRead(this.ring, count === target.length ? target : target.subarray(0, count)));
    this.ringBytes -= got;
    return got;
  }

  [scanFrames](codec: number, discard: number, out: Uint8Array, offset: number, frames: Int32Array): number {
    this.spill();
    const b = this[coreBinding];
    if (this.ring === 0) this.ring = newRing(b);
    const result = b.codecScan(codec, this.ring, discard, out, offset, frames);
    if (discard !== 0) this.ringBytes = check(b, b.bufferInfo(this.ring, BufferInfo.buffered));
    return result;
  }

  /** Removes the bytes of the frames codecs handed out. */
  private settle(): void {
    const pending = this[pendingConsume];
    this[pendingConsume] = 0;
    const b = this[coreBinding];
    this.ringBytes -= check(b, b.bufferDiscard(this.ring, pending));
  }

  /** Starts presenting a newly read chunk: as the fast-path chunk, or appended to the ring. */
  protected receive(data: Buffer): void {
    if (this[pendingConsume] !== 0) this.settle();
    if (this.ringBytes === 0) {
      this.chunk = data;
      this.pos = 0;
    } else {
      this.append(data);
    }
  }

  /** Ends the fast path: the unconsumed rest of the chunk moves into the ring. */
  protected spill(): void {
    const chunk = this.chunk;
    if (chunk === null) return;
    this.chunk = null;
    if (this.pos < chunk.length) this.append(this.pos === 0 ? chunk : chunk.subarray(this.pos));
  }

  private append(data: Uint8Array): void {
    const b = this[coreBinding];
    if (this.ring === 0) this.ring = newRing(b);
    this.ringBytes += check(b, b.bufferWrite(this.ring, data));
  }

  /** Drops everything buffered (UDP after each datagram), keeping the ring for reuse. */
  protected dropInbound(): void {
    this.chunk = null;
    this[pendingConsume] = 0;
    this[streamVersion]++;
    if (this.ringBytes === 0) return;
    const b = this[coreBinding];
    check(b, b.bufferReset(this.ring, false));
    this.ringBytes = 0;
  }

  /** Frees the ring (connection closed). */
  protected releaseInbound(): void {
    this.chunk = null;
    this.ringBytes = 0;
    this[pendingConsume] = 0;
    this[streamVersion]++;
    if (this.ring !== 0) {
      this[coreBinding].release(this.ring);
      this.ring = 0;
    }
  }
}
