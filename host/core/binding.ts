/**
 * The small interface between the TypeScript classes and the Zig core. Two implementations:
 * `native-binding.ts` (the shared library through koffi) and `wasm/wasm-binding.ts` (the wasm
 * reactor through node:wasi). Every function returns the core's raw result: >= 0 a value,
 * < 0 a status code, turned into a `ZgnetError` by `check`.
 *
 * The core's boundary tables are written here once and checked against the loaded artifact
 * (boundary.ts): a value changed on one side only refuses the artifact.
 */
import { ZgnetError } from '../errors.js';
import { enumItems } from './boundary.js';

/** Which artifact runs the Zig core: the native library (through koffi) or the wasm module. */
export type Mode = 'native' | 'wasm';

export const BufferKind = { ring: 0, elasticRing: 1, linkedList: 2, elastic: 3 } as const;
export const BufferInfo = { buffered: 0, available: 1, capacity: 2, isEmpty: 3 } as const;
export const LbPolicy = { 'round-robin': 0, 'least-connections': 1, 'source-addr-hash': 2 } as const;

/** The ABI version this host speaks (`abi_version` in zig-src/abi/core_exports.zig). */
export const ABI_VERSION = 1;
/** i32 words per decoded frame in a scan's frame table: payload length, stream bytes. */
export const FRAME_RECORD_WORDS = 2;

/** The core's named integers as zig-src/abi/core_exports.zig `items` names them. */
export const CORE_ITEMS: Readonly<Record<string, number>> = {
  abi_version: ABI_VERSION,
  frame_record_words: FRAME_RECORD_WORDS,
  ...enumItems('buffer_kind', BufferKind),
  ...enumItems('buffer_info', BufferInfo),
  ...enumItems('lb_policy', LbPolicy),
};

/** The core's exports (zig-src/abi/core_exports.zig), in both artifacts. */
export const CORE_EXPORTS = {
  zg_abi_version: 'uint32_t zg_abi_version()',
  zg_status_name: 'const char *zg_status_name(int32_t)',
  zg_alloc: 'uint8_t *zg_alloc(uintptr_t)',
  zg_free: 'void zg_free(uint8_t *, uintptr_t)',
  zg_release: 'intptr_t zg_release(int32_t)',
  zg_buffer_new: 'intptr_t zg_buffer_new(uint32_t, uintptr_t)',
  zg_buffer_write: 'intptr_t zg_buffer_write(int32_t, const uint8_t *, uintptr_t)',
  zg_buffer_read: 'intptr_t zg_buffer_read(int32_t, uint8_t *, uintptr_t)',
  zg_buffer_peek: 'intptr_t zg_buffer_peek(int32_t, uint8_t *, uintptr_t)',
  zg_buffer_discard: 'intptr_t zg_buffer_discard(int32_t, uintptr_t)',
  zg_buffer_info: 'intptr_t zg_buffer_info(int32_t, uint32_t)',
  zg_buffer_reset: 'intptr_t zg_buffer_reset(int32_t, uint32_t)',
  zg_codec_new_delimiter: 'intptr_t zg_codec_new_delimiter(const uint8_t *, uintptr_t, uintptr_t)',
  zg_codec_new_fixed_length: 'intptr_t zg_codec_new_fixed_length(uintptr_t)',
  zg_codec_new_length_field: 'intptr_t zg_codec_new_length_field(uint32_t, uintptr_t, uintptr_t, intptr_t, uintptr_t, uintptr_t)',
  zg_codec_frame_len_required: 'intptr_t zg_codec_frame_len_required()',
  zg_codec_scan: 'intptr_t zg_codec_scan(int32_t, int32_t, uintptr_t, uint8_t *, uintptr_t, uintptr_t, int32_t *, uintptr_t)',
  zg_codec_encode: 'intptr_t zg_codec_encode(int32_t, const uint8_t *, uintptr_t, uint8_t *, uintptr_t)',
  zg_codec_header: 'intptr_t zg_codec_header(int32_t, uintptr_t, uint8_t *, uintptr_t)',
  zg_codec_header_len: 'intptr_t zg_codec_header_len(int32_t)',
  zg_codec_trailer_len: 'intptr_t zg_codec_trailer_len(int32_t)',
  zg_lb_new: 'intptr_t zg_lb_new(uint32_t, uint32_t)',
  zg_lb_next: 'intptr_t zg_lb_next(int32_t, const uint8_t *, uintptr_t)',
  zg_lb_update: 'intptr_t zg_lb_update(int32_t, uint32_t, int32_t)',
} as const;

/** The members of a `CoreBinding` that are values; every other member is named as its export. */
export const BINDING_DATA = ['mode'] as const;

/**
 * The core's functions under their exports' names (the binding adapts the arguments: a
 * buffer's length, wasm memory), so that a trace reads the same on both sides.
 */
export interface CoreBinding {
  readonly mode: Mode;
  /** The `ERR_*` name of a status code, read from the artifact itself. */
  zg_status_name(code: number): string | null;
  zg_release(handle: number): number;

  zg_buffer_new(kind: number, size: number): number;
  zg_buffer_write(handle: number, data: Uint8Array): number;
  zg_buffer_read(handle: number, out: Uint8Array): number;
  zg_buffer_peek(handle: number, out: Uint8Array): number;
  zg_buffer_discard(handle: number, n: number): number;
  zg_buffer_info(handle: number, which: number): number;
  zg_buffer_reset(handle: number, release: boolean): number;

  zg_codec_new_delimiter(delimiter: Uint8Array, maxFrameLength: number): number;
  zg_codec_new_fixed_length(frameLength: number): number;
  zg_codec_new_length_field(bigEndian: boolean, offset: number, length: number, adjustment: number, strip: number, max: number): number;
  /** See `zg_codec_scan`: discard, then decode frames ahead into `out` at `offset`; frame count or a status. */
  zg_codec_scan(codec: number, source: number, discard: number, out: Uint8Array, offset: number, frames: Int32Array): number;
  zg_codec_frame_len_required(): number;
  zg_codec_encode(codec: number, payload: Uint8Array, out: Uint8Array): number;
  zg_codec_header(codec: number, payloadLength: number, out: Uint8Array): number;
  zg_codec_header_len(codec: number): number;
  zg_codec_trailer_len(codec: number): number;

  zg_lb_new(policy: number, loops: number): number;
  zg_lb_next(handle: number, remoteAddr: string): number;
  zg_lb_update(handle: number, index: number, delta: number): number;
}

/** Names of non-error statuses the classes handle themselves. */
export const INCOMPLETE = 'INCOMPLETE';
export const BUFFER_TOO_SMALL = 'ERR_BUFFER_TOO_SMALL';

/** Returns `result` when it is a value; throws the `ZgnetError` its status names otherwise. */
export function check(binding: CoreBinding, result: number, detail?: string): number {
  if (result >= 0) return result;
  throw statusError(binding, result, detail);
}

export function statusError(binding: CoreBinding, code: number, detail?: string): ZgnetError {
  return new ZgnetError(binding.zg_status_name(code) ?? `ERR_UNKNOWN_STATUS_${code}`, detail);
}
