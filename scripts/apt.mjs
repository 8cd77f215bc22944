// Debian packages the benchmarks and tests drive (wrk, redis-tools, redis-server, haproxy):
// installed by the project itself when missing, never by hand. Only as root with apt-get (CI
// runs as root); otherwise the caller gets a reason to report. `apt-get update` runs once per
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

/**
 * Makes every command of `needs` ({ cmd: 'redis-cli', pkg: 'redis-tools' }, ...) available.
 * Returns null when all are there, else why not (the commands still missing and the cause).
 * `log` is told before anything is installed.
 */
export function ensureCommands(needs, log = (line) => console.log(line)) {
  const missing = needs.filter((n) => !which(n.cmd));
  if (missing.length === 0) return null;
  const pkgs = [...new Set(missing.map((n) => n.pkg))];
  const what = missing.map((n) => n.cmd).join(', ');
  if (process.getuid?.() !== 0 || !which('apt-get')) return `${what} not installed (install the Debian package${pkgs.length > 1 ? 's' : ''} ${pkgs.join(' ')})`;
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
