// The CPU-bound handler's work, shared by every server of the multicore benchmark so that each
// runs the same computation: a deterministic xorshift loop of a fixed iteration count per
// 64-byte message, the count calibrated once by scripts/bench.mjs to about 20 µs.

/** `iterations` rounds of xorshift32 from a fixed seed; returns the state (callers fold it in, so nothing is optimised away). */
export function spin(iterations) {
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x;
}

/** The work for one received chunk: one unit per 64 bytes (at least one). */
export function workFor(bytes, iterations) {
  let sink = 0;
  for (let n = Math.max(1, Math.round(bytes / 64)); n > 0; n--) sink ^= spin(iterations);
  return sink;
}

/** The iteration count that takes about `targetUs` µs here (median of several timings). */
export function calibrate(targetUs) {
  const probe = 200_000;
  spin(probe * 5); // warm up the JIT
  const times = [];
  for (let i = 0; i < 9; i++) {
    const t0 = process.hrtime.bigint();
    spin(probe);
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return Math.max(1, Math.round((probe * targetUs) / times[4]));
}
