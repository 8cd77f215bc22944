// Bun, a competitor in the benchmark: installed by the bench itself from npm into a cache
// directory (node_modules/.cache/zgnet-bench-bun), not a dependency of the project, so that
// `npm install` does not fetch its ~100 MiB binary. The binary ships inside the package
// (@oven/bun-linux-x64); npm runs no install script for it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const BUN_VERSION = '1.4.4';
const PACKAGES = { 'linux x64': '@oven/bun-linux-x64' };

/** The path of the bun binary, installing it when missing; or { na: reason }. */
export function ensureBun(root, log = (line) => console.log(line)) {
  const pkg = PACKAGES[`${process.platform} ${process.arch}`];
  if (!pkg) return { na: `no Bun package for ${process.platform} ${process.arch} in the bench` };
  const dir = path.join(root, 'node_modules', '.cache', 'zgnet-bench-bun');
  const bin = path.join(dir, 'node_modules', ...pkg.split('/'), 'bin', 'bun');
  const ok = () => spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 }).stdout?.trim() === BUN_VERSION;
  if (fs.existsSync(bin) && ok()) return { bin };
  fs.mkdirSync(dir, { recursive: true });
  // its own package.json, so that npm installs here and never into the project
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "private": true }\n');
  log(`installing ${pkg}@${BUN_VERSION} into ${path.relative(root, dir)} (npm install --no-save)`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', `${pkg}@${BUN_VERSION}`], {
    cwd: dir, encoding: 'utf8', timeout: 300_000,
  });
  if (fs.existsSync(bin) && ok()) return { bin };
  const why = `${r.error?.message ?? ''}${r.stderr ?? ''}`.trim().split('\n').pop() || `exit ${r.status}`;
  return { na: `Bun could not be installed from npm: ${why}` };
}
