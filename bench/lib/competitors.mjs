// Who runs in the benchmark, and how each server is started. Every server prints
// "listening <addr>" when ready and stops on SIGTERM (bench/servers/, examples/, bench/tools/).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBun } from './bun.mjs';

const node = process.execPath;

/**
 * Echo competitors. `protos`: where each takes part; `multiProcess`: its CPU and memory are
 * summed over the process tree (node:cluster's workers).
 */
export function echoCompetitors(root, { loops }) {
  const js = (...p) => path.join(root, ...p);
  const zgnet = (mode) => ({ proto, addr }) => [
    node, js('dist', 'bench', 'servers', 'zgnet-echo.js'), '--mode', mode, '--proto', proto, '--addr', addr, '--loops', String(loops),
  ];
  return [
    { id: 'zgnet-native', label: 'zgnet native', protos: ['tcp', 'udp', 'unix'], argv: zgnet('native'), needs: [js('dist', 'bench', 'servers', 'zgnet-echo.js')] },
    { id: 'zgnet-wasm', label: 'zgnet wasm', protos: ['tcp', 'udp', 'unix'], argv: zgnet('wasm'), needs: [js('dist', 'bench', 'servers', 'zgnet-echo.js')] },
    {
      id: 'net', label: 'node:net', protos: ['tcp', 'unix'], baseline: ['tcp', 'unix'],
      argv: ({ proto, addr }) => [node, js('bench', 'servers', 'net-echo.mjs'), '--proto', proto, '--addr', addr],
    },
    {
      id: 'dgram', label: 'node:dgram', protos: ['udp'], baseline: ['udp'],
      argv: ({ addr }) => [node, js('bench', 'servers', 'dgram-echo.mjs'), '--addr', addr],
    },
    {
      id: 'net-cluster', label: 'net + cluster ×2', protos: ['tcp', 'unix'], multiProcess: true,
      argv: ({ proto, addr }) => [node, js('bench', 'servers', 'net-cluster-echo.mjs'), '--proto', proto, '--addr', addr, '--workers', '2'],
    },
    bunCompetitor(root),
    {
      id: 'c-epoll', label: 'C epoll (ceiling)', protos: ['tcp', 'udp', 'unix'],
      argv: ({ proto, addr }) => [js('zig-out', 'bin', 'c-echo'), '--proto', proto, '--addr', addr],
      needs: [js('zig-out', 'bin', 'c-echo')],
    },
  ];
}

/**
 * Bun.listen / Bun.udpSocket (bench/servers/bun-echo.mjs), the peer a user who wants a fast TCP
 * server in JavaScript picks today. `ensure`: installs Bun from npm on first use (bench/lib/bun.mjs).
 */
function bunCompetitor(root, { label = 'Bun.listen / udpSocket', extra = [] } = {}) {
  let bun = null;
  return {
    id: 'bun', label, protos: ['tcp', 'udp', 'unix'],
    ensure() {
      bun ??= ensureBun(root, (line) => console.log(`bench: ${line}`));
      return bun.na ?? null;
    },
    argv: ({ proto, addr }) => [bun.bin, path.join(root, 'bench', 'servers', 'bun-echo.mjs'), '--proto', proto, '--addr', addr, ...extra],
  };
}

/**
 * The TLS cases: the same echo servers given a certificate (`cert`, `key`: PEM files), and
 * node:tls (bench/servers/tls-echo.mjs), the baseline. zgnet native runs TLS inside its Zig
 * loop (OpenSSL from the Node process); zgnet wasm on node:tls; Bun.listen({ tls }) on uSockets.
 */
export function tlsCompetitors(root, { loops, cert, key }) {
  const js = (...p) => path.join(root, ...p);
  const tls = ['--tls-cert', cert, '--tls-key', key];
  const zgnet = (mode) => ({ addr }) => [
    node, js('dist', 'bench', 'servers', 'zgnet-echo.js'), '--mode', mode, '--proto', 'tcp', '--addr', addr, '--loops', String(loops), ...tls,
  ];
  const needs = [js('dist', 'bench', 'servers', 'zgnet-echo.js'), js('zig-out', 'bin', 'zgnet-tls-loadgen')];
  return [
    { id: 'zgnet-native', label: 'zgnet native (TLS in Zig)', argv: zgnet('native'), needs },
    { id: 'zgnet-wasm', label: 'zgnet wasm (node:tls)', argv: zgnet('wasm'), needs },
    { id: 'node-tls', label: 'node:tls', baseline: ['tcp'], argv: ({ addr }) => [node, js('bench', 'servers', 'tls-echo.mjs'), '--addr', addr, ...tls], needs },
    bunCompetitor(root, { label: 'Bun.listen({ tls })', extra: tls }),
  ];
}

/**
 * The multicore cases: zgnet running a handler module (bench/servers/zgnet-multicore.mjs) on 1
 * and on 2 loops in each mode, and, with handler work, node:net behind node:cluster with 2
 * workers — all doing `work` iterations of bench/servers/work.mjs per 64 B before each echo
 * (0: plain echo). zgnet wasm on 1 loop is the baseline.
 */
export function multicoreCompetitors(root, { work }) {
  const js = (...p) => path.join(root, ...p);
  const server = js('bench', 'servers', 'zgnet-multicore.mjs');
  const zgnet = (mode, loops) =>
    multicoreZgnet(root, mode, loops, ({ addr }) => [node, server, '--mode', mode, '--addr', addr, '--loops', String(loops), '--work', String(work)]);
  const cluster = {
    id: 'net-cluster-2', label: 'net + cluster ×2', multiProcess: true,
    argv: ({ proto, addr }) => [node, js('bench', 'servers', 'net-cluster-echo.mjs'), '--proto', proto, '--addr', addr, '--workers', '2', '--work', String(work)],
  };
  return [zgnet('native', 1), zgnet('native', 2), zgnet('wasm', 1), zgnet('wasm', 2), ...(work > 0 ? [cluster] : [])];
}

/**
 * The multicore HTTP case: examples/http-server.ts (its handler is a module) on 1 and 2 loops in
 * each mode, against node:http behind node:cluster with 2 workers (the baseline).
 */
export function multicoreHttpCompetitors(root) {
  const example = path.join(root, 'dist', 'examples', 'http-server.js');
  const zgnet = (mode, loops) =>
    multicoreZgnet(root, mode, loops, ({ addr }) => [node, example, '--mode', mode, '--addr', addr, '--loops', String(loops)], [example]);
  return [
    zgnet('native', 1), zgnet('native', 2), zgnet('wasm', 1), zgnet('wasm', 2),
    {
      id: 'node-http-cluster-2', label: 'node:http + cluster ×2', multiProcess: true,
      argv: ({ addr }) => [node, path.join(root, 'bench', 'servers', 'node-http.mjs'), '--addr', addr, '--workers', '2'],
    },
  ];
}

/**
 * One zgnet competitor of a multicore case. `multiProcess` (CPU summed over the process tree):
 * wasm mode on several loops, whose loops are worker processes; native mode's loops stay in
 * one process (threads), which the load generator measures whole.
 */
function multicoreZgnet(root, mode, loops, argv, needs = []) {
  return {
    id: `zgnet-${mode}-${loops}`,
    label: `zgnet ${mode}, ${loops} loop${loops > 1 ? 's' : ''}`,
    multiProcess: mode === 'wasm' && loops > 1,
    argv,
    needs: [path.join(root, 'dist', 'host', 'index.js'), ...needs],
  };
}

/** HTTP plaintext competitors; node:http is the baseline. */
export function httpCompetitors(root, { loops }) {
  const js = (...p) => path.join(root, ...p);
  const zgnet = (mode) => ({ addr }) => [node, js('dist', 'examples', 'http-server.js'), '--mode', mode, '--addr', addr, '--loops', String(loops)];
  return [
    { id: 'zgnet-native', label: 'zgnet native', protos: ['http'], argv: zgnet('native'), needs: [js('dist', 'examples', 'http-server.js')] },
    { id: 'zgnet-wasm', label: 'zgnet wasm', protos: ['http'], argv: zgnet('wasm'), needs: [js('dist', 'examples', 'http-server.js')] },
    { id: 'node-http', label: 'node:http', protos: ['http'], baseline: ['http'], argv: ({ addr }) => [node, js('bench', 'servers', 'node-http.mjs'), '--addr', addr] },
    { id: 'net-http', label: 'minimal HTTP on net', protos: ['http'], argv: ({ addr }) => [node, js('bench', 'servers', 'net-http.mjs'), '--addr', addr] },
  ];
}

/**
 * Redis-protocol servers, all answering redis-benchmark: the zgnet example, the real
 * redis-server (persistence off; it cannot report a port it picked, so it is given a free one),
 * and the node:net server with the example's own parser and commands (the baseline).
 */
export function redisCompetitors(root, { loops }) {
  const js = (...p) => path.join(root, ...p);
  const example = js('dist', 'examples', 'redis-server.js');
  const hostPort = (addr) => {
    const colon = addr.lastIndexOf(':');
    return ['--host', addr.slice(0, colon), '--port', addr.slice(colon + 1)];
  };
  const zgnet = (mode) => ({ addr }) => [node, example, '--mode', mode, ...hostPort(addr), '--loops', String(loops)];
  return [
    { id: 'zgnet-native', label: 'zgnet native', argv: zgnet('native'), needs: [example] },
    { id: 'zgnet-wasm', label: 'zgnet wasm', argv: zgnet('wasm'), needs: [example] },
    {
      id: 'redis-server', label: 'redis-server', needsCommands: ['redis-server'], freePort: true, readyRe: /(ready to accept connections)/i,
      argv: ({ addr }) => {
        const colon = addr.lastIndexOf(':');
        return ['redis-server', '--bind', addr.slice(0, colon), '--port', addr.slice(colon + 1), '--save', '', '--appendonly', 'no', '--dir', os.tmpdir()];
      },
    },
    {
      id: 'net-redis', label: 'node:net RESP', baseline: ['redis'], needs: [js('dist', 'bench', 'servers', 'net-redis.js')],
      argv: ({ addr }) => [node, js('dist', 'bench', 'servers', 'net-redis.js'), '--addr', addr],
    },
  ];
}

/**
 * TCP proxies in front of the C echo server. Each gets `addr` (where to listen: a free port) and
 * `upstream` (host:port), and is ready once its port accepts. Another proxy is one more entry.
 */
export function proxyCompetitors(root) {
  const js = (...p) => path.join(root, ...p);
  const common = { freePort: true, readyWhenConnectable: true };
  return [
    {
      id: 'haproxy', label: 'HAProxy (1 thread)', needsCommands: ['haproxy'], ...common,
      stopSignal: 'SIGUSR1', // its graceful stop (SIGTERM is its hard stop: it dies of the signal)
      argv: ({ addr, upstream, temp }) => {
        const cfg = path.join(os.tmpdir(), `zgnet-bench-${process.pid}-haproxy.cfg`);
        fs.writeFileSync(cfg, haproxyConfig(addr, upstream));
        temp.push(cfg);
        return ['haproxy', '-f', cfg, '-db'];
      },
    },
    ...['native', 'wasm'].map((mode) => ({
      id: `zgnet-proxy-${mode}`, label: `zgnet ${mode} (examples/tcp-proxy.ts)`, ...common,
      argv: ({ addr, upstream }) => [node, js('dist', 'examples', 'tcp-proxy.js'), '--mode', mode, '--listen', addr, '--upstream', upstream],
    })),
    {
      id: 'net-proxy', label: 'node:net pipe proxy', baseline: ['proxy'], ...common,
      argv: ({ addr, upstream }) => [node, js('bench', 'servers', 'net-proxy.mjs'), '--listen', addr, '--upstream', upstream],
    },
  ];
}

/** HAProxy as a plain TCP relay on one thread; timeouts long enough for any run. */
function haproxyConfig(addr, upstream) {
  return [
    'global',
    '  nbthread 1',
    '  maxconn 4096',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 120s',
    '  timeout server 120s',
    'frontend front',
    `  bind ${addr}`,
    '  default_backend back',
    'backend back',
    `  server echo ${upstream}`,
    '',
  ].join('\n');
}

/** Where a server of `proto` listens (port 0: the kernel picks; unix: a fresh path in tmpdir). */
export function listenAddr(proto, id) {
  if (proto === 'unix') return path.join(os.tmpdir(), `zgnet-bench-${process.pid}-${id}.sock`);
  return '127.0.0.1:0';
}

/** The server's "listening X" turned into what the load generator takes. */
export function loadgenAddr(line, proto, requested) {
  if (proto === 'unix') return line.replace(/^unix:\/\//, '');
  if (/^\d+$/.test(line)) return `${requested.slice(0, requested.lastIndexOf(':'))}:${line}`; // c-echo prints the port
  return line.replace(/^[a-z0-9]+:\/\//, '');
}
