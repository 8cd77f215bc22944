/**
 * gnet's address syntax: `tcp://127.0.0.1:9000`, `tcp4://`, `tcp6://[::1]:9000`, `udp://`,
 * `udp4://`, `udp6://`, `unix:///tmp/x.sock`. Parsing is pure; resolving a host name is
 * `resolveAddress`'s job.
 */
import { checkUnixPathLength } from './engine/unix-path.js';
import * as dns from 'node:dns/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Network } from './api.js';
import { ErrorCode, ZgnetError, describe } from './errors.js';

export type Proto = 'tcp' | 'tcp4' | 'tcp6' | 'udp' | 'udp4' | 'udp6' | 'unix';

export interface ProtoAddr {
  /** The scheme as written. */
  proto: Proto;
  network: Network;
  /** IP literal or host name; '' for the wildcard (`tcp://:9000`). Unused for unix. */
  host: string;
  port: number;
  /** Unix socket path. */
  path: string;
}

const PROTOS: ReadonlySet<string> = new Set(['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6', 'unix']);

function invalid(addr: unknown, why: string): ZgnetError {
  return new ZgnetError(ErrorCode.INVALID_NETWORK_ADDRESS, `${describe(addr)}: ${why}`);
}

export function parseProtoAddr(protoAddr: string): ProtoAddr {
  if (typeof protoAddr !== 'string') throw invalid(protoAddr, 'must be a string');
  // gnet passes the string through net/url, which refuses control characters.
  if (/[\u0000-\u001f\u007f]/.test(protoAddr)) throw invalid(protoAddr, 'contains a control character');
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(protoAddr);
  if (!match) throw invalid(protoAddr, 'expected scheme://address');
  const proto = match[1]!.toLowerCase();
  const rest = match[2]!;
  if (!PROTOS.has(proto)) throw new ZgnetError(ErrorCode.UNSUPPORTED_PROTOCOL, describe(protoAddr));
  if (proto === 'unix') {
    // gnet joins URL host and path: unix://sock is "sock", unix:///tmp/a.sock is "/tmp/a.sock".
    const socketPath = rest === '' ? '' : path.posix.normalize(rest);
    if (socketPath === '' || socketPath === '.') throw invalid(protoAddr, 'empty socket path');
    return { proto: 'unix', network: 'unix', host: '', port: 0, path: socketPath };
  }
  const network: Network = proto.startsWith('tcp') ? 'tcp' : 'udp';
  if (rest === '') throw invalid(protoAddr, 'empty host');
  if (rest.includes('/') || rest.includes('?') || rest.includes('#')) throw invalid(protoAddr, 'a network address has no path');
  const { host, port } = splitHostPort(protoAddr, rest);
  const family = net.isIP(host.replace(/%.*$/, ''));
  if (proto.endsWith('4') && family === 6) throw invalid(protoAddr, `${proto} needs an IPv4 address`);
  if (proto.endsWith('6') && family === 4) throw invalid(protoAddr, `${proto} needs an IPv6 address`);
  return { proto: proto as Proto, network, host, port, path: '' };
}

function splitHostPort(addr: string, hostPort: string): { host: string; port: number } {
  let host: string;
  let portText: string;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0 || hostPort[close + 1] !== ':') throw invalid(addr, 'expected [ipv6]:port');
    host = hostPort.slice(1, close);
    portText = hostPort.slice(close + 2);
    if (net.isIPv6(host.replace(/%.*$/, '')) === false) throw invalid(addr, `${host} is not an IPv6 address`);
  } else {
    const colon = hostPort.lastIndexOf(':');
    if (colon < 0) throw invalid(addr, 'missing port');
    host = hostPort.slice(0, colon);
    portText = hostPort.slice(colon + 1);
    if (host.includes(':')) throw invalid(addr, 'IPv6 addresses go in brackets');
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw invalid(addr, `bad port ${describe(portText)}`);
  return { host, port: Number(portText) };
}

/** A parsed address with its host resolved to an IP literal ('' stays the wildcard). */
export interface ResolvedAddr extends ProtoAddr {
  /** 4, 6, or 0 for unix / a wildcard that may accept both families. */
  family: 0 | 4 | 6;
}

export async function resolveAddress(addr: ProtoAddr): Promise<ResolvedAddr> {
  if (addr.network === 'unix') {
    checkUnixPathLength(addr.path);
    return { ...addr, family: 0 };
  }
  const wantFamily = addr.proto.endsWith('4') ? 4 : addr.proto.endsWith('6') ? 6 : 0;
  if (addr.host === '') {
    // gnet: tcp://:port is a dual-stack IPv6 socket; tcp4/tcp6 pick their family's wildcard.
    if (wantFamily === 4) return { ...addr, host: '0.0.0.0', family: 4 };
    return { ...addr, host: '::', family: wantFamily === 6 ? 6 : 0 };
  }
  const literal = net.isIP(addr.host.replace(/%.*$/, ''));
  if (literal) return { ...addr, family: literal as 4 | 6 };
  try {
    const found = await dns.lookup(addr.host, { family: wantFamily });
    return { ...addr, host: found.address, family: found.family as 4 | 6 };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = typeof code === 'string' ? ` (${code})` : '';
    throw new ZgnetError(ErrorCode.INVALID_NETWORK_ADDRESS, `${describe(`${addr.proto}://${hostPort(addr.host, addr.port)}`)}: cannot resolve ${addr.host}${why}`, { cause: err });
  }
}

/** `tcp://127.0.0.1:9000`, `udp://[::1]:53`, `unix:///tmp/x.sock`. */
export function formatAddr(network: Network, host: string, port: number): string {
  if (network === 'unix') return `unix://${host}`;
  return `${network}://${hostPort(host, port)}`;
}

/** Go's `TCPAddr.String()`: `127.0.0.1:54321`, `[::1]:5000`; IPv4-mapped IPv6 prints as IPv4. */
export function hostPort(host: string, port: number): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) return `${mapped[1]}:${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An address as node:net names its parts: `address`, `port`, `family`. */
export interface AddressParts {
  /** The IP literal (`127.0.0.1`, `::1`), or a unix socket's path; `undefined` for an unnamed unix socket. */
  address: string | undefined;
  /** The port; `undefined` for a unix socket. */
  port: number | undefined;
  /** `'IPv4'` or `'IPv6'`; `undefined` for a unix socket. */
  family: 'IPv4' | 'IPv6' | undefined;
}

/** Splits what `formatAddr` wrote (`tcp://[::1]:9000`, `unix:///tmp/x.sock`) back into its parts. */
export function addressParts(formatted: string): AddressParts {
  const scheme = formatted.indexOf('://');
  const rest = scheme < 0 ? formatted : formatted.slice(scheme + 3);
  if (formatted.startsWith('unix:')) return { address: rest === '' ? undefined : rest, port: undefined, family: undefined };
  const colon = rest.lastIndexOf(':');
  if (colon < 0) return { address: rest === '' ? undefined : rest, port: undefined, family: undefined };
  const host = rest.startsWith('[') ? rest.slice(1, colon - 1) : rest.slice(0, colon);
  const family = net.isIP(host.replace(/%.*$/, ''));
  return { address: host, port: Number(rest.slice(colon + 1)), family: family === 6 ? 'IPv6' : family === 4 ? 'IPv4' : undefined };
}
