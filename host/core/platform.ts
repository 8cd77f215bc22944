/**
 * The platforms zgnet ships a native library for, one npm package each (`npm run package`
 * builds them), and which of them this process needs. One table for the loader, the packaging
 * script and the tests.
 */

export type Libc = 'glibc' | 'musl';

export interface NativeTarget {
  /** The platform package, e.g. `@zgnet/linux-x64-gnu`. */
  packageName: string;
  /** `process.platform` and `process.arch` (also the package's `os`/`cpu` fields). */
  os: 'linux' | 'darwin';
  cpu: 'x64' | 'arm64';
  /** Linux only: the package's `libc` field. */
  libc?: Libc;
  /** The `-Dtarget=` Zig builds it for; glibc targets name their floor. */
  zigTarget: string;
  /** The library's file name inside the package. */
  file: string;
}

/** Oldest glibc the glibc builds link against (Debian 10, RHEL 8, Ubuntu 18.10 and newer). */
export const GLIBC_FLOOR = '2.28';

export const NATIVE_TARGETS: readonly NativeTarget[] = [
  { packageName: '@zgnet/linux-x64-gnu', os: 'linux', cpu: 'x64', libc: 'glibc', zigTarget: `x86_64-linux-gnu.${GLIBC_FLOOR}`, file: 'libzgnet.so' },
  { packageName: '@zgnet/linux-x64-musl', os: 'linux', cpu: 'x64', libc: 'musl', zigTarget: 'x86_64-linux-musl', file: 'libzgnet.so' },
  { packageName: '@zgnet/linux-arm64-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc', zigTarget: `aarch64-linux-gnu.${GLIBC_FLOOR}`, file: 'libzgnet.so' },
  { packageName: '@zgnet/linux-arm64-musl', os: 'linux', cpu: 'arm64', libc: 'musl', zigTarget: 'aarch64-linux-musl', file: 'libzgnet.so' },
  { packageName: '@zgnet/darwin-x64', os: 'darwin', cpu: 'x64', zigTarget: 'x86_64-macos', file: 'libzgnet.dylib' },
  { packageName: '@zgnet/darwin-arm64', os: 'darwin', cpu: 'arm64', zigTarget: 'aarch64-macos', file: 'libzgnet.dylib' },
];

export interface HostPlatform {
  os: string;
  cpu: string;
  /** Linux: the C library Node itself runs on; undefined elsewhere. */
  libc?: Libc;
  /** glibc's version when `libc` is glibc, e.g. `2.36`. */
  glibcVersion?: string;
}

let host: HostPlatform | undefined;

/**
 * This process's platform. The libc is the one Node is linked against: Node's diagnostic
 * report names a glibc runtime version exactly when it runs on glibc (what detect-libc relies
 * on too); no version means musl.
 */
export function hostPlatform(): HostPlatform {
  if (host) return host;
  host = { os: process.platform, cpu: process.arch };
  if (process.platform === 'linux') {
    // The report's network section can stall on DNS; it is not needed here.
    const report = process.report as NodeJS.ProcessReport & { excludeNetwork?: boolean };
    const excluded = report.excludeNetwork;
    report.excludeNetwork = true;
    try {
      const header = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
      host.glibcVersion = header?.glibcVersionRuntime;
    } finally {
      report.excludeNetwork = excluded;
    }
    host.libc = host.glibcVersion ? 'glibc' : 'musl';
  }
  return host;
}

/** The target whose package this process loads, or undefined where zgnet ships none. */
export function targetFor(p: HostPlatform): NativeTarget | undefined {
  return NATIVE_TARGETS.find((t) => t.os === p.os && t.cpu === p.cpu && (t.libc === undefined || t.libc === p.libc));
}

/** Compares dotted versions numerically: negative when `a` is older than `b`. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
