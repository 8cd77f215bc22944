/**
 * Binding and closing the listeners: `net.Server` for TCP and Unix, `dgram.Socket` for UDP,
 * with gnet's socket choices: `tcp://:port` is one dual-stack IPv6 socket,
 * `tcp6`/`udp6` are IPv6-only, UDP sockets get SO_BROADCAST, the backlog is the kernel's
 * somaxconn. A Unix path is taken only from a stale socket and removed only when this engine
 * created it (host/engine/unix-path.ts). Bind failures are Node's own
 * errors (`code: 'EADDRINUSE'`, `errno`, `syscall`).
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ResolvedAddr } from '../address.js';
import { formatAddr } from '../address.js';
import { boundUnixPath, clearUnixPath, removeBoundUnixPath, UNIX_PATH_BYTES_MAX, type BoundUnixPath } from '../engine/unix-path.js';
import { fromNodeError, systemError, withAddress } from '../errors.js';
import { dropHandshakes, tlsServer } from './tls-listener.js';
import type { ResolvedOptions } from '../options.js';
import type { ServerTls } from '../tls/options.js';

export interface StreamListener {
  readonly network: 'tcp' | 'unix';
  readonly server: net.Server;
  /** The bound address, `tcp://127.0.0.1:40123` or `unix:///tmp/x.sock`. */
  readonly addr: string;
  /** Unix socket path ('' for tcp). */
  readonly path: string;
  /** The socket file this listener created (unix), removed at close if still its own. */
  readonly unixPath?: BoundUnixPath;
}

export interface DatagramListener {
  readonly network: 'udp';
  readonly socket: dgram.Socket;
  readonly socketType: 'udp4' | 'udp6';
  readonly addr: string;
}

export type Listener = StreamListener | DatagramListener;

/** Linux's accept queue limit, as gnet reads it; Node's default (511) elsewhere. */
const backlog: number = (() => {
  try {
    const value = Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    return Number.isSafeInteger(value) && value > 0 ? value : 511;
  } catch {
    return 511;
  }
})();

/** The accepted sockets' options (also those of a worker process's TLS acceptor, host/multicore/process-worker.ts). */
export function streamSocketOptions(options: ResolvedOptions, pauseOnConnect = false): net.ServerOpts {
  return {
    pauseOnConnect,
    // The engine ends the socket itself, after onClose and with queued bytes flushed.
    allowHalfOpen: true,
    noDelay: options.tcpNoDelay,
    keepAlive: options.tcpKeepAliveMs > 0,
    keepAliveInitialDelay: options.tcpKeepAliveMs,
  };
}

export async function listenStream(
  addr: ResolvedAddr,
  options: ResolvedOptions,
  onConnection: (socket: net.Socket) => void,
  pauseOnConnect: boolean,
  /** The listener's TLS (undefined: plain; a process engine's workers handshake instead). */
  tls: ServerTls | undefined,
): Promise<StreamListener> {
  const socketOptions = streamSocketOptions(options, pauseOnConnect);
  let server: net.Server;
  if (tls === undefined) {
    server = net.createServer(socketOptions);
    server.on('connection', onConnection);
  } else {
    // A TLS connection becomes a connection once its handshake is done (tls-listener.ts).
    server = tlsServer(tls, socketOptions);
    server.on('secureConnection', onConnection);
  }
  if (addr.network === 'unix') {
    await clearUnixPath(addr.path);
    // libuv unlinks the name it bound when the server closes, whatever is there by then: bind
    // a private name and move the socket into place, so that only zgnet decides what to remove.
    const privateName = privateUnixName(addr.path);
    await bound(server, addr, () => server.listen({ path: privateName, backlog })).catch((err: unknown) => {
      throw missingDirectory(err, addr);
    });
    if (privateName !== addr.path) fs.renameSync(privateName, addr.path);
    const unixPath = boundUnixPath(addr.path, options.unixSocketMode);
    return { network: 'unix', server, addr: formatAddr('unix', addr.path, 0), path: addr.path, unixPath };
  }
  await bound(server, addr, () => server.listen({ host: addr.host, port: addr.port, ipv6Only: addr.proto === 'tcp6', backlog }));
  const info = server.address() as net.AddressInfo;
  return { network: 'tcp', server, addr: formatAddr('tcp', info.address, info.port), path: '' };
}

/**
 * libuv rewrites bind's ENOENT (a path in a directory that does not exist) into EACCES; the
 * native engine reports bind's own errno. Both modes say ENOENT, the kernel's word for it.
 */
function missingDirectory(err: unknown, addr: ResolvedAddr): unknown {
  if ((err as { code?: unknown }).code !== 'EACCES' || fs.existsSync(path.dirname(addr.path))) return err;
  return withAddress(systemError(os.constants.errno.ENOENT, 'bind'), addr);
}

let privateNames = 0;

/** `socketPath` plus a suffix of this process's, where it still fits in sun_path (else `socketPath`). */
function privateUnixName(socketPath: string): string {
  const name = `${socketPath}.${process.pid.toString(36)}-${(privateNames++).toString(36)}`;
  return Buffer.byteLength(name) < UNIX_PATH_BYTES_MAX ? name : socketPath;
}

/** Resolves once listening; rejects with the bind error (the server is then closed). */
function bound(server: net.Server, addr: ResolvedAddr, listen: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      server.close();
      reject(fromNodeError(err, addr));
    };
    server.once('error', fail);
    server.once('listening', () => {
      server.off('error', fail);
      resolve();
    });
    listen();
  });
}

export async function listenDatagram(
  addr: ResolvedAddr,
  options: ResolvedOptions,
  onMessage: (msg: Buffer, rinfo: dgram.RemoteInfo) => void,
): Promise<DatagramListener> {
  // A wildcard without a family (udp://:port) is a dual-stack IPv6 socket, as for tcp.
  const socketType = addr.family === 4 ? 'udp4' : 'udp6';
  const socket = dgram.createSocket({
    type: socketType,
    reuseAddr: options.reuseAddr,
    ipv6Only: addr.proto === 'udp6',
    ...(options.socketRecvBuffer > 0 ? { recvBufferSize: options.socketRecvBuffer } : {}),
    ...(options.socketSendBuffer > 0 ? { sendBufferSize: options.socketSendBuffer } : {}),
  });
  socket.on('message', onMessage);
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => {
      socket.close();
      reject(fromNodeError(err, addr));
    };
    socket.once('error', fail);
    socket.bind({ address: addr.host, port: addr.port }, () => {
      socket.off('error', fail);
      resolve();
    });
  });
  socket.setBroadcast(true);
  if (isMulticast(addr.host)) {
    try {
      joinGroup(socket, addr, options.multicastInterfaceIndex);
    } catch (err) {
      socket.close();
      throw err;
    }
  }
  const info = socket.address();
  return { network: 'udp', socket, socketType, addr: formatAddr('udp', info.address, info.port) };
}

/**
 * Joins a multicast group on the interface gnet's option names by index. Node's addMembership
 * names the interface by address (IPv4) or scope (IPv6), so the index is looked up (Linux:
 * /sys/class/net/NAME/ifindex); an index with no such interface fails as the native engine's
 * setsockopt does, with ENODEV. Index 0 lets the OS choose.
 */
function joinGroup(socket: dgram.Socket, addr: ResolvedAddr, index: number): void {
  if (index === 0) return socket.addMembership(addr.host);
  const name = interfaceNameOf(index);
  const ipv6 = net.isIPv6(addr.host.replace(/%.*$/, ''));
  const address = name === undefined ? undefined : ipv6 ? `::%${name}` : os.networkInterfaces()[name]?.find((a) => a.family === 'IPv4')?.address;
  if (address === undefined) throw systemError(os.constants.errno.ENODEV, 'setsockopt', `no interface with index ${index}`);
  socket.addMembership(addr.host, address);
}

function interfaceNameOf(index: number): string | undefined {
  try {
    return fs.readdirSync('/sys/class/net').find((name) => {
      try {
        return Number.parseInt(fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'), 10) === index;
      } catch {
        return false;
      }
    });
  } catch {
    return undefined; // not Linux: no index to name map
  }
}

export function isMulticast(host: string): boolean {
  if (net.isIPv4(host)) {
    const first = Number(host.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return net.isIPv6(host.replace(/%.*$/, '')) && /^ff/i.test(host);
}

/** Closes a listener; a stream listener resolves once its last connection has closed too. */
export function closeListener(listener: Listener): Promise<void> {
  if (listener.network === 'udp') {
    return new Promise((resolve) => {
      try {
        listener.socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
  return new Promise((resolve) => {
    dropHandshakes(listener.server);
    listener.server.close(() => {
      if (listener.unixPath !== undefined) removeBoundUnixPath(listener.unixPath);
      resolve();
    });
  });
}


