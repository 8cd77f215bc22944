/**
 * The small interface between the TypeScript classes and the Zig core. Two implementations:
 * `native-binding.ts` (the shared library through koffi) and `wasm/loader.ts` (the wasm reactor
 * through node:wasi). Every function returns the core's raw result: >= 0 a value, < 0 a status
 * code, turned into a `ZgnetError` by `check`.
 */
import { ZgnetError } from '../errors.js';

export type Mode = 'native' | 'wasm';

export const BufferKind = { ring: 0, elasticRing: 1, linkedList: 2, elastic: 3 } as const;
export const BufferInfo = { buffered: 0, available: 1, capacity: 2, isEmpty: 3 } as const;
export const LbPolicy = { 'round-robin': 0, 'least-connections': 1, 'source-addr-hash': 2 } as const;

/** The ABI version this host speaks (`abi_version` in zig-src/abi/core_exports.zig). */
export const ABI_VERSION = 1;

export interface CoreBinding {
  readonly mode: Mode;
  /** The `ERR_*` name of a status code, read from the artifact itself. */
  statusName(code: number): string | null;
  release(handle: number): number;

  bufferNew(kind: number, size: number): number;
  bufferWrite(handle: number, data: Uint8Array): number;
  bufferRead(handle: number, out: Uint8Array): number;
  bufferPeek(handle: number, out: Uint8Array): number;
  bufferDiscard(handle: number, n: number): number;
  bufferInfo(handle: number, which: number): number;
  bufferReset(handle: number, release: boolean): number;

  codecNewDelimiter(delimiter: Uint8Array, maxFrameLength: number): number;
  codecNewFixedLength(frameLength: number): number;
  codecNewLengthField(bigEndian: boolean, offset: number, length: number, adjustment: number, strip: number, max: number): number;
  /** See `zg_codec_scan`: discard, then decode frames ahead into `out` at `offset`; frame count or a status. */
  codecScan(codec: number, source: number, discard: number, out: Uint8Array, offset: number, frames: Int32Array): number;
  codecFrameLenRequired(): number;
  codecEncode(codec: number, payload: Uint8Array, out: Uint8Array): number;
  codecHeader(codec: number, payloadLength: number, out: Uint8Array): number;
  codecHeaderLen(codec: number): number;
  codecTrailerLen(codec: number): number;

  lbNew(policy: number, loops: number): number;
  lbNext(handle: number, remoteAddr: string): number;
  lbUpdate(handle: number, index: number, delta: number): number;
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
  return new ZgnetError(binding.statusName(code) ?? `ERR_UNKNOWN_STATUS_${code}`, detail);
}
