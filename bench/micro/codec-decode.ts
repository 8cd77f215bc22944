/**
 * Decoding 1 M length-field frames (4-byte big-endian length + 16..112-byte body), fed in
 * 64 KiB chunks the way a socket delivers them: the Zig codec through the native library,
 * the same codec through the wasm module, and a straightforward pure-TypeScript decoder.
 * Run: node dist/bench/micro/codec-decode.js [--frames N]
 */
import { Bench } from 'tinybench';
import { ElasticRingBuffer } from '../../host/buffer/index.js';
import { LengthFieldCodec } from '../../host/index.js';

const FRAMES = Number(process.argv[process.argv.indexOf('--frames') + 1]) || 1_000_000;
const CHUNK = 64 * 1024;

function buildStream(frames: number): Buffer {
  const parts: Buffer[] = [];
  let seed = 12345;
  for (let i = 0; i < frames; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const body = 16 + (seed % 97);
    const frame = Buffer.alloc(4 + body, i & 0xff);
    frame.writeUInt32BE(body, 0);
    parts.push(frame);
  }
  return Buffer.concat(parts);
}

const stream = buildStream(FRAMES);

/** The Zig codec over a zgnet inbound ring, as a connection uses it. */
function zigDecode(mode: 'native' | 'wasm'): () => void {
  const codec = new LengthFieldCodec({ lengthFieldLength: 4, initialBytesToStrip: 4 });
  return () => {
    const ring = new ElasticRingBuffer({ mode });
    let frames = 0;
    let bytes = 0;
    for (let off = 0; off < stream.length; off += CHUNK) {
      ring.write(stream.subarray(off, off + CHUNK));
      for (let f = codec.decode(ring); f !== null; f = codec.decode(ring)) {
        frames++;
        bytes += f.length;
      }
    }
    if (frames !== FRAMES) throw new Error(`${mode}: decoded ${frames} of ${FRAMES} frames (${bytes} bytes)`);
  };
}

/** What a Node developer would write: keep the leftover, concat, read the length, slice. */
function plainTypeScriptDecode(): void {
  let pending: Buffer = Buffer.alloc(0);
  let frames = 0;
  for (let off = 0; off < stream.length; off += CHUNK) {
    const chunk = stream.subarray(off, off + CHUNK);
    let buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let pos = 0;
    while (buf.length - pos >= 4) {
      const len = buf.readUInt32BE(pos);
      if (len > 16 * 1024 * 1024) throw new Error('frame too large');
      if (buf.length - pos - 4 < len) break;
      const frame = buf.subarray(pos + 4, pos + 4 + len);
      if (frame.length !== len) throw new Error('short frame');
      frames++;
      pos += 4 + len;
    }
    pending = buf.subarray(pos);
    buf = pending;
  }
  if (frames !== FRAMES) throw new Error(`plain: decoded ${frames} of ${FRAMES}`);
}

const bench = new Bench({ iterations: 5, warmupIterations: 1, time: 0, warmupTime: 0 });
bench.add('zig codec, native (koffi)', zigDecode('native'));
bench.add('zig codec, wasm (node:wasi)', zigDecode('wasm'));
bench.add('plain TypeScript decoder', plainTypeScriptDecode);
await bench.run();

const rows = bench.tasks.map((t) => {
  const ms = (t.result as unknown as { latency: { mean: number } }).latency.mean;
  return { task: t.name, ms, nsPerFrame: (ms * 1e6) / FRAMES, framesPerSec: FRAMES / (ms / 1000) };
});
const plain = rows.find((r) => r.task.startsWith('plain'))!;
console.log(`\ndecode ${FRAMES.toLocaleString()} length-field frames (${(stream.length / 2 ** 20).toFixed(1)} MiB in 64 KiB chunks)`);
console.log('| decoder | ms per run | ns per frame | frames/s | vs plain TS |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.task} | ${r.ms.toFixed(1)} | ${r.nsPerFrame.toFixed(1)} | ${(r.framesPerSec / 1e6).toFixed(2)} M | ${(plain.ms / r.ms).toFixed(2)}x |`,
  );
}
