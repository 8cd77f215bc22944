/**
 * Loads the native library with koffi. Byte arguments are Buffers that koffi passes as
 * pointers without copying (~42 ns a call, measured with koffi 3.3.4 on Node 20).
 */
import { ABI_VERSION, CORE_EXPORTS, CORE_ITEMS, type CoreBinding } from './binding.js';
import { checkTables, readTables, TABLE_EXPORTS, type ArtifactTables } from './boundary.js';
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
  const statusName = lib.func(x.zg_status_name) as (code: number) => string | null;
  const release = fn(x.zg_release);
  const bufferNew = fn(x.zg_buffer_new);
  const bufferWrite = fn(x.zg_buffer_write);
  const bufferRead = fn(x.zg_buffer_read);
  const bufferPeek = fn(x.zg_buffer_peek);
  const bufferDiscard = fn(x.zg_buffer_discard);
  const bufferInfo = fn(x.zg_buffer_info);
  const bufferReset = fn(x.zg_buffer_reset);
  const codecNewDelimiter = fn(x.zg_codec_new_delimiter);
  const codecNewFixedLength = fn(x.zg_codec_new_fixed_length);
  const codecNewLengthField = fn(x.zg_codec_new_length_field);
  const codecScan = fn(x.zg_codec_scan);
  const codecFrameLenRequired = fn(x.zg_codec_frame_len_required);
  const codecEncode = fn(x.zg_codec_encode);
  const codecHeader = fn(x.zg_codec_header);
  const codecHeaderLen = fn(x.zg_codec_header_len);
  const codecTrailerLen = fn(x.zg_codec_trailer_len);
  const lbNew = fn(x.zg_lb_new);
  const lbNext = fn(x.zg_lb_next);
  const lbUpdate = fn(x.zg_lb_update);

  return {
    mode: 'native',
    statusName: (code) => statusName(code),
    release: (h) => release(h),
    bufferNew: (kind, size) => bufferNew(kind, size),
    bufferWrite: (h, data) => bufferWrite(h, data, data.length),
    bufferRead: (h, out) => bufferRead(h, out, out.length),
    bufferPeek: (h, out) => bufferPeek(h, out, out.length),
    bufferDiscard: (h, n) => bufferDiscard(h, n),
    bufferInfo: (h, which) => bufferInfo(h, which),
    bufferReset: (h, release) => bufferReset(h, release ? 1 : 0),
    codecNewDelimiter: (d, max) => codecNewDelimiter(d, d.length, max),
    codecNewFixedLength: (n) => codecNewFixedLength(n),
    codecNewLengthField: (be, off, len, adj, strip, max) => codecNewLengthField(be ? 1 : 0, off, len, adj, strip, max),
    codecScan: (codec, source, discard, out, offset, frames) =>
      codecScan(codec, source, discard, out, out.length, offset, frames, frames.length),
    codecFrameLenRequired: () => codecFrameLenRequired(),
    codecEncode: (codec, payload, out) => codecEncode(codec, payload, payload.length, out, out.length),
    codecHeader: (codec, plen, out) => codecHeader(codec, plen, out, out.length),
    codecHeaderLen: (codec) => codecHeaderLen(codec),
    codecTrailerLen: (codec) => codecTrailerLen(codec),
    lbNew: (policy, loops) => lbNew(policy, loops),
    lbNext: (h, addr) => {
      const bytes = Buffer.from(addr, 'latin1');
      return lbNext(h, bytes, bytes.length);
    },
    lbUpdate: (h, index, delta) => lbUpdate(h, index, delta),
  };
}
