/**
 * Loads the wasm32-wasi reactor (wasm/zgnet.wasm, built there by build.zig) with `node:wasi` and exposes it as a
 * `CoreBinding`. A Zig module has no AssemblyScript runtime objects to lift, so
 * `@assemblyscript/loader` has nothing to offer here: byte arguments are copied into a staging
 * area of the module's memory, and views are re-derived whenever memory has grown (growth
 * detaches every view).
 */
import * as fs from 'node:fs';
import type { WASI as WasiClass } from 'node:wasi';
import { ABI_VERSION, BINDING_DATA, BufferKind, CORE_EXPORTS, CORE_ITEMS, FRAME_RECORD_WORDS, type CoreBinding } from '../host/core/binding.js';
import { checkBindingNames, checkTables, readTables, TABLE_EXPORTS, TEXT_BYTES_MAX, type WasmExports } from '../host/core/boundary.js';
import { ErrorCode, ZgnetError } from '../host/errors.js';
import { wasmModulePath } from '../host/core/locate.js';
import { moduleRequire } from '../host/core/module-file.js';

const require = moduleRequire(import.meta.url);

/**
 * Loads node:wasi without its one-time ExperimentalWarning on the user's stderr: zgnet uses
 * only the stable preview1 surface, and the warning would otherwise greet every user of
 * the fallback mode. Any other warning passes through.
 */
function loadWasiClass(): typeof WasiClass {
  const original = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (text.includes('WASI is an experimental feature')) return;
    return (original as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return (require('node:wasi') as { WASI: typeof WasiClass }).WASI;
  } finally {
    process.emitWarning = original;
  }
}

/** The module's exports, typed from the one list of prototypes (binding.ts, boundary.ts). */
type Exports = WasmExports<typeof CORE_EXPORTS & typeof TABLE_EXPORTS>;

/** wasm32 addresses and lengths are u32; the core's sizes never exceed this. */
const WASM_LENGTH_MAX = 0x7fff_ffff;

export class WasmCore {
  readonly exports: Exports;
  private bytes: Uint8Array;
  private stagingPtr = 0;
  private stagingLen = 0;

  constructor(exports: Exports) {
    this.exports = exports;
    this.bytes = new Uint8Array(exports.memory.buffer);
  }

  /** The module's memory as bytes, re-derived after growth. */
  memory(): Uint8Array {
    if (this.bytes.buffer !== this.exports.memory.buffer) this.bytes = new Uint8Array(this.exports.memory.buffer);
    return this.bytes;
  }

  /** A scratch region of at least `len` bytes inside wasm memory, reused between calls. */
  staging(len: number): number {
    if (len > WASM_LENGTH_MAX) throw outOfMemory(len);
    if (len > this.stagingLen) {
      if (this.stagingPtr) this.exports.zg_free(this.stagingPtr, this.stagingLen);
      const size = Math.max(len, 64 * 1024, this.stagingLen * 2);
      this.stagingPtr = this.exports.zg_alloc(size);
      if (this.stagingPtr === 0) {
        this.stagingLen = 0;
        throw outOfMemory(size);
      }
      this.stagingLen = size;
    }
    return this.stagingPtr;
  }

  /** Copies `data` into staging at `offset`; returns its address. */
  put(data: Uint8Array, offset = 0): number {
    const ptr = this.staging(offset + data.length) + offset;
    this.memory().set(data, ptr);
    return ptr;
  }

  /** A NUL-terminated string the module returned; every one is shorter than TEXT_BYTES_MAX. */
  cString(ptr: number): string | null {
    if (ptr === 0) return null;
    const mem = this.memory();
    const limit = Math.min(mem.length, ptr + TEXT_BYTES_MAX);
    let end = ptr;
    while (end < limit && mem[end] !== 0) end++;
    if (end === limit) throw new RangeError(`wasm string at ${ptr} is not terminated within ${TEXT_BYTES_MAX} bytes`);
    return Buffer.from(mem.buffer, mem.byteOffset + ptr, end - ptr).toString('latin1');
  }
}

/** More than wasm32 memory can hold: refused before it reaches the module, whose sizes are u32. */
function outOfMemory(bytes: number): ZgnetError {
  return new ZgnetError(ErrorCode.OUT_OF_MEMORY, `${bytes} bytes do not fit wasm memory`);
}

let core: WasmCore | undefined;

/** Instantiates the module once (synchronously: it is small) and returns it. */
export function loadWasmCore(): WasmCore {
  if (core) return core;
  const module = new WebAssembly.Module(fs.readFileSync(wasmModulePath()));
  const WASI = loadWasiClass();
  const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
  const instance = new WebAssembly.Instance(module, wasi.getImportObject() as WebAssembly.Imports);
  // A reactor has no _start; Zig emits no _initialize either, which initialize() accepts.
  wasi.initialize(instance);
  const exports = instance.exports as unknown as Exports;
  const version = exports.zg_abi_version();
  if (version !== ABI_VERSION) throw new Error(`wasm module speaks ABI ${version}, this host ${ABI_VERSION}: rebuild`);
  const loaded = new WasmCore(exports);
  const tables = readTables({
    itemCount: () => exports.zg_abi_item_count(),
    itemName: (i) => loaded.cString(exports.zg_abi_item_name(i)),
    itemValue: (i) => exports.zg_abi_item_value(i),
    exportCount: () => exports.zg_abi_export_count(),
    exportSignature: (i) => loaded.cString(exports.zg_abi_export_signature(i)),
  });
  checkTables('the wasm module', tables, { items: CORE_ITEMS, signatures: CORE_EXPORTS }, true);
  core = loaded;
  return core;
}

export function createWasmBinding(): CoreBinding {
  const c = loadWasmCore();
  const x = c.exports;
  const binding: CoreBinding = {
    mode: 'wasm',
    zg_status_name: (code) => c.cString(x.zg_status_name(code)),
    zg_release: (h) => x.zg_release(h),
    zg_buffer_new: (kind, size) => {
      // A ring's size is an allocation; an elastic buffer's is only a threshold.
      if (size > WASM_LENGTH_MAX && kind === BufferKind.ring) throw outOfMemory(size);
      return x.zg_buffer_new(kind, Math.min(size, WASM_LENGTH_MAX));
    },
    zg_buffer_write: (h, data) => x.zg_buffer_write(h, c.put(data), data.length),
    zg_buffer_read: (h, out) => {
      const ptr = c.staging(out.length);
      const n = x.zg_buffer_read(h, ptr, out.length);
      if (n > 0) out.set(c.memory().subarray(ptr, ptr + n));
      return n;
    },
    zg_buffer_peek: (h, out) => {
      const ptr = c.staging(out.length);
      const n = x.zg_buffer_peek(h, ptr, out.length);
      if (n > 0) out.set(c.memory().subarray(ptr, ptr + n));
      return n;
    },
    zg_buffer_discard: (h, n) => x.zg_buffer_discard(h, Math.min(n, WASM_LENGTH_MAX)),
    zg_buffer_info: (h, which) => x.zg_buffer_info(h, which),
    zg_buffer_reset: (h, release) => x.zg_buffer_reset(h, release ? 1 : 0),
    zg_codec_new_delimiter: (d, max) => x.zg_codec_new_delimiter(c.put(d), d.length, Math.min(max, WASM_LENGTH_MAX)),
    zg_codec_new_fixed_length: (n) => x.zg_codec_new_fixed_length(Math.min(n, WASM_LENGTH_MAX)),
    zg_codec_new_length_field: (be, off, len, adj, strip, max) =>
      x.zg_codec_new_length_field(be ? 1 : 0, off, len, adj, strip, Math.min(max, WASM_LENGTH_MAX)),
    zg_codec_scan: (codec, source, discard, out, offset, frames) => {
      // Staging holds the frame table (i32-aligned) first, then the payload area.
      const room = out.length - offset;
      const tableBytes = frames.length * 4;
      const base = c.staging(tableBytes + room);
      const count = x.zg_codec_scan(codec, source, discard, base + tableBytes, room, 0, base, frames.length);
      if (count > 0) {
        const mem = c.memory();
        const table = new Int32Array(mem.buffer, mem.byteOffset + base, count * FRAME_RECORD_WORDS);
        frames.set(table);
        let bytes = 0;
        for (let i = 0; i < count; i++) bytes += table[i * FRAME_RECORD_WORDS]!;
        out.set(mem.subarray(base + tableBytes, base + tableBytes + bytes), offset);
      }
      return count;
    },
    zg_codec_frame_len_required: () => x.zg_codec_frame_len_required(),
    zg_codec_encode: (codec, payload, out) => {
      // One staging region for both, reserved before copying (growing it moves it).
      const ptr = c.staging(payload.length + out.length);
      c.memory().set(payload, ptr);
      const outPtr = ptr + payload.length;
      const n = x.zg_codec_encode(codec, ptr, payload.length, outPtr, out.length);
      if (n > 0) out.set(c.memory().subarray(outPtr, outPtr + n));
      return n;
    },
    zg_codec_header: (codec, plen, out) => {
      const ptr = c.staging(out.length);
      const n = x.zg_codec_header(codec, plen, ptr, out.length);
      if (n > 0) out.set(c.memory().subarray(ptr, ptr + n));
      return n;
    },
    zg_codec_header_len: (codec) => x.zg_codec_header_len(codec),
    zg_codec_trailer_len: (codec) => x.zg_codec_trailer_len(codec),
    zg_lb_new: (policy, loops) => x.zg_lb_new(policy, loops),
    zg_lb_next: (h, addr) => {
      const bytes = Buffer.from(addr, 'latin1');
      return x.zg_lb_next(h, c.put(bytes), bytes.length);
    },
    zg_lb_update: (h, index, delta) => x.zg_lb_update(h, index, delta),
  };
  checkBindingNames('the wasm core binding', binding, CORE_EXPORTS, BINDING_DATA);
  return binding;
}
