/**
 * The memory a misbehaving peer can make a server hold (issue "Hostile peers and full
 * machines"), measured in a process of its own so that its RSS is the server's alone:
 *
 *   --case slow-reader     the server writes 256 MiB to a peer that never reads, honouring
 *                          `c.writable` (zgnet: writable/onWritable; net: write() === false / 'drain')
 *   --case idle-handler    the peer sends 256 MiB to a handler that never reads
 *                          (zgnet: inboundHighWaterMark; net: a paused socket)
 *
 *   node dist/bench/servers/memory-bound.js --case slow-reader --server zgnet --mode native
 *   node dist/bench/servers/memory-bound.js --case idle-handler --server net
 *
 * Prints one JSON line: the server process's RSS before, and 2 s after the peer started (it has
 * stalled by then), with the bytes the server accepted (slow-reader) or holds (idle-handler). bench/memory-bound.mjs runs every combination side by side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { run, type Conn } from '../../host/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const which = arg('case', 'slow-reader');
const server = arg('server', 'zgnet');
const mode = arg('mode', 'native') as 'native' | 'wasm';
const MiB = 1024 * 1024;
const TOTAL = 256 * MiB;
const PIECE = Buffer.alloc(64 * 1024, 0x2a);
const STALL_MS = 2000;

const rssMiB = () => process.memoryUsage.rss() / MiB;
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
let accepted = 0;

/**
 * The peer, in a process of its own (its buffers are not the server's): never reads
 * (slow-reader), or sends 256 MiB as fast as TCP lets it (idle-handler).
 */
function peer(port: number): ChildProcess {
  const script = which === 'slow-reader'
    ? `const s=require('net').connect(${port},'127.0.0.1');s.pause();setInterval(()=>{},1000);`
    : `const s=require('net').connect(${port},'127.0.0.1');const b=Buffer.alloc(65536,1);let n=0;` +
      `const go=()=>{while(n<${TOTAL}){n+=b.length;if(!s.write(b))return s.once('drain',go);}};s.on('connect',go);s.on('error',()=>{});` +
      'setInterval(()=>{},1000);';
  return spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
}

async function zgnet(): Promise<{ port: number; stop(): void; held(): number }> {
  const controller = new AbortController();
  let port = 0;
  let conn: Conn | undefined;
  const pump = (c: Conn) => {
    while (accepted < TOTAL && c.writable) accepted += c.write(PIECE);
  };
  const booted = new Promise<void>((resolve) => {
    void run(
      {
        onBoot(engine) {
          port = Number(/:(\d+)$/.exec(engine.addrs[0]!)![1]);
          resolve();
        },
        onOpen(c) {
          conn = c;
          if (which === 'slow-reader') pump(c);
        },
        onWritable: pump,
        onTraffic() {}, // idle-handler: never reads
      },
      'tcp://127.0.0.1:0',
      { mode, signal: controller.signal, logLevel: 'error' },
    );
  });
  await booted;
  return { port, stop: () => controller.abort(), held: () => (which === 'slow-reader' ? accepted : (conn?.inboundBuffered() ?? 0)) };
}

async function nodeNet(): Promise<{ port: number; stop(): void; held(): number }> {
  let held = 0;
  const srv = net.createServer((s) => {
    s.on('error', () => {}); // the peer is killed at the end
    if (which === 'idle-handler') {
      s.pause(); // net's way of not reading: TCP pushes back
      return;
    }
    const pump = () => {
      while (accepted < TOTAL) {
        accepted += PIECE.length;
        if (!s.write(PIECE)) return void s.once('drain', pump);
      }
    };
    pump();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    stop: () => srv.close(),
    held: () => (which === 'slow-reader' ? accepted : held),
  };
}

const before = rssMiB();
const s = server === 'net' ? await nodeNet() : await zgnet();
const p = peer(s.port);
await settle(STALL_MS);
const after = rssMiB();
console.log(JSON.stringify({ case: which, server: server === 'net' ? 'node:net' : `zgnet ${mode}`, rssBeforeMiB: +before.toFixed(1), rssAfterMiB: +after.toFixed(1), grewMiB: +(after - before).toFixed(1), acceptedOrHeldMiB: +(s.held() / MiB).toFixed(2) }));
p.kill('SIGKILL');
s.stop();
setTimeout(() => process.exit(0), 200).unref();
