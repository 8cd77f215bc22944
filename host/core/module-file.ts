/**
 * The file a module runs from, for the modules that locate files or `require` packages relative
 * to themselves. Under ESM (the package as published, or an ESM bundle) that is `import.meta.url`;
 * in a CommonJS bundle (esbuild's default `--format=cjs` with `--platform=node`) esbuild empties
 * `import.meta`, so the bundle's own `__filename` stands in, and without either the working
 * directory does (`require` then resolves from the app's node_modules).
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The absolute path of the running module; pass `import.meta.url` (undefined in a CJS bundle). */
export function moduleFile(metaUrl: string | undefined): string {
  if (typeof metaUrl === 'string' && metaUrl.length > 0) return fileURLToPath(metaUrl);
  if (typeof __filename === 'string') return __filename;
  return path.join(process.cwd(), '[zgnet]');
}

/** The directory of the running module. */
export function moduleDir(metaUrl: string | undefined): string {
  return path.dirname(moduleFile(metaUrl));
}

/** A `require` that resolves from the running module, in ESM and in a CJS bundle alike. */
export function moduleRequire(metaUrl: string | undefined): NodeJS.Require {
  return createRequire(moduleFile(metaUrl));
}
