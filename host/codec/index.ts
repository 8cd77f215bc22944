/**
 * Framing codecs, decoded and encoded by the Zig core. The same codec object works on
 * connections of either mode and on zgnet ring buffers.
 */
import type { CoreBinding } from '../core/binding.js';
import type { NodeBuffer } from '../node-types.js';
import { ErrorCode, ZgnetError, describe, invalidOption } from '../errors.js';
import { Codec, DEFAULT_MAX_FRAME_LENGTH, frameLengthOption, integerOption, rejectUnknown } from './codec.js';
import { optionsArg } from '../core/args.js';

export { Codec, DEFAULT_MAX_FRAME_LENGTH } from './codec.js';
export type { Writable } from './codec.js';

/** Options of `DelimiterCodec` and `LineCodec`. */
export interface DelimiterCodecOptions {
  /** Longest payload accepted, delimiter excluded; default 16 MiB. */
  maxFrameLength?: number;
}

/** Frames end with a delimiter of 1 to 64 bytes; the payload excludes it. */
export class DelimiterCodec extends Codec {
  /** The delimiter's bytes (1 to 64). */
  readonly delimiter: NodeBuffer;
  /** Longest payload accepted, bytes, delimiter excluded (default 16 MiB). */
  readonly maxFrameLength: number;

  constructor(delimiter: number | Uint8Array | string, opts?: DelimiterCodecOptions) {
    super();
    const options = optionsArg<DelimiterCodecOptions>(opts);
    rejectUnknown(options, ['maxFrameLength'], 'DelimiterCodec');
    this.delimiter = delimiterBytes(delimiter);
    this.maxFrameLength = frameLengthOption(options.maxFrameLength, 'maxFrameLength', DEFAULT_MAX_FRAME_LENGTH);
    this.init();
  }

  protected create(binding: CoreBinding): number {
    return binding.zg_codec_new_delimiter(this.delimiter, this.maxFrameLength);
  }
}

function delimiterBytes(delimiter: number | Uint8Array | string): Buffer {
  if (typeof delimiter === 'number') {
    if (!Number.isInteger(delimiter) || delimiter < 0 || delimiter > 255) {
      throw invalidOption('delimiter', `must be a byte value from 0 to 255 (got ${delimiter})`);
    }
    return Buffer.from([delimiter]);
  }
  const bytes = typeof delimiter === 'string' ? Buffer.from(delimiter) : delimiter instanceof Uint8Array ? Buffer.from(delimiter) : null;
  if (!bytes || bytes.length < 1 || bytes.length > 64) throw invalidOption('delimiter', 'must be 1 to 64 bytes');
  return bytes;
}

/** `'\n'`-terminated lines; the frame excludes the `'\n'` (a `'\r'` before it is kept, as gnet). */
export class LineCodec extends DelimiterCodec {
  constructor(options?: DelimiterCodecOptions) {
    super(0x0a, options);
  }
}

/** Frames of exactly `frameLength` bytes; `encode` takes any multiple of it. */
export class FixedLengthCodec extends Codec {
  /** Every frame's length, bytes. */
  readonly frameLength: number;

  constructor(frameLength: number) {
    super();
    // Required: `undefined` is refused like any other non-integer.
    this.frameLength = frameLengthOption(frameLength, 'frameLength');
    this.init();
  }

  protected create(binding: CoreBinding): number {
    return binding.zg_codec_new_fixed_length(this.frameLength);
  }
}

/** Options of `LengthFieldCodec` (netty's names). */
export interface LengthFieldCodecOptions {
  /** Default `'big'`. Byte order of the length field. */
  byteOrder?: 'big' | 'little';
  /** Default 0. Bytes before the length field (0 to 65536). */
  lengthFieldOffset?: number;
  /** Required. Size of the length field, bytes. */
  lengthFieldLength: 1 | 2 | 3 | 4 | 8;
  /** Default 0. Added to the length field's value to give the bytes that follow the field. */
  lengthAdjustment?: number;
  /** Default 0. Bytes `decode` removes from the front of each frame. */
  initialBytesToStrip?: number;
  /** Longest whole frame (header included) accepted, checked from the header alone; default 16 MiB. */
  maxFrameLength?: number;
}

const OFFSET_MAX = 65536;
const ADJUSTMENT_LIMIT = 0x7fff_ffff;

/**
 * Netty's length-field framing: `lengthFieldOffset` bytes, a 1/2/3/4/8-byte length, the body.
 * The frame is `offset + fieldLength + value + lengthAdjustment` bytes; `decode` returns it
 * without its first `initialBytesToStrip` bytes; `encode` writes `offset` zero bytes and
 * `value = payload.length - lengthAdjustment`.
 */
export class LengthFieldCodec extends Codec {
  /** Byte order of the length field (default `'big'`). */
  readonly byteOrder: 'big' | 'little';
  /** Bytes before the length field (default 0). */
  readonly lengthFieldOffset: number;
  /** Size of the length field, bytes: 1, 2, 3, 4 or 8. */
  readonly lengthFieldLength: number;
  /** Added to the length field's value (default 0). */
  readonly lengthAdjustment: number;
  /** Bytes stripped from the front of each decoded frame (default 0). */
  readonly initialBytesToStrip: number;
  /** Longest whole frame accepted, bytes, header included (default 16 MiB). */
  readonly maxFrameLength: number;

  constructor(options: LengthFieldCodecOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw invalidOption('options', 'must be an object');
    rejectUnknown(
      options,
      ['byteOrder', 'lengthFieldOffset', 'lengthFieldLength', 'lengthAdjustment', 'initialBytesToStrip', 'maxFrameLength'],
      'LengthFieldCodec',
    );
    const order = options.byteOrder ?? 'big';
    if (order !== 'big' && order !== 'little') throw invalidOption('byteOrder', `must be 'big' or 'little'`);
    this.byteOrder = order;
    const length = options.lengthFieldLength as number;
    if (![1, 2, 3, 4, 8].includes(length)) {
      throw new ZgnetError(ErrorCode.UNSUPPORTED_LENGTH, `lengthFieldLength ${describe(options.lengthFieldLength)}`);
    }
    this.lengthFieldLength = length;
    this.lengthFieldOffset = integerOption(options.lengthFieldOffset, 'lengthFieldOffset', 0, 0, OFFSET_MAX);
    this.lengthAdjustment = integerOption(options.lengthAdjustment, 'lengthAdjustment', 0, -ADJUSTMENT_LIMIT, ADJUSTMENT_LIMIT);
    this.initialBytesToStrip = integerOption(options.initialBytesToStrip, 'initialBytesToStrip', 0, 0, ADJUSTMENT_LIMIT);
    this.maxFrameLength = frameLengthOption(options.maxFrameLength, 'maxFrameLength', DEFAULT_MAX_FRAME_LENGTH);
    this.init();
  }

  protected create(binding: CoreBinding): number {
    return binding.zg_codec_new_length_field(
      this.byteOrder === 'big',
      this.lengthFieldOffset,
      this.lengthFieldLength,
      this.lengthAdjustment,
      this.initialBytesToStrip,
      this.maxFrameLength,
    );
  }
}
