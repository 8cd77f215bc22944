/**
 * Where the artifacts are: the native library (override, platform package, development
 * build, in that order) and the wasm module, from an installed package, a clone, or a bundle.
 * When the native library does not load, `explainLoadFailure` says why in words a user can act
 * on (wrong architecture, glibc too old, which package is missing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { moduleDir, moduleRequire } from './module-file.js';
import { GLIBC_FLOOR, compareVersions, hostPlatform, targetFor, type Libc } from './platform.js';

const require = moduleRequire(import.meta.url);
const here = moduleDir(import.meta.url);
/** The package root when this file runs from `dist/host/core/` (a clone or an installed package). */
const packageRoot = path.resolve(here, '../../..');

export interface LibraryCandidate {
  path: string;
  /** `ZGNET_NATIVE_LIB`, the platform package's name, or `development build`. */
  origin: string;
}

export interface LibraryCandidates {
  candidates: LibraryCandidate[];
  /** Why there is no candidate from a package: the missing package, or no package for this platform. */
  packageProblem?: string;
}

function resolvePackageDir(name: string): string | undefined {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

/** The libraries to try, in order: `ZGNET_NATIVE_LIB` alone when set; else the platform package, then `zig-out/lib`. */
export function nativeLibraryCandidates(): LibraryCandidates {
  const override = process.env.ZGNET_NATIVE_LIB;
  if (override) return { candidates: [{ path: path.resolve(override), origin: 'ZGNET_NATIVE_LIB' }] };
  const platform = hostPlatform();
  const target = targetFor(platform);
  const candidates: LibraryCandidate[] = [];
  let packageProblem: string | undefined;
  if (target) {
    const dir = resolvePackageDir(target.packageName);
    if (dir) candidates.push({ path: path.join(dir, target.file), origin: target.packageName });
    else packageProblem = `package ${target.packageName} is not installed (npm skips optional dependencies with --omit=optional or --no-optional; reinstall without it)`;
  } else {
    const libc = platform.libc ? `-${platform.libc}` : '';
    packageProblem = `zgnet ships no native library for ${platform.os}-${platform.cpu}${libc}`;
  }
  const dev = path.join(packageRoot, 'zig-out', 'lib', process.platform === 'darwin' ? 'libzgnet.dylib' : 'libzgnet.so');
  if (fs.existsSync(dev)) candidates.push({ path: dev, origin: 'development build' });
  return { candidates, packageProblem };
}

/** What a library file was built for, read from its header (ELF or Mach-O, 64-bit). */
function binaryKind(file: string): { format: string; arch?: string } | undefined {
  let header: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      header = Buffer.alloc(20);
      fs.readSync(fd, header, 0, 20, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  if (header.readUInt32BE(0) === 0x7f454c46) {
    const machine = header.readUInt16LE(18);
    const arch = { 0x3e: 'x64', 0xb7: 'arm64', 0x03: 'ia32', 0x28: 'arm' }[machine] ?? `ELF machine ${machine}`;
    return { format: 'ELF', arch: header[4] === 1 && arch === 'x64' ? 'ia32' : arch };
  }
  if (header.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = header.readUInt32LE(4);
    return { format: 'Mach-O', arch: { 0x01000007: 'x64', 0x0100000c: 'arm64' }[cpu] ?? `Mach-O cpu ${cpu}` };
  }
  return { format: 'unknown' };
}

/** Which C library an ELF library links: its DT_NEEDED names glibc's `libc.so.6` or musl's `libc.so`. */
function neededLibc(file: string): Libc | undefined {
  const bytes = fs.readFileSync(file);
  if (bytes.includes('\0libc.so.6\0')) return 'glibc';
  if (bytes.includes('\0libc.so\0')) return 'musl';
  return undefined;
}

/** Turns a failed load of `candidate` into the reason a user can act on. */
export function explainLoadFailure(candidate: LibraryCandidate, err: Error): string {
  const where = `${candidate.path} (${candidate.origin})`;
  if (!fs.existsSync(candidate.path)) return `${where} does not exist`;
  const kind = binaryKind(candidate.path);
  const wantFormat = process.platform === 'darwin' ? 'Mach-O' : 'ELF';
  if (kind && kind.format !== wantFormat) return `${where} is a ${kind.format} file, not a ${wantFormat} library for ${process.platform}`;
  if (kind?.arch && kind.arch !== process.arch) return `${where} is built for ${kind.arch}, this process is ${process.arch} (wrong architecture)`;
  const platform = hostPlatform();
  const libc = kind?.format === 'ELF' ? neededLibc(candidate.path) : undefined;
  if (libc && platform.libc && libc !== platform.libc) {
    return `${where} is built for ${libc}, this Node runs on ${platform.libc} (wrong libc): ${err.message}`;
  }
  if (platform.libc === 'glibc' && platform.glibcVersion && compareVersions(platform.glibcVersion, GLIBC_FLOOR) < 0) {
    return `${where} needs glibc ${GLIBC_FLOOR} or newer, this system has ${platform.glibcVersion} (glibc too old): ${err.message}`;
  }
  return `${where}: ${err.message}`;
}

/**
 * The wasm module: `ZGNET_WASM_MODULE`, else the package's own `wasm/zgnet.wasm`, else
 * a `zgnet.wasm` next to this file (a bundle with the module copied beside it), else the one in
 * an installed `zgnet` package (a bundle that kept node_modules).
 */
export function wasmModulePath(): string {
  const override = process.env.ZGNET_WASM_MODULE;
  if (override) return path.resolve(override);
  const tried = [path.join(packageRoot, 'wasm', 'zgnet.wasm'), path.join(here, 'zgnet.wasm')];
  try {
    tried.push(require.resolve('zgnet/zgnet.wasm'));
  } catch {
    // not installed as a package: the paths above are all there is
  }
  const found = tried.find((p) => fs.existsSync(p));
  if (found) return found;
  throw new Error(
    `zgnet.wasm not found (looked at ${tried.join(', ')}); set ZGNET_WASM_MODULE to its path, or copy node_modules/zgnet/wasm/zgnet.wasm next to your bundle`,
  );
}
