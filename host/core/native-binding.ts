/**
 * Loads the native library with koffi. Byte arguments are Buffers that koffi passes as
 * pointers without copying (~42 ns a call, measured with koffi 3.3.4 on Node 20).
 */
import { ABI_VERSION, BINDING_DATA, CORE_EXPORTS, CORE_ITEMS, type CoreBinding } from './binding.js';
import { checkBindingNames, checkTables, readTables, TABLE_EXPORTS, type ArtifactTables } from './boundary.js';
import { explainLoadFailure, nativeLibraryCandidates } from './locate.js';
import { moduleRequire } from './module-file.js';

const require = moduleRequire(import.meta.url);

// koffi's own types are loose; the library handle is typed by what we declare below.
type Koffi = typeof import('koffi');
let koffiModule: Koffi | undefined;

export function loadKoffi(): Koffi {
  koffiModule ??= require('koffi') as Koffi;
  return koffiModule;
}

export interface NativeLibrary {
  koffi: Koffi;
  lib: ReturnType<Koffi['load']>;
  /** What the library says of itself; the engine checks its own part (native/binding.ts). */
  tables: ArtifactTables;
  /** The file that loaded. */
  path: string;
}

let loaded: NativeLibrary | undefined;

/**
 * Opens the shared library once, trying `nativeLibraryCandidates()` in order; throws with the
 * reason of every candidate (or the missing package) when none loads, or when the one that
 * loads speaks another ABI or its core tables differ from this host's.
 */
export function openNativeLibrary(): NativeLibrary {
  if (loaded) return loaded;
  const { candidates, packageProblem } = nativeLibraryCandidates();
  const reasons = packageProblem ? [packageProblem] : [];
  if (candidates.length > 0) {
    let koffi: Koffi;
    try {
      koffi = loadKoffi();
    } catch (err) {
      throw new Error(`koffi cannot load: ${(err as Error).message}`, { cause: err });
    }
    for (const candidate of candidates) {
      let lib: ReturnType<Koffi['load']>;
      try {
        lib = koffi.load(candidate.path);
      } catch (err) {
        reasons.push(explainLoadFailure(candidate, err as Error));
        continue;
      }
      try {
        const version = lib.func(CORE_EXPORTS.zg_abi_version)() as number;
        if (version !== ABI_VERSION) {
          throw new Error(`speaks ABI ${version}, this host ${ABI_VERSION}: install matching versions, or rebuild with 'npm run build'`);
        }
        const tables = readTables({
          itemCount: lib.func(TABLE_EXPORTS.zg_abi_item_count) as () => number,
          itemName: lib.func(TABLE_EXPORTS.zg_abi_item_name) as (i: number) => string | null,
          itemValue: lib.func(TABLE_EXPORTS.zg_abi_item_value) as (i: number) => number,
          exportCount: lib.func(TABLE_EXPORTS.zg_abi_export_count) as () => number,
          exportSignature: lib.func(TABLE_EXPORTS.zg_abi_export_signature) as (i: number) => string | null,
        });
        checkTables('the native library', tables, { items: CORE_ITEMS, signatures: CORE_EXPORTS }, false);
        loaded = { koffi, lib, tables, path: candidate.path };
        return loaded;
      } catch (err) {
        lib.unload();
        reasons.push(`${candidate.path} (${candidate.origin}): ${(err as Error).message}`);
      }
    }
  }
  throw new Error(reasons.join('; '));
}

export function createNativeBinding(): CoreBinding {
  const { lib } = openNativeLibrary();
  const x = CORE_EXPORTS;
  const fn = (signature: string) => lib.func(signature) as (...args: unknown[]) => number;
  // The library's functions, each under its export's name; the binding adapts their arguments.
  const raw = {
    zg_status_name: lib.func(x.zg_status_name) as (code: number) => string | null,
    zg_release: fn(x.zg_release),
    zg_buffer_new: fn(x.zg_buffer_new),
    zg_buffer_write: fn(x.zg_buffer_write),
    zg_buffer_read: fn(x.zg_buffer_read),
    zg_buffer_peek: fn(x.zg_buffer_peek),
    zg_buffer_discard: fn(x.zg_buffer_discard),
    zg_buffer_info: fn(x.zg_buffer_info),
    zg_buffer_reset: fn(x.zg_buffer_reset),
    zg_codec_new_delimiter: fn(x.zg_codec_new_delimiter),
    zg_codec_new_fixed_length: fn(x.zg_codec_new_fixed_length),
    zg_codec_new_length_field: fn(x.zg_codec_new_length_field),
    zg_codec_scan: fn(x.zg_codec_scan),
    zg_codec_frame_len_required: fn(x.zg_codec_frame_len_required),
    zg_codec_encode: fn(x.zg_codec_encode),
    zg_codec_header: fn(x.zg_codec_header),
    zg_codec_header_len: fn(x.zg_codec_header_len),
    zg_codec_trailer_len: fn(x.zg_codec_trailer_len),
    zg_lb_new: fn(x.zg_lb_new),
    zg_lb_next: fn(x.zg_lb_next),
    zg_lb_update: fn(x.zg_lb_update),
  };

  const binding: CoreBinding = {
    mode: 'native',
    zg_status_name: (code) => raw.zg_status_name(code),
    zg_release: (h) => raw.zg_release(h),
    zg_buffer_new: (kind, size) => raw.zg_buffer_new(kind, size),
    zg_buffer_write: (h, data) => raw.zg_buffer_write(h, data, data.length),
    zg_buffer_read: (h, out) => raw.zg_buffer_read(h, out, out.length),
    zg_buffer_peek: (h, out) => raw.zg_buffer_peek(h, out, out.length),
    zg_buffer_discard: (h, n) => raw.zg_buffer_discard(h, n),
    zg_buffer_info: (h, which) => raw.zg_buffer_info(h, which),
    zg_buffer_reset: (h, release) => raw.zg_buffer_reset(h, release ? 1 : 0),
    zg_codec_new_delimiter: (d, max) => raw.zg_codec_new_delimiter(d, d.length, max),
    zg_codec_new_fixed_length: (n) => raw.zg_codec_new_fixed_length(n),
    zg_codec_new_length_field: (be, off, len, adj, strip, max) => raw.zg_codec_new_length_field(be ? 1 : 0, off, len, adj, strip, max),
    zg_codec_scan: (codec, source, discard, out, offset, frames) =>
      raw.zg_codec_scan(codec, source, discard, out, out.length, offset, frames, frames.length),
    zg_codec_frame_len_required: () => raw.zg_codec_frame_len_required(),
    zg_codec_encode: (codec, payload, out) => raw.zg_codec_encode(codec, payload, payload.length, out, out.length),
    zg_codec_header: (codec, plen, out) => raw.zg_codec_header(codec, plen, out, out.length),
    zg_codec_header_len: (codec) => raw.zg_codec_header_len(codec),
    zg_codec_trailer_len: (codec) => raw.zg_codec_trailer_len(codec),
    zg_lb_new: (policy, loops) => raw.zg_lb_new(policy, loops),
    zg_lb_next: (h, addr) => {
      const bytes = Buffer.from(addr, 'latin1');
      return raw.zg_lb_next(h, bytes, bytes.length);
    },
    zg_lb_update: (h, index, delta) => raw.zg_lb_update(h, index, delta),
  };
  checkBindingNames('the native core binding', binding, CORE_EXPORTS, BINDING_DATA);
  return binding;
}
