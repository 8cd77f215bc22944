/**
 * What a codec decodes from: any object whose unconsumed inbound bytes live in the core
 * (a zgnet buffer, or a connection in either mode). Internal symbols keep this off the
 * public surface.
 */
import type { CoreBinding } from './binding.js';

export const coreBinding = Symbol('zgnet.coreBinding');
export const decodeFrame = Symbol('zgnet.decodeFrame');

export interface FrameSource {
  readonly [coreBinding]: CoreBinding;
  /** Decodes one frame with the codec handle into `out` at `offset`; the core's raw result. */
  [decodeFrame](codec: number, out: Uint8Array, offset: number): number;
}

export function isFrameSource(value: unknown): value is FrameSource {
  return typeof value === 'object' && value !== null && decodeFrame in value;
}
