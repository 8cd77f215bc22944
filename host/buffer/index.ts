/**
 * `zgnet/buffer`: gnet's buffers, backed by the Zig core (native library or wasm module).
 *
 * - `RingBuffer(sizeBytes)`: grows on write with gnet's policy (1024 first, doubling below
 *   4096, then +25%).
 * - `ElasticRingBuffer()`: a ring that holds no memory while empty.
 * - `LinkedListBuffer()`: a list of copied chunks.
 * - `ElasticBuffer(maxStaticBytes)`: a ring up to `maxStaticBytes`, a list beyond; order kept.
 *
 * `peek(n)` returns ONE contiguous Buffer holding a copy of the first n bytes (never gnet's
 * `[head, tail]` pair), so callers need not care whether the data wraps. `n <= 0` or omitted
 * means everything, as in gnet.
 *
 * @module zgnet/buffer
 */
import { BufferInfo, BufferKind, check, type CoreBinding, type Mode } from '../core/binding.js';
import { ownHandle } from '../core/handle.js';
import { resolveBinding, type ModeOption } from '../core/select.js';
import { coreBinding, pendingConsume, scanFrames, streamVersion, type FrameSource } from '../core/source.js';
import { invalidOption } from '../errors.js';
import type { NodeBuffer } from '../node-types.js';
import { bytesArg, countArg, optionsArg, uint8ArrayArg } from '../core/args.js';

/** Options of every buffer class. */
export interface BufferOptions {
  /** Which artifact backs the buffer; defaults to `'auto'` (see docs/modes.md). */
  mode?: ModeOption;
}

function byteLength(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw invalidOption(name, 'must be a non-negative integer', value);
  return value;
}

abstract class CoreBuffer {
  /** @internal */
  readonly [coreBinding]: CoreBinding;
  /** The core's handle of this buffer (internal). */
  protected readonly handle: number;
  /** @internal Frames a codec handed out whose bytes are still to be removed (host/core/source.ts). */
  [pendingConsume] = 0;
  /** @internal */
  [streamVersion] = 0;

  protected constructor(kind: number, size: number, options?: BufferOptions) {
    const binding = resolveBinding(optionsArg<BufferOptions>(options).mode);
    this[coreBinding] = binding;
    this.handle = check(binding, binding.zg_buffer_new(kind, size));
    ownHandle(this, binding, this.handle);
  }

  /** Which artifact backs this buffer: `'native'` or `'wasm'`. */
  get mode(): Mode {
    return this[coreBinding].mode;
  }

  /** Removes the bytes of frames a codec has handed out (see host/core/source.ts). */
  protected settle(): void {
    const pending = this[pendingConsume];
    if (pending === 0) return;
    this[pendingConsume] = 0;
    const b = this[coreBinding];
    check(b, b.zg_buffer_discard(this.handle, pending));
  }

  /** Appends all of `data`; returns its length. */
  write(data: Uint8Array | string): number {
    const bytes = bytesArg(data, 'data');
    const b = this[coreBinding];
    return check(b, b.zg_buffer_write(this.handle, bytes));
  }

  /** Copies and consumes up to `target.length` bytes; returns how many. */
  read(target: Uint8Array): number {
    uint8ArrayArg(target, 'target');
    this.settle();
    this[streamVersion]++;
    const b = this[coreBinding];
    return check(b, b.zg_buffer_read(this.handle, target));
  }

  /** A copy of the first `n` bytes (all when `n <= 0` or omitted; fewer if fewer are buffered). */
  peek(n?: number): NodeBuffer {
    const count = countArg(n, 'n');
    this.settle();
    const available = this.buffered();
    const want = count > 0 ? Math.min(count, available) : available;
    const out = Buffer.allocUnsafe(want);
    const b = this[coreBinding];
    const got = check(b, b.zg_buffer_peek(this.handle, out));
    return got === want ? out : out.subarray(0, got);
  }

  /** Drops the first `n` bytes (all when `n <= 0`, Infinity or omitted); returns how many. */
  discard(n?: number): number {
    const requested = countArg(n, 'n');
    this.settle();
    this[streamVersion]++;
    const b = this[coreBinding];
    const buffered = this.buffered();
    const count = requested > 0 ? Math.min(requested, buffered) : buffered;
    return check(b, b.zg_buffer_discard(this.handle, count));
  }

  /** Bytes buffered, not yet read. */
  buffered(): number {
    return this.info(BufferInfo.buffered);
  }

  /** Whether nothing is buffered. */
  isEmpty(): boolean {
    return this.info(BufferInfo.isEmpty) === 1;
  }

  /** Drops the content. */
  reset(): void {
    this.clear(false);
  }

  /** Drops the content and gives its memory back; the buffer stays usable. */
  release(): void {
    this.clear(true);
  }

  private clear(release: boolean): void {
    this[pendingConsume] = 0;
    this[streamVersion]++;
    const b = this[coreBinding];
    check(b, b.zg_buffer_reset(this.handle, release));
  }

  protected info(which: number): number {
    this.settle();
    const b = this[coreBinding];
    return check(b, b.zg_buffer_info(this.handle, which));
  }
}

/** Rings hold their bytes in at most two runs, which is what codecs decode from. */
abstract class RingLike extends CoreBuffer implements FrameSource {
  /** @internal */
  [scanFrames](codec: number, discard: number, out: Uint8Array, offset: number, frames: Int32Array): number {
    return this[coreBinding].zg_codec_scan(codec, this.handle, discard, out, offset, frames);
  }

  /** Free bytes before the ring must grow. */
  available(): number {
    return this.info(BufferInfo.available);
  }

  /** Current capacity in bytes. */
  cap(): number {
    return this.info(BufferInfo.capacity);
  }

  /** Whether the ring is at capacity (the next write grows it). */
  isFull(): boolean {
    return this.cap() > 0 && this.available() === 0;
  }
}

/** A ring that grows on write with gnet's policy (1024 bytes first, doubling below 4096, then +25%); `sizeBytes` default 0 (allocated on first write). */
export class RingBuffer extends RingLike {
  constructor(sizeBytes = 0, options?: BufferOptions) {
    super(BufferKind.ring, byteLength(sizeBytes, 'sizeBytes'), options);
  }
}

/** A ring that holds no memory while empty. */
export class ElasticRingBuffer extends RingLike {
  constructor(options?: BufferOptions) {
    super(BufferKind.elasticRing, 0, options);
  }
}

/** A list of copied chunks: writing never moves buffered bytes. */
export class LinkedListBuffer extends CoreBuffer {
  constructor(options?: BufferOptions) {
    super(BufferKind.linkedList, 0, options);
  }
}

/** A ring up to `maxStaticBytes` (bytes, required), a linked list beyond it; order kept. */
export class ElasticBuffer extends CoreBuffer {
  constructor(maxStaticBytes: number, options?: BufferOptions) {
    if (!Number.isSafeInteger(maxStaticBytes) || maxStaticBytes <= 0) {
      throw invalidOption('maxStaticBytes', 'must be a positive integer', maxStaticBytes);
    }
    super(BufferKind.elastic, maxStaticBytes, options);
  }
}
