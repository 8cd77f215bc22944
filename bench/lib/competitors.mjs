// Who runs in the benchmark, and how each server is started. Every server prints
// "listening <addr>" when ready and stops on SIGTERM (bench/servers/, examples/, bench/tools/).
import os from 'node:os';
import path from 'node:path';

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
    {
      id: 'c-epoll', label: 'C epoll (ceiling)', protos: ['tcp', 'udp', 'unix'],
      argv: ({ proto, addr }) => [js('zig-out', 'bin', 'c-echo'), '--proto', proto, '--addr', addr],
      needs: [js('zig-out', 'bin', 'c-echo')],
    },
  ];
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
