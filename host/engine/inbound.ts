/**
 * A connection's inbound bytes, gnet's way (one onTraffic per read; what it leaves stays buffered), written once for both engines:
 * the chunk just read, presented to onTraffic as it is, plus the unconsumed bytes of earlier
 * reads, kept in a ring the engine provides (`InboundRing`: the Zig connection's own ring in
 * native mode, a core elastic ring elsewhere).
 *
 * Two states, never both at once (`chunk !== null` implies `ringBytes === 0`):
 *   - fast path: the ring is empty and the new bytes are `chunk[pos, chunkEnd)` (the loop's read
 *     area in native mode, Node's 'data' chunk in wasm mode). next/peek return zero-copy
 *     subarrays, read/discard move `pos`; nothing crosses the boundary. When the callback
 *     returns, only the unconsumed rest moves into the ring (`spill`).
 *   - ring path: the ring holds bytes; a new chunk is appended behind them and every method
 *     serves the one contiguous stream from the ring, copying out.
 * Frames a codec handed out stay in the stream until `settle` removes them
 * (`[pendingConsume]`, host/core/source.ts): every method settles first, and the ones that
 * move the front bump `[streamVersion]` so that a codec's frames decoded ahead are scanned
 * again.
 *
 * Buffers returned by next/peek are valid until the callback returns; copy with
 * `Buffer.from(view)` to keep one longer. A write of one goes out without a copy.
 */
import { BufferKind, check, type CoreBinding } from '../core/binding.js';
import { countArg, uint8ArrayArg } from '../core/args.js';
import { coreBinding, pendingConsume, scanFrames, streamVersion, type FrameSource } from '../core/source.js';

/** The empty Buffer next()/peek() hand out, and what `handedOut` holds when it holds nothing. */
export const EMPTY = Buffer.alloc(0);

/** Where an engine keeps the bytes a callback left unread: the per-engine half of the stream. */
export interface InboundRing {
  /** False: `scan` decodes from the ring alone, so the stream spills its chunk first. */
  readonly scansChunk: boolean;
  /** Copies `n` buffered bytes into `out` and consumes them; returns how many. */
  read(out: Uint8Array, n: number): number;
  /** Copies `n` buffered bytes into `out`; returns how many. */
  peek(out: Uint8Array, n: number): number;
  /** Drops `n` buffered bytes; returns how many. */
  discard(n: number): number;
  /** Appends `bytes[start, end)` behind what the ring holds. */
  append(bytes: Buffer, start: number, end: number): void;
  /** Empties the ring, keeping its memory for reuse. */
  clear(): void;
  /** Frees the ring (the connection is gone). */
  release(): void;
  /**
   * Drops `ringDiscard` ring bytes, then decodes frames from ring + chunk without consuming
   * them (the core's scan, host/core/source.ts). `frontMoved`: the stream's front moved since
   * the last scan, so a scan hint kept for it is stale.
   */
  scan(
    codec: number, ringDiscard: number, ringBytes: number, out: Uint8Array, offset: number, frames: Int32Array,
    chunk: Buffer | null, chunkStart: number, chunkEnd: number, frontMoved: boolean,
  ): number;
}

export abstract class InboundStream implements FrameSource {
  readonly [coreBinding]: CoreBinding;
  [pendingConsume] = 0;
  [streamVersion] = 0;
  /** The chunk being presented (fast path) is `chunk[pos, chunkEnd)`; null on the ring path. */
  protected chunk: Buffer | null = null;
  protected pos = 0;
  protected chunkEnd = 0;
  /** Bytes in the ring (handed-out frames included), mirrored so that nothing asks the ring. */
  ringBytes = 0;
  /** The front moved outside a scan since the last one. */
  private frontMoved = true;
  /** The last copy next()/peek() made from the ring: the engine's, like a view (see write). */
  protected handedOut: Buffer = EMPTY;

  private ringValue: InboundRing | null = null;

  constructor(binding: CoreBinding) {
    this[coreBinding] = binding;
  }

  /** The engine's ring, made when first needed: most connections never leave bytes unread. */
  protected get ring(): InboundRing {
    return (this.ringValue ??= this.newRing());
  }

  /** A ring for this stream (an engine's ring may need to know its connection). */
  protected abstract newRing(): InboundRing;

  inboundBuffered(): number {
    if (this[pendingConsume] !== 0) this.settle();
    return this.chunk !== null ? this.chunkEnd - this.pos : this.ringBytes;
  }

  /** Consumes and returns `n` bytes (all when n <= 0 or omitted); null when fewer are buffered. */
  next(n?: number): Buffer | null {
    const count = this.wanted(n, 'next');
    this[streamVersion]++;
    if (count < 0) return null;
    const chunk = this.chunk;
    if (chunk !== null) {
      const start = this.pos;
      this.pos = start + count;
      this.frontMoved = true;
      // The echo case, next() on a whole fresh chunk: the chunk itself, no view to allocate.
      return count === chunk.length ? chunk : chunk.subarray(start, start + count);
    }
    return this.fromRing(count, true);
  }

  /** Like next() without consuming. */
  peek(n?: number): Buffer | null {
    const count = this.wanted(n, 'peek');
    if (count < 0) return null;
    const chunk = this.chunk;
    if (chunk !== null) return count === chunk.length ? chunk : chunk.subarray(this.pos, this.pos + count);
    return this.fromRing(count, false);
  }

  /**
   * How many bytes next(n)/peek(n) return: all for n <= 0, ±Infinity or omitted (the rule of
   * the buffers, core/args.ts), -1 when fewer than n are buffered.
   */
  private wanted(n: number | undefined, method: string): number {
    const count = countArg(n, `${method}(n)`);
    const available = this.inboundBuffered();
    if (count === 0) return available;
    return count > available ? -1 : count;
  }

  /** A copy of the ring's first `count` bytes: the engine's, like a view (see `handedOut`). */
  private fromRing(count: number, consume: boolean): Buffer {
    if (count === 0) return EMPTY;
    const out = Buffer.allocUnsafe(count);
    const copied = consume ? this.ring.read(out, count) : this.ring.peek(out, count);
    if (consume) this.ringBytes -= copied;
    // `ringBytes` mirrors the ring: a shorter copy would hand out uninitialised memory as data.
    if (copied !== count) throw new Error(`zgnet internal error: the ring gave ${copied} of ${count} buffered bytes`);
    return (this.handedOut = out);
  }

  /** Drops `n` bytes (all when n <= 0, omitted or more than buffered); returns how many. */
  discard(n?: number): number {
    const wanted = countArg(n, 'discard(n)');
    this[streamVersion]++;
    const available = this.inboundBuffered();
    const count = wanted === 0 || wanted >= available ? available : wanted;
    if (count === 0) return 0;
    if (this.chunk !== null) {
      this.pos += count;
      this.frontMoved = true;
      return count;
    }
    this.ringBytes -= this.ring.discard(count);
    return count;
  }

  /** Copies and consumes up to `target.length` bytes; 0 when nothing is buffered. */
  read(target: Uint8Array): number {
    uint8ArrayArg(target, 'read(target)');
    this[streamVersion]++;
    const count = Math.min(target.length, this.inboundBuffered());
    if (count === 0) return 0;
    const chunk = this.chunk;
    if (chunk !== null) {
      target.set(chunk.subarray(this.pos, this.pos + count));
      this.pos += count;
      this.frontMoved = true;
      return count;
    }
    const got = this.ring.read(count === target.length ? target : target.subarray(0, count), count);
    this.ringBytes -= got;
    return got;
  }

  [scanFrames](codec: number, discard: number, out: Uint8Array, offset: number, frames: Int32Array): number {
    const ring = this.ring;
    if (!ring.scansChunk) this.spill();
    let ringDiscard = 0;
    if (discard > 0) {
      ringDiscard = Math.min(discard, this.ringBytes);
      this.ringBytes -= ringDiscard;
      const rest = discard - ringDiscard;
      if (rest > 0) {
        this.pos += rest;
        this.frontMoved = true;
      }
    }
    const frontMoved = this.frontMoved;
    this.frontMoved = false;
    return ring.scan(codec, ringDiscard, this.ringBytes, out, offset, frames, this.chunk, this.pos, this.chunkEnd, frontMoved);
  }

  /** Removes the bytes of frames codecs handed out: ring first, then the chunk. */
  private settle(): void {
    const pending = this[pendingConsume];
    this[pendingConsume] = 0;
    const fromRing = Math.min(pending, this.ringBytes);
    if (fromRing > 0) this.ringBytes -= this.ring.discard(fromRing);
    const rest = pending - fromRing;
    if (rest > 0) {
      this.pos += rest;
      this.frontMoved = true;
    }
  }

  /** Starts presenting newly read bytes `bytes[start, end)`: as the chunk, or behind the ring's. */
  protected receive(bytes: Buffer, start: number, end: number): void {
    if (this[pendingConsume] !== 0) this.settle();
    if (this.ringBytes === 0) {
      this.chunk = bytes;
      this.pos = start;
      this.chunkEnd = end;
      this.frontMoved = true;
    } else {
      this.ring.append(bytes, start, end);
      this.ringBytes += end - start;
    }
  }

  /** The engine appended `length` new bytes to the ring itself (it held bytes when they came). */
  protected receivedIntoRing(length: number): void {
    if (this[pendingConsume] !== 0) this.settle();
    this.ringBytes += length;
  }

  /** Ends the fast path: the unconsumed rest of the chunk moves into the ring. */
  spill(): void {
    const chunk = this.chunk;
    if (chunk === null) return;
    this.chunk = null;
    if (this[pendingConsume] !== 0) this.settle();
    if (this.pos < this.chunkEnd) {
      this.ring.append(chunk, this.pos, this.chunkEnd);
      this.ringBytes += this.chunkEnd - this.pos;
    }
  }

  /** Drops everything buffered, keeping the ring for reuse (a datagram done, a slot reused). */
  protected dropInbound(): void {
    this.chunk = null;
    this[pendingConsume] = 0;
    this[streamVersion]++;
    if (this.ringBytes === 0) return;
    this.ring.clear();
    this.ringBytes = 0;
  }

  /** Drops everything buffered and frees the ring (the connection is gone). */
  protected releaseInbound(): void {
    this.chunk = null;
    this.ringBytes = 0;
    this[pendingConsume] = 0;
    this[streamVersion]++;
    this.ringValue?.release();
  }
}

/**
 * An `InboundRing` in the core (a zgnet elastic ring through the mode's CoreBinding): the wasm
 * engine's connections, and datagram conns of either engine. It holds no memory until bytes
 * are left unread, and none again once they are consumed.
 */
export class CoreRing implements InboundRing {
  readonly scansChunk = false;
  /** The core ring's handle, created on first use (0: none yet). */
  private handle = 0;

  constructor(private readonly binding: CoreBinding) {}

  private ensure(): number {
    if (this.handle === 0) this.handle = check(this.binding, this.binding.zg_buffer_new(BufferKind.elasticRing, 0));
    return this.handle;
  }

  read(out: Uint8Array, n: number): number {
    return check(this.binding, this.binding.zg_buffer_read(this.handle, n === out.length ? out : out.subarray(0, n)));
  }

  peek(out: Uint8Array, n: number): number {
    return check(this.binding, this.binding.zg_buffer_peek(this.handle, n === out.length ? out : out.subarray(0, n)));
  }

  discard(n: number): number {
    return check(this.binding, this.binding.zg_buffer_discard(this.handle, n));
  }

  append(bytes: Buffer, start: number, end: number): void {
    const data = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
    check(this.binding, this.binding.zg_buffer_write(this.ensure(), data));
  }

  clear(): void {
    if (this.handle !== 0) check(this.binding, this.binding.zg_buffer_reset(this.handle, false));
  }

  release(): void {
    if (this.handle === 0) return;
    this.binding.zg_release(this.handle);
    this.handle = 0;
  }

  scan(codec: number, ringDiscard: number, _ringBytes: number, out: Uint8Array, offset: number, frames: Int32Array): number {
    return this.binding.zg_codec_scan(codec, this.ensure(), ringDiscard, out, offset, frames);
  }
}
