/**
 * A unix socket's path, handled the same way by both engines (Node's rules, not gnet's): a
 * bind never deletes what is not a stale socket of ours to take —
 *   - nothing there: bind;
 *   - a socket nobody answers on (a server that died): removed, then bind;
 *   - a socket a live server answers on, or any other file: EADDRINUSE, nothing touched;
 *   - a path longer than the platform's sun_path: ERR_INVALID_NETWORK_ADDRESS (never cut);
 * and at stop, the path is removed only while it is still the socket this engine created
 * (same device and inode), so a second engine's socket at that path survives.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ErrorCode, systemError, ZgnetError } from '../errors.js';
import * as os from 'node:os';

/** sun_path's size, its NUL included: 108 on Linux, 104 on macOS and the BSDs. */
export const UNIX_PATH_BYTES_MAX = process.platform === 'linux' ? 108 : 104;

/** How long a probe waits for a live server at the path to answer. */
const PROBE_MS = 1000;

export function checkUnixPathLength(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes === 0 || bytes >= UNIX_PATH_BYTES_MAX) {
    throw new ZgnetError(
      ErrorCode.INVALID_NETWORK_ADDRESS,
      `unix socket path of ${bytes} bytes (1 to ${UNIX_PATH_BYTES_MAX - 1} fit in sun_path): ${JSON.stringify(path)}`,
    );
  }
}

function inUse(path: string, why: string): ZgnetError {
  const err = systemError(os.constants.errno.EADDRINUSE, 'bind', path);
  err.message += ` (${why})`;
  return err;
}

/** Makes `path` free to bind, or throws EADDRINUSE (see the top of this file). */
export async function clearUnixPath(path: string): Promise<void> {
  checkUnixPathLength(path);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(path);
  } catch {
    return; // nothing there (or nothing we may look at: bind reports it)
  }
  if (!stat.isSocket()) throw inUse(path, 'a file that is not a socket is there');
  if (await answers(path)) throw inUse(path, 'a server is listening there');
  // A stale socket: removed, unless it changed under us meanwhile.
  const again = fs.lstatSync(path, { throwIfNoEntry: false });
  if (again !== undefined && again.ino === stat.ino && again.dev === stat.dev) fs.rmSync(path, { force: true });
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path });
    const done = (live: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(live);
    };
    // A listener whose backlog is full does not answer in time: taken as live, never deleted.
    const timer = setTimeout(() => done(true), PROBE_MS);
    probe.once('connect', () => done(true));
    probe.once('error', (err: Error & { code?: string }) => done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

/** What an engine remembers of a socket it bound, to remove it at stop and only it. */
export interface BoundUnixPath {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

/** After bind: applies `mode` (unixSocketMode) and records the socket's identity. */
export function boundUnixPath(path: string, mode: number | undefined): BoundUnixPath {
  if (mode !== undefined) fs.chmodSync(path, mode);
  const stat = fs.lstatSync(path);
  return { path, dev: stat.dev, ino: stat.ino };
}

/** At stop: removes the socket file if it is still the one this engine bound. */
export function removeBoundUnixPath(bound: BoundUnixPath): void {
  const stat = fs.lstatSync(bound.path, { throwIfNoEntry: false });
  if (stat !== undefined && stat.isSocket() && stat.dev === bound.dev && stat.ino === bound.ino) fs.rmSync(bound.path, { force: true });
}
