/** A small seeded PRNG (mulberry32) so randomized tests reproduce from their seed. */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = (this.next() * 256) | 0;
    return out;
  }

  /** Cuts `data` into random chunks of 1..maxChunk bytes. */
  chunks(data: Uint8Array, maxChunk: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < data.length; ) {
      const n = Math.min(this.int(1, maxChunk), data.length - i);
      out.push(data.subarray(i, i + n));
      i += n;
    }
    return out;
  }
}
