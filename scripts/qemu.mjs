// qemu-user for the aarch64 Zig tests: Zig's `-fqemu` runs foreign test binaries with
// `qemu-aarch64` from PATH. Installed with apt-get (Debian package `qemu-user`) when missing,
// which needs root, as CI has; elsewhere the error says what to install.
import { spawnSync } from 'node:child_process';

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export function ensureQemu() {
  if (onPath('qemu-aarch64')) return;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    throw new Error('qemu-aarch64 not found: install qemu-user (Debian/Ubuntu: apt-get install qemu-user), or set ZGNET_TEST_QEMU=0 to skip the arm64 run');
  }
  console.log('qemu-aarch64 not found: apt-get install qemu-user');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'qemu-user']]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.status})`);
  }
}
