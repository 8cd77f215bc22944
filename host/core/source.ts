/**
 * What a codec decodes from: any object whose unconsumed inbound bytes live in the core (a
 * zgnet ring buffer, or a connection in either mode). Internal symbols keep this protocol off
 * the public surface.
 *
 * Codecs decode in batches: one boundary call decodes up to a few hundred whole frames WITHOUT
 * consuming them; the codec then hands them out one `decode()` at a time, adding each frame's
 * size to the source's `[pendingConsume]`. The source removes those bytes lazily — at its next
 * scan, or first thing in any of its own methods (`settle`) — so a program that mixes
 * `codec.decode(c)` with `c.next()` or `c.inboundBuffered()` sees exactly the stream it would
 * see with one-frame-at-a-time decoding. Anything that moves the stream's front — a source
 * method, or another codec handing out a frame — bumps `[streamVersion]`, which tells a codec
 * its frames decoded ahead are stale (they are still in the stream, so nothing is lost: they
 * are simply decoded again).
 */
import type { CoreBinding } from './binding.js';

export const coreBinding = Symbol('zgnet.coreBinding');
export const scanFrames = Symbol('zgnet.scanFrames');
export const pendingConsume = Symbol('zgnet.pendingConsume');
export const streamVersion = Symbol('zgnet.streamVersion');

export interface FrameSource {
  readonly [coreBinding]: CoreBinding;
  /** Bytes of frames already handed out but not yet removed from the stream. */
  [pendingConsume]: number;
  /** Changes whenever the front of the stream moves other than through a codec. */
  [streamVersion]: number;
  /**
   * Removes `discard` bytes, then decodes up to `frames.length / 2` frames into `out` at
   * `offset` without consuming them (the core's `zg_codec_scan`); returns its raw result.
   */
  [scanFrames](codec: number, discard: number, out: Uint8Array, offset: number, frames: Int32Array): number;
}
