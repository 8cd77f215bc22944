/**
 * Loads the native library with koffi. Byte arguments are Buffers that koffi passes as
 * pointers without copying (~42 ns a call, shared/DESIGN.md).
 */
import { createRequire } from 'node:module';
import { ABI_VERSION, type CoreBinding } from './binding.js';
import { explainLoadFailure, nativeLibraryCandidates } from './locate.js';

const require = createRequire(import.meta.url);

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
  /** The file that loaded. */
  path: string;
}

let loaded: NativeLibrary | undefined;

/**
 * Opens the shared library once, trying `nativeLibraryCandidates()` in order; throws with the
 * reason of every candidate (or the missing package) when none loads.
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
      const version = lib.func('uint32_t zg_abi_version()')() as number;
      if (version !== ABI_VERSION) {
        lib.unload();
        reasons.push(`${candidate.path} (${candidate.origin}) speaks ABI ${version}, this host ${ABI_VERSION}: install matching versions, or rebuild with 'npm run build'`);
        continue;
      }
      loaded = { koffi, lib, path: candidate.path };
      return loaded;
    }
  }
  throw new Error(reasons.join('; '));
}

export function createNativeBinding(): CoreBinding {
  const { lib } = openNativeLibrary();
  const fn = (signature: string) => lib.func(signature) as (...args: unknown[]) => number;
  const statusName = lib.func('const char *zg_status_name(int32_t code)') as (code: number) => string | null;
  const release = fn('intptr_t zg_release(int32_t handle)');
  const bufferNew = fn('intptr_t zg_buffer_new(uint32_t kind, uintptr_t size)');
  const bufferWrite = fn('intptr_t zg_buffer_write(int32_t h, const uint8_t *ptr, uintptr_t len)');
  const bufferRead = fn('intptr_t zg_buffer_read(int32_t h, uint8_t *ptr, uintptr_t len)');
  const bufferPeek = fn('intptr_t zg_buffer_peek(int32_t h, uint8_t *ptr, uintptr_t len)');
  const bufferDiscard = fn('intptr_t zg_buffer_discard(int32_t h, uintptr_t n)');
  const bufferInfo = fn('intptr_t zg_buffer_info(int32_t h, uint32_t which)');
  const bufferReset = fn('intptr_t zg_buffer_reset(int32_t h, uint32_t release)');
  const codecNewDelimiter = fn('intptr_t zg_codec_new_delimiter(const uint8_t *ptr, uintptr_t len, uintptr_t max)');
  const codecNewFixedLength = fn('intptr_t zg_codec_new_fixed_length(uintptr_t n)');
  const codecNewLengthField = fn(
    'intptr_t zg_codec_new_length_field(uint32_t be, uintptr_t off, uintptr_t len, intptr_t adj, uintptr_t strip, uintptr_t max)',
  );
  const codecScan = fn(
    'intptr_t zg_codec_scan(int32_t codec, int32_t source, uintptr_t discard, uint8_t *out, uintptr_t len, uintptr_t offset, int32_t *frames, uintptr_t nframes)',
  );
  const codecFrameLenRequired = fn('intptr_t zg_codec_frame_len_required()');
  const codecEncode = fn('intptr_t zg_codec_encode(int32_t codec, const uint8_t *p, uintptr_t plen, uint8_t *out, uintptr_t olen)');
  const codecHeader = fn('intptr_t zg_codec_header(int32_t codec, uintptr_t plen, uint8_t *out, uintptr_t olen)');
  const codecHeaderLen = fn('intptr_t zg_codec_header_len(int32_t codec)');
  const codecTrailerLen = fn('intptr_t zg_codec_trailer_len(int32_t codec)');
  const lbNew = fn('intptr_t zg_lb_new(uint32_t policy, uint32_t loops)');
  const lbNext = fn('intptr_t zg_lb_next(int32_t h, const uint8_t *addr, uintptr_t len)');
  const lbUpdate = fn('intptr_t zg_lb_update(int32_t h, uint32_t index, int32_t delta)');

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
