/**
 * examples/redis-server.ts driven by the real Redis tools, in the mode under test: redis-cli
 * transcripts for every command family answered exactly as a real redis-server (started here on
 * a unix socket) answers them, the same for protocol errors on a raw socket (an error closes
 * that connection only), pipelining and a value that arrives in pieces, and redis-benchmark runs
 * (plain and -P 16) that must end without one error. redis-tools and redis-server are
 * installed by scripts/apt.mjs when missing (as root with apt-get), as the benchmark does.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exchange } from '../support/exchange.js';
import { testMode } from '../support/mode.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, '..', '..', 'examples', 'redis-server.js');
// the source tree's scripts/ (not compiled): three levels up from dist/tests/examples
const apt = (await import(new URL('../../../scripts/apt.mjs', import.meta.url).href)) as typeof import('../../scripts/apt.mjs');

const children = new Set<ChildProcess>();
let port = 0;
let realSocket = '';

/** Spawns a process and resolves once a line of its output matches `ready`. */
function start(cmd: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd}: not ready in 15 s: ${out}`)), 15_000);
    const look = (d: Buffer) => {
      out += d;
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m });
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', (d) => (out += d));
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before it was ready: ${out}`)));
  });
}

/** Runs a command to its end (bounded): stdout, stderr, exit code. */
function runTool(cmd: string, args: string[], input = '', timeoutMs = 20_000): Promise<{ out: string; err: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: still running after ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ out, err, code });
    });
    child.stdin.end(input);
  });
}

const example = () => ['-h', '127.0.0.1', '-p', String(port)];
const real = () => ['-s', realSocket];

/** One redis-cli session fed `commands` (one per line), formatted as redis-cli prints for a terminal. */
async function cli(target: string[], commands: string[]): Promise<string> {
  const r = await runTool('redis-cli', [...target, '--no-raw'], commands.join('\n') + '\n');
  return r.out + r.err;
}

const toExample = () => net.connect(port, '127.0.0.1');
const toReal = () => net.connect(realSocket);

/** The same transcript against the example and the real server (each starting empty). */
async function sameAsRedis(commands: string[]): Promise<string> {
  await cli(real(), ['flushall']);
  await cli(example(), ['flushall']);
  const expected = await cli(real(), commands);
  const actual = await cli(example(), commands);
  assert.equal(actual, expected);
  return actual;
}

describe(`examples/redis-server with redis-cli and redis-benchmark (${testMode})`, () => {
  // apt-get may have to fetch the packages first: bounded by its own timeouts (scripts/apt.mjs)
  before(async () => {
    const missing = apt.ensureCommands(apt.REDIS_TOOLS, (line) => console.log(`# ${line}`));
    assert.equal(missing, null, 'the Redis tools are needed by this suite');
    const ex = await start(process.execPath, [script, '--mode', testMode, '--port', '0'], /^listening \S+:(\d+)$/m);
    port = Number(ex.match[1]);
    realSocket = path.join(os.tmpdir(), `zgnet-redis-test-${process.pid}.sock`);
    fs.rmSync(realSocket, { force: true });
    // persistence off, no TCP listener: a unix socket only
    await start('redis-server', ['--port', '0', '--unixsocket', realSocket, '--save', '', '--appendonly', 'no', '--dir', os.tmpdir()], /ready to accept connections/i);
  });

  after(() => {
    for (const c of children) c.kill('SIGKILL');
    fs.rmSync(realSocket, { force: true });
  });

  test('strings, counters and errors answer as redis-server', { timeout: 60_000 }, async () => {
    const t = await sameAsRedis([
      'ping', 'ping hello', 'echo "a b"', 'set k v', 'get k', 'set k v2 nx', 'set k v3 xx', 'get k', 'set k v4 xx get', 'get k',
      'set n 10', 'incr n', 'decr n', 'decr n', 'incr k', 'set big 9223372036854775806', 'incr big', 'incr big',
      'mset a 1 b 2 c 3', 'mget a b nokey c', 'exists a b nokey a', 'del a b nokey', 'exists a b', 'lpush l x', 'get l', 'incr l',
      'set k v ex 0', 'set k v nx xx', 'set k v px', 'set k v ex notanumber', 'nosuchcommand arg1 "arg 2"', 'get', 'mset a', 'ping a b',
      'dbsize', 'flushall', 'dbsize', 'flushall now',
    ]);
    // the comparison is only as good as the transcript: it did reach the interesting replies
    assert.match(t, /\(error\) ERR increment or decrement would overflow/);
    assert.match(t, /\(error\) ERR unknown command 'nosuchcommand', with args beginning with: 'arg1' 'arg 2' /);
    assert.match(t, /\(error\) WRONGTYPE Operation against a key holding the wrong kind of value/);
  });

  test('expiry: SET EX/PX/KEEPTTL, EXPIRE with NX/XX/GT/LT, TTL', { timeout: 60_000 }, async () => {
    await sameAsRedis([
      'set e v ex 100', 'ttl e', 'set p v px 100000', 'ttl p', 'ttl nokey', 'set q v', 'ttl q', 'expire q 50', 'ttl q', 'expire q 10 nx',
      'expire q 100 gt', 'ttl q', 'expire q 10 lt', 'ttl q', 'expire q 5 xx', 'ttl q', 'set q w keepttl', 'ttl q', 'set q w', 'ttl q',
      'expire q 100 nx xx', 'expire q 100 foo', 'expire q abc', 'expire nokey 10', 'expire q -1', 'exists q',
    ]);
    // and a key does go away when its time comes
    const t = await cli(example(), ['set soon v px 150', 'get soon']);
    assert.equal(t, 'OK\n"v"\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await cli(example(), ['get soon', 'exists soon', 'ttl soon']), '(nil)\n(integer) 0\n(integer) -2\n');
  });

  test('lists: LPUSH/RPUSH/LPOP/RPOP/LRANGE', { timeout: 60_000 }, async () => {
    await sameAsRedis([
      'rpush l a b c', 'lpush l z y', 'lrange l 0 -1', 'lrange l 1 2', 'lrange l -2 -1', 'lrange l 5 10', 'lrange l 3 1', 'lpop l', 'rpop l',
      'lpop l 2', 'lpop l 5', 'exists l', 'lpop l', 'rpop nokey', 'lpop nokey 2', 'lrange nokey 0 -1', 'rpush l x', 'lrange l a b', 'lpop l -1',
      'lpop l 1 2', 'set s v', 'lpush s x', 'lrange s 0 1',
    ]);
  });

  test('sets: SADD/SPOP/SMEMBERS', { timeout: 60_000 }, async () => {
    await sameAsRedis(['sadd s a b c a', 'sadd s d', 'smembers nokey', 'spop nokey', 'spop nokey 2', 'spop s 0', 'spop s -1', 'spop s 1 2', 'sadd one x', 'spop one', 'spop one', 'set str v', 'sadd str x', 'smembers str']);
    // member order is the server's own: compare as sets
    const members = await cli(example(), ['flushall', 'sadd s a b c d', 'smembers s']);
    assert.deepEqual(members.split('\n').slice(2, 6).map((l) => l.replace(/^\d+\) /, '')).sort(), ['"a"', '"b"', '"c"', '"d"']);
    const popped = (await cli(example(), ['spop s 3', 'smembers s'])).trim().split('\n').map((l) => l.replace(/^\d+\) /, ''));
    assert.equal(popped.length, 4);
    assert.deepEqual([...popped].sort(), ['"a"', '"b"', '"c"', '"d"']);
  });

  test('hashes and sorted sets: HSET/HGET, ZADD/ZPOPMIN', { timeout: 60_000 }, async () => {
    await sameAsRedis([
      'hset h f1 v1 f2 v2', 'hset h f1 x f3 y', 'hget h f1', 'hget h nof', 'hget nokey f', 'hset h f', 'set str v', 'hget str f',
      'zadd z 1 a 2 b 0.5 c', 'zadd z nx 5 a 3 d', 'zadd z xx ch 10 b 7 e', 'zadd z incr 2 a', 'zadd z gt 0 a', 'zadd z lt ch 0 a',
      'zadd z 1 m1 1 m0', 'zpopmin z', 'zpopmin z 2', 'zpopmin z 10', 'zpopmin z', 'zadd z abc a', 'zadd z 1', 'zadd z nx xx 1 a',
      'zadd z gt lt 1 a', 'zadd z incr 1 a 2 b', 'zadd z 0.1 f 1e30 g -inf h', 'zpopmin z 3', 'zpopmin z -1', 'zadd str 1 a',
    ]);
  });

  test('CONFIG GET as redis-benchmark asks, QUIT', { timeout: 60_000 }, async () => {
    await sameAsRedis(['config get save', 'config get appendonly', 'config get nosuchparam', 'config', 'config foo', 'config get']);
    const q = await exchange(toExample, ['*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n']);
    assert.deepEqual(q, { text: '+OK\r\n', closedByServer: true });
  });

  test('protocol errors: answered as redis-server answers them, then that connection closes', { timeout: 60_000 }, async () => {
    const cases: (string | Buffer)[][] = [
      ['*1\r\n$4\r\nping\r\n*x\r\nping\r\n'],
      ['*2\r\n$4\r\necho\r\nx4\r\nabcd\r\n'],
      ['*2\r\n$4\r\necho\r\n$-1\r\n'],
      ['*1\r\n$600000000\r\n'], // over proto-max-bulk-len (512 MiB), refused from the header
      ['*0\r\n*-1\r\n\r\n\r\nping\n'],
      ['set a "hello world\\x41" x\r\nget a\r\necho "unbal\r\n'],
      ["echo 'it\\'s'\r\n", 'echo "tab\\there"\r\n'],
      [Buffer.alloc(70 * 1024, 'a')], // an inline request over 64 KiB without its newline
      ['*1\r\n', Buffer.alloc(70 * 1024, '$')],
      ['*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nvXY\r\nget k\r\n'],
    ];
    for (const chunks of cases) {
      await cli(real(), ['flushall']);
      await cli(example(), ['flushall']);
      const expected = await exchange(toReal, chunks, 500);
      const actual = await exchange(toExample, chunks, 500);
      assert.deepEqual(actual, expected, JSON.stringify(chunks.map(String)).slice(0, 80));
    }
    // a connection closed for a protocol error leaves the others (and the server) alone
    const keep = net.connect(port, '127.0.0.1');
    await new Promise((r) => keep.once('connect', r));
    const bad = await exchange(toExample, ['*1\r\n$-5\r\n']);
    assert.deepEqual(bad, { text: '-ERR Protocol error: invalid bulk length\r\n', closedByServer: true });
    const pong = new Promise<string>((resolve) => keep.once('data', (d) => resolve(d.toString())));
    keep.write('PING\r\n');
    assert.equal(await pong, '+PONG\r\n');
    keep.destroy();
  });

  test('pipelining: 1000 requests in one write are answered in order; a large value may arrive in pieces', { timeout: 60_000 }, async () => {
    const incr = '*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n'.repeat(1000);
    const { text } = await exchange(toExample, ['DEL counter\r\n' + incr]);
    const expected = [':0', ...Array.from({ length: 1000 }, (_, i) => `:${i + 1}`)].join('\r\n') + '\r\n';
    assert.equal(text.length, expected.length);
    assert.equal(text, expected);

    const value = Buffer.alloc(300 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7 + 3) & 0xff; // every byte value, binary-safe
    const request = Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${value.length}\r\n`), value, Buffer.from('\r\n*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n')]);
    const pieces = [request.subarray(0, 20), request.subarray(20, 100_000), request.subarray(100_000, 250_000), request.subarray(250_000)];
    const got = await exchange(toExample, pieces, 500);
    const reply = Buffer.from(got.text, 'latin1');
    assert.equal(reply.subarray(0, 5).toString(), '+OK\r\n');
    assert.equal(reply.subarray(5, 5 + `$${value.length}\r\n`.length).toString(), `$${value.length}\r\n`);
    assert.ok(reply.subarray(reply.length - value.length - 2, reply.length - 2).equals(value), 'GET returns the value byte for byte');
  });

  test('redis-benchmark: the default tests, unpipelined and -P 16, without an error', { timeout: 240_000 }, async () => {
    const tests = 'ping_inline,ping_mbulk,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset';
    for (const pipeline of ['1', '16']) {
      const r = await runTool('redis-benchmark', [...example(), '-c', '20', '-n', '2000', '-P', pipeline, '-t', tests, '--csv'], '', 120_000);
      assert.equal(r.code, 0, `redis-benchmark -P ${pipeline} exited ${r.code}: ${r.err}`);
      assert.doesNotMatch(r.err + r.out, /Error from server|WARNING/);
      const rows = r.out.trim().split('\n').slice(1).map((l) => l.split(',').map((f) => f.replace(/"/g, '')));
      // every test ran and completed requests (LRANGE_100 comes with its LPUSH)
      assert.equal(rows.length, tests.split(',').length + 1, r.out);
      for (const row of rows) assert.ok(Number(row[1]) > 0, `${row[0]}: ${row[1]} req/s`);
    }
  });

  test('SIGTERM stops it with exit code 0', { timeout: 60_000 }, async () => {
    const ex = [...children].find((c) => c.spawnargs.includes(script))!;
    const exited = new Promise<number | null>((resolve) => ex.once('exit', (code) => resolve(code)));
    ex.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 8000))]);
    assert.equal(code, 0);
  });
});
