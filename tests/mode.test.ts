import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const indexUrl = new URL('../host/index.js', import.meta.url).href;
const bufferUrl = new URL('../host/buffer/index.js', import.meta.url).href;

/** Runs a snippet in a fresh process (bindings are cached per process) and returns its stdout. */
function probe(code: string, env: Record<string, string | undefined>): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

const missingLibrary = fileURLToPath(new URL('./no-such-dir/libzgnet.so', import.meta.url));

describe('mode selection', () => {
  test("'auto' falls back to wasm when the native library cannot load", () => {
    const out = probe(`import { RingBuffer } from '${bufferUrl}'; console.log(new RingBuffer(8).mode);`, {
      ZGNET_NATIVE_LIB: missingLibrary,
      ZGNET_MODE: undefined,
    });
    assert.equal(out, 'wasm');
  });

  test("'native' where it cannot load throws ERR_NATIVE_UNAVAILABLE naming the path", () => {
    const out = probe(
      `import { RingBuffer } from '${bufferUrl}';
       try { new RingBuffer(8, { mode: 'native' }); console.log('loaded'); }
       catch (e) { console.log(e.code + ' ' + e.message.includes('no-such-dir')); }`,
      { ZGNET_NATIVE_LIB: missingLibrary, ZGNET_MODE: undefined },
    );
    assert.equal(out, 'ERR_NATIVE_UNAVAILABLE true');
  });

  test('ZGNET_MODE overrides auto, explicit modes override ZGNET_MODE', () => {
    const code = `import { RingBuffer } from '${bufferUrl}'; import { resolveMode } from '${indexUrl}';
      console.log(resolveMode(), new RingBuffer(1).mode, new RingBuffer(1, { mode: 'native' }).mode);`;
    assert.equal(probe(code, { ZGNET_MODE: 'wasm' }), 'wasm wasm native');
    assert.equal(probe(code, { ZGNET_MODE: 'native' }), 'native native native');
    assert.equal(probe(code, { ZGNET_MODE: undefined }), 'native native native');
  });

  test('a wrong mode value is ERR_INVALID_OPTION', () => {
    const out = probe(
      `import { RingBuffer } from '${bufferUrl}';
       try { new RingBuffer(1, { mode: 'fast' }); } catch (e) { console.log(e.code); }`,
      {},
    );
    assert.equal(out, 'ERR_INVALID_OPTION');
  });
});
