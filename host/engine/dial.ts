/**
 * What `EventLoop.register` and `enroll` check before an engine dials or adopts a socket,
 * the same in both modes (gnet's register/enroll): ERR_ENGINE_IN_SHUTDOWN once the engine is
 * shutting down, ERR_INVALID_NETWORK_ADDRESS (or ERR_UNSUPPORTED_PROTOCOL) for a bad address,
 * ERR_INVALID_NET_CONN for something that is not a connected socket, an AbortError when the
 * dial's signal is aborted.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { parseProtoAddr, resolveAddress, type ResolvedAddr } from '../address.js';
import { ErrorCode, ZgnetError, describe } from '../errors.js';
import { abortError } from './base.js';

export function inShutdown(): ZgnetError {
  return new ZgnetError(ErrorCode.ENGINE_IN_SHUTDOWN);
}

/** Parses and resolves a dial address; rechecks the engine and the signal after the lookup. */
export async function dialTarget(protoAddr: string, running: () => boolean, signal: AbortSignal | undefined): Promise<ResolvedAddr> {
  if (!running()) throw inShutdown();
  if (signal?.aborted) throw abortError(signal);
  const parsed = parseProtoAddr(protoAddr);
  // Port 0 means "any port" to bind(); as a destination it names no one (Node's dgram throws a
  // RangeError for it, the kernel refuses or silently accepts it): refused here, in both modes.
  if (parsed.network !== 'unix' && parsed.port === 0) {
    throw new ZgnetError(ErrorCode.INVALID_NETWORK_ADDRESS, `${describe(protoAddr)}: port 0 cannot be dialled`);
  }
  const target = await resolveAddress(parsed);
  if (!running()) throw inShutdown();
  if (signal?.aborted) throw abortError(signal);
  return target;
}

export type Adoptable =
  | { kind: 'stream'; socket: net.Socket; network: 'tcp' | 'unix' }
  | { kind: 'datagram'; socket: dgram.Socket; network: 'udp' };

function notAConn(why: string): ZgnetError {
  return new ZgnetError(ErrorCode.INVALID_NET_CONN, `enroll() takes a connected net.Socket or dgram.Socket: ${why}`);
}

/**
 * Checks what enroll() was given: a net.Socket, connected or still connecting (then this waits
 * for 'connect', or rejects with its error), or a connected dgram.Socket.
 */
export async function adoptable(socket: unknown, running: () => boolean): Promise<Adoptable> {
  if (!running()) throw inShutdown();
  if (socket instanceof net.Socket) {
    if (socket.destroyed) throw notAConn('the socket is destroyed');
    if (socket.connecting) {
      await new Promise<void>((resolve, reject) => {
        const fail = (err: Error) => {
          socket.off('connect', done);
          reject(err);
        };
        const done = () => {
          socket.off('error', fail);
          resolve();
        };
        socket.once('connect', done);
        socket.once('error', fail);
      });
      if (!running()) throw inShutdown();
    }
    // libuv's handle says what the socket is: TCP, or Pipe for a unix socket.
    const handle = (socket as unknown as { _handle?: { constructor: { name: string } } | null })._handle;
    if (handle === undefined || handle === null) throw notAConn('the socket is not connected');
    return { kind: 'stream', socket, network: handle.constructor.name === 'Pipe' ? 'unix' : 'tcp' };
  }
  if (socket instanceof dgram.Socket) {
    try {
      socket.remoteAddress();
    } catch {
      throw notAConn('the dgram socket is not connected (call connect() first)');
    }
    return { kind: 'datagram', socket, network: 'udp' };
  }
  throw notAConn(`got ${describe(socket)}`);
}
