// Debian packages the benchmarks and tests drive (wrk, redis-tools, redis-server, haproxy,
// qemu-user): installed by the project itself when missing, never by hand. Only as root with
// apt-get (CI runs as root); otherwise the caller gets a reason to report, naming the packages
// and the apt-get command (installPlan decides, with no side effect, so it is tested alone). `apt-get update` runs once per
// process, before the first install (a fresh CI machine has no package lists).
import { spawnSync } from 'node:child_process';

const APT_TIMEOUT_MS = 600_000;
/** Other processes (a sibling test run, unattended-upgrades) may hold the dpkg lock for a while. */
const LOCK_WAIT_S = 300;

let updated = false;

export function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function lastLine(text, fallback) {
  const lines = String(text ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /^E:/.test(l)) ?? lines[lines.length - 1] ?? fallback;
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

function apt(args) {
  return spawnSync('apt-get', ['-o', `DPkg::Lock::Timeout=${LOCK_WAIT_S}`, ...args], {
    encoding: 'utf8',
    timeout: APT_TIMEOUT_MS,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** What the Redis suite (tests/examples/redis-server.test.ts) and the Redis benchmark drive. */
export const REDIS_TOOLS = [
  { cmd: 'redis-cli', pkg: 'redis-tools' },
  { cmd: 'redis-benchmark', pkg: 'redis-tools' },
  { cmd: 'redis-server', pkg: 'redis-server' },
];

/** What `qemu-user` provides: Zig's `-fqemu` runs the aarch64 test binaries with it. */
export const QEMU = [{ cmd: 'qemu-aarch64', pkg: 'qemu-user' }];

/** This process's side of installPlan: which commands are on PATH, root, apt-get. */
export function hostFacts() {
  return { present: (cmd) => which(cmd) !== null, isRoot: process.getuid?.() === 0, hasApt: which('apt-get') !== null };
}

/**
 * The decision, without side effects: null when every command of `needs` is present; else the
 * missing commands, their Debian packages, whether this process can install them (root with
 * apt-get), and a one-line message naming the packages and the command that installs them.
 */
export function installPlan(needs, { present, isRoot, hasApt }) {
  const missing = needs.filter((n) => !present(n.cmd));
  if (missing.length === 0) return null;
  const pkgs = [...new Set(missing.map((n) => n.pkg))];
  const command = `${isRoot ? '' : 'sudo '}apt-get install -y ${pkgs.join(' ')}`;
  const packages = `the Debian package${pkgs.length > 1 ? 's' : ''} ${pkgs.join(' ')}`;
  const what = `${[...new Set(missing.map((n) => n.cmd))].join(', ')} not installed`;
  const message = hasApt ? `${what}: install ${packages} (${command})` : `${what} and no apt-get here: install ${packages} or ${pkgs.length > 1 ? 'their' : 'its'} equivalent`;
  return { missing, pkgs, canInstall: isRoot && hasApt, command, message };
}

/**
 * Makes every command of `needs` ({ cmd: 'redis-cli', pkg: 'redis-tools' }, ...) available.
 * Returns null when all are there, else why not (the commands still missing and what to run).
 * `log` is told before anything is installed.
 */
export function ensureCommands(needs, log = (line) => console.log(line)) {
  const plan = installPlan(needs, hostFacts());
  if (plan === null) return null;
  if (!plan.canInstall) return plan.message;
  const { missing, pkgs } = plan;
  log(`installing ${pkgs.join(' ')} (apt-get install -y)`);
  if (!updated) {
    updated = true;
    const u = apt(['update']);
    if (u.status !== 0) log(`apt-get update failed (${lastLine(u.stderr, `exit ${u.status}`)}); trying the install anyway`);
  }
  const r = apt(['install', '-y', '--no-install-recommends', ...pkgs]);
  const still = missing.filter((n) => !which(n.cmd));
  if (still.length === 0) return null;
  return `${still.map((n) => n.cmd).join(', ')} could not be installed: ${lastLine(r.error?.message ?? r.stderr, `exit ${r.status}`)}`;
}
