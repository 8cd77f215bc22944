/**
 * scripts/apt.mjs's decision, taken before `npm test` (or a benchmark) starts: nothing to do
 * when every command is there; install when root with apt-get; otherwise one message naming the
 * Debian packages and the apt-get command, never an install attempt.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

// the source tree's scripts/ (not compiled): two levels up from dist/tests
const apt = (await import(new URL('../../scripts/apt.mjs', import.meta.url).href)) as typeof import('../scripts/apt.mjs');

const needs = [...apt.QEMU, ...apt.REDIS_TOOLS];
const onPath = (...cmds: string[]) => (cmd: string) => cmds.includes(cmd);

describe('apt install plan', () => {
  test('everything present: no plan, whoever runs it', () => {
    const all = onPath('qemu-aarch64', 'redis-cli', 'redis-benchmark', 'redis-server');
    assert.equal(apt.installPlan(needs, { present: all, isRoot: false, hasApt: false }), null);
    assert.equal(apt.installPlan(needs, { present: all, isRoot: true, hasApt: true }), null);
  });

  test('not root: the missing packages once each, and the sudo apt-get command', () => {
    const plan = apt.installPlan(needs, { present: onPath('redis-server'), isRoot: false, hasApt: true });
    assert.ok(plan);
    assert.equal(plan.canInstall, false);
    assert.deepEqual(plan.pkgs, ['qemu-user', 'redis-tools']);
    assert.deepEqual(plan.missing.map((n) => n.cmd), ['qemu-aarch64', 'redis-cli', 'redis-benchmark']);
    assert.equal(plan.command, 'sudo apt-get install -y qemu-user redis-tools');
    assert.equal(
      plan.message,
      'qemu-aarch64, redis-cli, redis-benchmark not installed: install the Debian packages qemu-user redis-tools (sudo apt-get install -y qemu-user redis-tools)',
    );
  });

  test('root with apt-get: installs (no sudo in the command)', () => {
    const plan = apt.installPlan(apt.REDIS_TOOLS, { present: onPath(), isRoot: true, hasApt: true });
    assert.ok(plan);
    assert.equal(plan.canInstall, true);
    assert.deepEqual(plan.pkgs, ['redis-tools', 'redis-server']);
    assert.equal(plan.command, 'apt-get install -y redis-tools redis-server');
  });

  test('root without apt-get: cannot install, says which packages', () => {
    const plan = apt.installPlan(apt.QEMU, { present: onPath(), isRoot: true, hasApt: false });
    assert.ok(plan);
    assert.equal(plan.canInstall, false);
    assert.equal(plan.message, 'qemu-aarch64 not installed and no apt-get here: install the Debian package qemu-user or its equivalent');
  });

  test('ensureCommands answers null for commands this machine has', () => {
    assert.equal(apt.ensureCommands([{ cmd: 'sh', pkg: 'dash' }], () => assert.fail('nothing to install')), null);
  });
});
