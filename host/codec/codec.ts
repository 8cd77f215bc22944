/**
 * The shared machinery of the four codecs: one core codec object per artifact (created on
 * first use, so the same codec works on connections of either mode), and decoding into a
 * slab the way Node's Buffer pool works — every frame is an owned slice of a shared 64 KiB
 * slab, so a frame costs neither an allocation nor an extra copy.
 */
import { BUFFER_TOO_SMALL, check, FRAME_RECORD_WORDS, INCOMPLETE, statusError, type CoreBinding } from '../core/binding.js';
import { ownHandle } from '../core/handle.js';
import { resolveBinding } from '../core/select.js';
import { coreBinding, pendingConsume, scanFrames, streamVersion, type FrameSource } from '../core/source.js';
import { statusCode } from '../core/status.js';
import type { Conn } from '../api.js';
import type { NodeBuffer } from '../node-types.js';
import { invalidArgument, invalidOption } from '../errors.js';
import { uint8ArrayArg } from '../core/args.js';

const SLAB_BYTES = 64 * 1024;
/** Frames bigger than this get a buffer of their own instead of wasting most of a slab. */
const SLAB_FRAME_MAX = SLAB_BYTES / 4;
/** Frames decoded per boundary call: enough to amortise a koffi call (~100 ns) to noise. */
const FRAMES_PER_SCAN = 256;
/** wasm32 sizes are u32 and the host keeps them in i32 range. */
export const FRAME_LENGTH_LIMIT = 0x7fff_ffff;
/** 16 MiB: every codec's default `maxFrameLength`, bytes. */
export const DEFAULT_MAX_FRAME_LENGTH = 16 * 1024 * 1024;

/** What `codec.write` needs of a connection. */
export interface Writable {
  /** Writes the chunks as one; returns the total length in bytes. */
  writev(chunks: Uint8Array[]): number;
}

/** A framing codec (netty/gnet style): `decode(c)` takes one whole frame from a connection or ring buffer, `encode`/`write` frame a payload. */
export abstract class Codec {
  private readonly handles = new Map<CoreBinding, number>();
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private slabUsed = 0;
  private headerBytes = -1;
  private trailerBytes = -1;
  private trailerCache: Buffer | undefined;

  protected constructor() {}

  /** Creates this codec's core object in one artifact; returns its handle (or a negative status). */
  protected abstract create(binding: CoreBinding): number;

  /** Validates the configuration now, in the default artifact, so a bad one throws from the constructor. */
  protected init(): void {
    this.encoder = resolveBinding();
    this.encoderHandle = this.handleFor(this.encoder);
  }

  /** The artifact that encodes: resolved once (not per message: it reads the environment). */
  private encoder!: CoreBinding;
  private encoderHandle = 0;
  /**
   * Reused by every write(): Conn.write/writev copy what they queue before returning, so the
   * header and the chunk list are free again when write() returns.
   */
  private writeHeader: Buffer | undefined;
  private readonly writeChunks: Uint8Array[] = [];

  private handleFor(binding: CoreBinding): number {
    let handle = this.handles.get(binding);
    if (handle === undefined) {
      handle = check(binding, this.create(binding));
      ownHandle(this, binding, handle);
      this.handles.set(binding, handle);
      if (this.headerBytes < 0) {
        this.headerBytes = check(binding, binding.zg_codec_header_len(handle));
        this.trailerBytes = check(binding, binding.zg_codec_trailer_len(handle));
      }
    }
    return handle;
  }

  /**
   * Consumes one whole frame from a connection (or a zgnet ring buffer) and returns its
   * payload, or `null` while the frame is incomplete. Malformed or oversized input throws a
   * `ZgnetError` and consumes nothing. The Buffer is the caller's to keep.
   *
   * Frames are decoded in batches (host/core/source.ts): one boundary call decodes up to
   * `FRAMES_PER_SCAN` frames into the slab; later calls hand them out without crossing it.
   */
  decode(from: Conn | FrameSource): NodeBuffer | null {
    // Every Conn of either engine is a FrameSource; the public type (host/api.ts) names Conn.
    const source = from as FrameSource;
    const queued = this.queueSource;
    if (source === queued && queued !== undefined && queued[streamVersion] === this.queueVersion && this.queueNext < this.queueCount) {
      return this.handOut(source);
    }
    return this.scan(source);
  }

  private scan(source: FrameSource): Buffer | null {
    const binding = typeof source === 'object' && source !== null ? source[coreBinding] : undefined;
    if (binding === undefined) throw invalidArgument('c', 'must be a Conn, a RingBuffer or an ElasticRingBuffer', source);
    if (binding !== this.lastBinding) this.switchBinding(binding);
    const discard = source[pendingConsume];
    source[pendingConsume] = 0;
    this.queueSource = undefined;
    let count = source[scanFrames](this.lastHandle, discard, this.slab, this.slabUsed, this.frames);
    if (count < 0) {
      if (count === this.incompleteCode) return null;
      if (count !== this.tooSmallCode) throw statusError(binding, count);
      count = this.scanLarge(source, binding);
    }
    this.queueSource = source;
    this.queueCount = count;
    this.queueNext = 0;
    return this.handOut(source);
  }

  /** The first frame does not fit what is left of the slab: a fresh slab, or its own buffer. */
  private scanLarge(source: FrameSource, binding: CoreBinding): number {
    const required = check(binding, binding.zg_codec_frame_len_required());
    if (required > SLAB_FRAME_MAX) {
      this.slab = Buffer.allocUnsafe(required);
      this.slabUsed = 0;
      const count = source[scanFrames](this.lastHandle, 0, this.slab, 0, this.frames.subarray(0, FRAME_RECORD_WORDS));
      if (count < 0) throw statusError(binding, count);
      return count;
    }
    this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    this.slabUsed = 0;
    const count = source[scanFrames](this.lastHandle, 0, this.slab, 0, this.frames);
    if (count < 0) throw statusError(binding, count);
    return count;
  }

  private handOut(source: FrameSource): Buffer {
    const i = this.queueNext++;
    const length = this.frames[i * FRAME_RECORD_WORDS]!;
    source[pendingConsume] += this.frames[i * FRAME_RECORD_WORDS + 1]!;
    // Consuming moves the front for every other codec on this source: their queues go stale.
    this.queueVersion = ++source[streamVersion];
    const frame = this.slab.subarray(this.slabUsed, this.slabUsed + length);
    this.slabUsed += length;
    return frame;
  }

  /** Frames decoded ahead: which source, at which version, how many, and the next to hand out. */
  private readonly frames = new Int32Array(FRAMES_PER_SCAN * FRAME_RECORD_WORDS);
  private queueSource: FrameSource | undefined;
  private queueVersion = 0;
  private queueCount = 0;
  private queueNext = 0;
  private lastBinding: CoreBinding | undefined;
  private lastHandle = 0;
  private incompleteCode = 0;
  private tooSmallCode = 0;

  private switchBinding(binding: CoreBinding): void {
    this.lastHandle = this.handleFor(binding);
    this.incompleteCode = statusCode(binding, INCOMPLETE);
    this.tooSmallCode = statusCode(binding, BUFFER_TOO_SMALL);
    this.lastBinding = binding;
  }

  /** Header + payload + trailer, as one new Buffer. */
  encode(payload: Uint8Array): NodeBuffer {
    uint8ArrayArg(payload, 'payload');
    const out = Buffer.allocUnsafe(this.headerBytes + payload.length + this.trailerBytes);
    check(this.encoder, this.encoder.zg_codec_encode(this.encoderHandle, payload, out));
    return out;
  }

  /** Encodes and writes to a connection without joining header, payload and trailer. */
  write(c: Writable, payload: Uint8Array): number {
    if (typeof (c as Partial<Writable> | null)?.writev !== 'function') throw invalidArgument('c', 'must be a Conn', c);
    uint8ArrayArg(payload, 'payload');
    const binding = this.encoder;
    const chunks = this.writeChunks;
    chunks.length = 0;
    // codecHeader also validates the payload length (fixed-length multiples, maxFrameLength).
    const header = (this.writeHeader ??= Buffer.allocUnsafe(this.headerBytes));
    check(binding, binding.zg_codec_header(this.encoderHandle, payload.length, header));
    if (header.length > 0) chunks.push(header);
    chunks.push(payload);
    if (this.trailerBytes > 0) chunks.push(this.trailer());
    return c.writev(chunks);
  }

  private trailer(): Buffer {
    if (!this.trailerCache) {
      const encoded = Buffer.allocUnsafe(this.trailerBytes);
      check(this.encoder, this.encoder.zg_codec_encode(this.encoderHandle, EMPTY, encoded));
      this.trailerCache = encoded;
    }
    return this.trailerCache;
  }
}

const EMPTY = Buffer.alloc(0);

/** A frame length option; with no `fallback` it is required. */
export function frameLengthOption(value: unknown, name: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > FRAME_LENGTH_LIMIT) {
    throw invalidOption(name, `must be an integer from 1 to ${FRAME_LENGTH_LIMIT}`, value);
  }
  return value;
}

export function integerOption(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidOption(name, `must be an integer from ${min} to ${max}`, value);
  }
  return value;
}

/** Rejects option names the codec does not know, as the engine does for its options. */
export function rejectUnknown(options: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw invalidOption(key, `is not an option of ${what}`);
  }
}
