import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NATIVE_TARGETS, compareVersions, hostPlatform, targetFor } from '../host/core/platform.js';

const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
  optionalDependencies: Record<string, string>;
};
const bufferUrl = new URL('../host/buffer/index.js', import.meta.url).href;
const indexUrl = new URL('../host/index.js', import.meta.url).href;

describe('platform packages', () => {
  test('package.json lists every platform package as an optional dependency at this exact version', () => {
    const expected = Object.fromEntries(NATIVE_TARGETS.map((t) => [t.packageName, pkg.version]));
    assert.deepEqual(pkg.optionalDependencies, expected);
  });

  test('the libc detected is the one mapped into this process (Linux; elsewhere no libc is named)', () => {
    if (process.platform !== 'linux') {
      assert.equal(hostPlatform().libc, undefined);
      return;
    }
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    const mapped = /\/libc\.so\.6\b/.test(maps) ? 'glibc' : /ld-musl/.test(maps) ? 'musl' : 'unknown';
    assert.equal(hostPlatform().libc, mapped);
    const target = targetFor(hostPlatform());
    assert.equal(target?.libc, mapped);
    assert.equal(target?.cpu, process.arch);
  });

  test('targetFor picks by os, cpu and libc, and nothing where no package exists', () => {
    assert.equal(targetFor({ os: 'linux', cpu: 'arm64', libc: 'musl' })?.packageName, '@zgnet/linux-arm64-musl');
    assert.equal(targetFor({ os: 'linux', cpu: 'x64', libc: 'glibc' })?.packageName, '@zgnet/linux-x64-gnu');
    assert.equal(targetFor({ os: 'darwin', cpu: 'arm64' })?.packageName, '@zgnet/darwin-arm64');
    assert.equal(targetFor({ os: 'win32', cpu: 'x64' }), undefined);
    assert.equal(targetFor({ os: 'linux', cpu: 'ia32', libc: 'glibc' }), undefined);
  });

  test('versions compare numerically', () => {
    assert.ok(compareVersions('2.17', '2.28') < 0);
    assert.ok(compareVersions('2.28', '2.9') > 0);
    assert.equal(compareVersions('2.28', '2.28.0'), 0);
  });

  test("'auto' falling back where native was expected warns once, with the reason", () => {
    const missing = fileURLToPath(new URL('./no-such-dir/libzgnet.so', import.meta.url));
    const code = `import { RingBuffer } from '${bufferUrl}'; import { run } from '${indexUrl}';
      new RingBuffer(8); new RingBuffer(8);
      await run({ onBoot() { return 2; } }, 'tcp://127.0.0.1:0');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, ZGNET_NATIVE_LIB: missing, ZGNET_MODE: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('native library unavailable'));
    assert.equal(warnings.length, 1, r.stderr);
    assert.match(warnings[0]!, /^\[zgnet\] native library unavailable, running in wasm mode: .*no-such-dir\/libzgnet\.so \(ZGNET_NATIVE_LIB\) does not exist$/);
  });
});
