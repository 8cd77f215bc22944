// `npm run build` (and `prepare`, so `npm install` in a clone builds everything):
// the native library and the wasm module with Zig, then the TypeScript.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root, zig } from './zig.mjs';

const optimize = process.env.ZGNET_OPTIMIZE ?? 'ReleaseFast';
const ms = zig(['build', `-Doptimize=${optimize}`, '-Dcpu=baseline']);
console.log(`zig build (${optimize}): ${(ms / 1000).toFixed(1)} s`);

const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const result = spawnSync(process.execPath, [tsc, '-p', root], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
// tsc emits no copy of a hand-written declaration file; host/node-types.d.ts says why it is one.
fs.copyFileSync(path.join(root, 'host', 'node-types.d.ts'), path.join(root, 'dist', 'host', 'node-types.d.ts'));
console.log('tsc: done');
