// `prepack` / `postpack`: the packed package.json carries no scripts. `prepare` builds everything
// in a clone (`npm install` runs it), but in a tarball it is an install script npm warns about
// (`npm warn install-scripts`) with nothing to build from, and every other script runs a file of
// scripts/, which is not packed. `strip` keeps the manifest as it was in package.json.prepack and
// drops `scripts`; `restore` puts it back. A strip after a pack that died before `postpack` restores first, so nothing is lost.
import fs from 'node:fs';
import path from 'node:path';
import { root } from './zig.mjs';

const manifest = path.join(root, 'package.json');
const kept = path.join(root, 'package.json.prepack');

function restore() {
  if (fs.existsSync(kept)) fs.renameSync(kept, manifest);
}

const command = process.argv[2];
if (command === 'strip') {
  restore();
  const text = fs.readFileSync(manifest, 'utf8');
  const pkg = JSON.parse(text);
  fs.writeFileSync(kept, text);
  delete pkg.scripts;
  fs.writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
} else if (command === 'restore') {
  restore();
} else {
  console.error('usage: node scripts/pack-manifest.mjs strip|restore');
  process.exit(1);
}
