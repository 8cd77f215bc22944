// `npm run package`: cross-builds the native library for every platform zgnet ships
// (host/core/platform.ts: NATIVE_TARGETS; glibc builds link against glibc 2.28) and lays out one
// npm package per platform in packages/<platform>/, ready for `npm pack`/`npm publish`. Checks
// that each library exports every symbol the host binds, that no glibc build needs a newer
// glibc than the floor, and that package.json lists exactly these packages at this version.
// Then packs zgnet and every platform package into packages/tarballs/ (what `npm install` takes
// while the packages are not on the registry; docs/install.md), npm's pack report for each in
// packages/tarballs/pack.json.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { boundSymbols, readLibrary } from './symbols.mjs';
import { root, zig } from './zig.mjs';

const platformModule = path.join(root, 'dist', 'host', 'core', 'platform.js');
if (!fs.existsSync(platformModule)) {
  console.error('dist/host/core/platform.js missing: run `npm run build` first');
  process.exit(1);
}
const { NATIVE_TARGETS, GLIBC_FLOOR, compareVersions } = await import(pathToFileURL(platformModule).href);
const main = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const outDir = path.join(root, 'packages');

/** The platform part of a package name: `@zgnet/linux-x64-gnu` → `linux-x64-gnu`. */
export const packageDirName = (name) => name.split('/').pop();

const expected = Object.fromEntries(NATIVE_TARGETS.map((t) => [t.packageName, main.version]));
const sorted = (o) => JSON.stringify(Object.entries(o ?? {}).sort());
if (sorted(main.optionalDependencies) !== sorted(expected)) {
  console.error(`package.json optionalDependencies must be exactly ${JSON.stringify(expected)}`);
  process.exit(1);
}

const bound = boundSymbols();
const license = fs.readFileSync(path.join(root, 'LICENSE'));
let failures = 0;
fs.mkdirSync(outDir, { recursive: true });
for (const t of NATIVE_TARGETS) {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'zgnet-package-'));
  const ms = zig(['build', 'native', `-Dtarget=${t.zigTarget}`, '-Doptimize=ReleaseFast', '-Dcpu=baseline', '--prefix', prefix]);
  const dir = path.join(outDir, packageDirName(t.packageName));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(prefix, 'lib', t.file), path.join(dir, t.file));
  fs.rmSync(prefix, { recursive: true, force: true });

  const manifest = {
    name: t.packageName,
    version: main.version,
    description: `zgnet's native library for ${t.os}-${t.cpu}${t.libc ? ` (${t.libc})` : ''}; installed by zgnet as an optional dependency`,
    license: main.license,
    repository: main.repository,
    homepage: main.homepage,
    os: [t.os],
    cpu: [t.cpu],
    ...(t.libc ? { libc: [t.libc] } : {}),
    files: [t.file],
  };
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'LICENSE'), license);
  fs.writeFileSync(
    path.join(dir, 'README.md'),
    `# ${t.packageName}\n\nThe native library (\`${t.file}\`, Zig target \`${t.zigTarget}\`) of [zgnet](${main.homepage}) for ${t.os} ${t.cpu}${t.libc ? ` with ${t.libc}` : ''}. Install \`zgnet\`, not this package: npm picks the package of your platform.\n`,
  );

  const lib = readLibrary(path.join(dir, t.file));
  const exported = new Set(lib.exports);
  const missing = bound.filter((s) => !exported.has(s));
  const glibcOk = !t.libc || t.libc !== 'glibc' || (lib.glibc !== undefined && compareVersions(lib.glibc, GLIBC_FLOOR) <= 0);
  const size = fs.statSync(path.join(dir, t.file)).size;
  console.log(
    `${t.packageName.padEnd(24)} ${lib.format.padEnd(6)} ${(size / 1024).toFixed(0).padStart(4)} KiB  ${(ms / 1000).toFixed(1).padStart(5)} s  ` +
      `exports ${bound.length - missing.length}/${bound.length} bound symbols` +
      (t.libc === 'glibc' ? `, needs glibc ${lib.glibc ?? '?'} (floor ${GLIBC_FLOOR})` : ''),
  );
  if (missing.length > 0) console.error(`  missing: ${missing.join(', ')}`);
  if (!glibcOk) console.error(`  needs glibc ${lib.glibc}, newer than the floor ${GLIBC_FLOOR}`);
  if (missing.length > 0 || !glibcOk || lib.format !== (t.os === 'darwin' ? 'Mach-O' : 'ELF')) failures++;
}
if (failures > 0) {
  console.error(`${failures} platform package(s) failed their checks`);
  process.exit(1);
}
console.log(`packages/: ${NATIVE_TARGETS.length} platform packages, version ${main.version}`);

const tarballs = path.join(outDir, 'tarballs');
fs.rmSync(tarballs, { recursive: true, force: true });
fs.mkdirSync(tarballs);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const report = [];
for (const dir of [root, ...NATIVE_TARGETS.map((t) => path.join(outDir, packageDirName(t.packageName)))]) {
  // The main package's prepack/postpack (scripts/pack-manifest.mjs) leave its scripts out.
  const r = spawnSync(npm, ['pack', '--json', '--pack-destination', tarballs], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`npm pack in ${path.relative(root, dir) || '.'} failed (exit ${r.status}):\n${r.stderr}`);
    process.exit(1);
  }
  const [info] = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')));
  report.push(info);
  console.log(`${info.name.padEnd(24)} ${info.filename} (${info.files.length} files, ${info.size} B)`);
}
fs.writeFileSync(path.join(tarballs, 'pack.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(`packages/tarballs/: ${report.length} tarballs`);
