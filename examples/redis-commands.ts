/**
 * The Redis commands of examples/redis-server.ts, independent of any socket: `feed()` takes the
 * bytes a connection has buffered, runs every complete request in them and appends the replies
 * to `out`. The zgnet example and the node:net baseline (bench/servers/net-redis.ts) share this
 * module, so that the benchmark compares their I/O and nothing else.
 *
 * Commands, with Redis 7.0's arities, options, replies and error messages: PING, ECHO,
 * SET (NX|XX, GET, EX|PX|EXAT|PXAT|KEEPTTL), GET, DEL, EXISTS, INCR, DECR, MSET, MGET,
 * EXPIRE (NX|XX|GT|LT), TTL, LPUSH, RPUSH, LPOP, RPOP (count), LRANGE, SADD, SPOP (count),
 * SMEMBERS, HSET, HGET, ZADD (NX|XX|GT|LT|CH|INCR), ZPOPMIN (count), FLUSHALL, DBSIZE, QUIT,
 * CONFIG GET (patterns with * and ?), COMMAND (an empty list, for redis-cli's start-up).
 * Keys expire lazily: a key past its time is removed when a command looks at it (DBSIZE may
 * count it until then, as in Redis between its expiry cycles).
 */
import { List, RedisSet, ZSet, formatScore, type Value } from './redis-data.js';
import { DONE, INCOMPLETE, PROTO_MAX_BULK_LEN, ReplyWriter, RequestParser } from './redis-resp.js';

/** Per-connection state. */
export interface Session {
  /** bytes that must be buffered before parsing again can make progress (0: try now) */
  need: number;
  /** close once the replies are out (QUIT, a protocol error) */
  close: boolean;
}

export function newSession(): Session {
  return { need: 0, close: false };
}

const OK = Buffer.from('+OK\r\n');
const PONG = Buffer.from('+PONG\r\n');
const NIL = Buffer.from('$-1\r\n');
const NIL_ARRAY = Buffer.from('*-1\r\n');
const EMPTY_ARRAY = Buffer.from('*0\r\n');
const ZERO = Buffer.from(':0\r\n');
const ONE = Buffer.from(':1\r\n');

const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
const NOT_INTEGER = 'ERR value is not an integer or out of range';
const NOT_FLOAT = 'ERR value is not a valid float';
const NOT_POSITIVE = 'ERR value is out of range, must be positive';
const SYNTAX = 'ERR syntax error';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
/** Redis's LLONG_MAX, as the ms bound of an expire time */
const MAX_EXPIRE_MS = 9.223372036854776e18;

type Handler = (x: RedisCommands, argc: number) => void;
interface Command {
  name: string;
  /** Redis's arity: n > 0 exactly n arguments (name included), n < 0 at least -n */
  arity: number;
  run: Handler;
}

/** A command name (letters only, up to 10) folded to lower case into one number: no string per request. */
function nameKey(d: Buffer, s: number, e: number): number {
  if (e - s > 10 || e === s) return -1;
  let h = 0;
  for (let k = s; k < e; k++) {
    const c = d[k]! | 0x20;
    if (c < 97 || c > 122) return -1;
    h = h * 27 + (c - 96);
  }
  return h;
}

function nameKeyOf(name: string): number {
  return nameKey(Buffer.from(name, 'latin1'), 0, name.length);
}

/** Redis's string2ll: an optional '-', digits, no leading zero, within int64. Null otherwise. */
function parseInt64(s: string): number | bigint | null {
  const n = s.length;
  if (n === 0 || n > 20) return null;
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  if (i === n) return null;
  if (s.charCodeAt(i) === 48 && n > i + 1) return null; // leading zero
  if (s === '-0') return null;
  for (let k = i; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c < 48 || c > 57) return null;
  }
  if (n - i <= 15) return Number(s);
  const b = BigInt(s);
  return b > INT64_MAX || b < INT64_MIN ? null : b;
}

/** An integer argument as a Number (int64 values beyond 2^53 lose precision: used for counts and indices). */
function toNumber(v: number | bigint | null): number | null {
  return v === null ? null : Number(v);
}

const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
function parseScore(s: string): number | null {
  if (FLOAT.test(s)) return Number(s);
  const l = s.toLowerCase();
  if (l === 'inf' || l === '+inf' || l === 'infinity' || l === '+infinity') return Infinity;
  if (l === '-inf' || l === '-infinity') return -Infinity;
  return null;
}

/** Redis's stringmatch for CONFIG GET patterns: * and ? (no classes), case-insensitive. */
function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

export class RedisCommands {
  readonly p: RequestParser;
  readonly out: ReplyWriter;
  readonly data = new Map<string, Value>();
  /** key -> absolute expiry time, ms since the epoch */
  readonly expires = new Map<string, number>();
  private readonly config: [string, string][];
  private readonly table = new Map<number, Command>();

  constructor({ maxBulkLen = PROTO_MAX_BULK_LEN, port = 0 }: { maxBulkLen?: number; port?: number } = {}) {
    this.p = new RequestParser(maxBulkLen);
    this.out = new ReplyWriter();
    // what redis-benchmark and redis-cli ask for, with the values this server actually has
    this.config = [
      ['save', ''],
      ['appendonly', 'no'],
      ['databases', '1'],
      ['port', String(port)],
      ['proto-max-bulk-len', String(maxBulkLen)],
    ];
    for (const c of COMMANDS) this.table.set(nameKeyOf(c.name), c);
  }

  /**
   * Runs every complete request in d (pipelining), replies appended to `out`. Returns the bytes
   * consumed; what is left is an incomplete request (s.need says how much must be buffered
   * before it can be complete). A protocol error is answered and consumes everything, with
   * s.close set, as is QUIT.
   */
  feed(d: Buffer, s: Session): number {
    const p = this.p;
    const end = d.length;
    let pos = 0;
    s.need = 0;
    while (pos < end) {
      const r = p.parse(d, pos, end);
      if (r === INCOMPLETE) {
        s.need = p.need;
        return pos;
      }
      if (r !== DONE) {
        this.out.error(`ERR Protocol error: ${p.error}`);
        s.close = true;
        return end;
      }
      pos = p.next;
      if (p.argc === 0) continue;
      this.execute(p.argc, s);
      if (s.close) return end;
    }
    return pos;
  }

  private execute(argc: number, s: Session): void {
    const p = this.p;
    const cmd = this.table.get(nameKey(p.src, p.starts[0]!, p.ends[0]!));
    if (cmd === undefined) {
      let args = '';
      for (let i = 1; i < argc && args.length < 128; i++) args += `'${p.str(i).slice(0, 128 - args.length)}' `;
      this.out.error(`ERR unknown command '${p.str(0).slice(0, 128)}', with args beginning with: ${args}`);
      return;
    }
    if (cmd.arity > 0 ? argc !== cmd.arity : argc < -cmd.arity) {
      this.arityError(cmd.name);
      return;
    }
    if (cmd === QUIT) {
      this.out.raw(OK);
      s.close = true;
      return;
    }
    cmd.run(this, argc);
  }

  arityError(name: string): void {
    this.out.error(`ERR wrong number of arguments for '${name}' command`);
  }

  // ---- keyspace ---------------------------------------------------------------------------

  /** The live value of key (an expired one is removed first). */
  lookup(key: string): Value | undefined {
    const v = this.data.get(key);
    if (v !== undefined && this.expires.size !== 0) {
      const at = this.expires.get(key);
      if (at !== undefined && at <= Date.now()) {
        this.data.delete(key);
        this.expires.delete(key);
        return undefined;
      }
    }
    return v;
  }

  remove(key: string): boolean {
    if (this.lookup(key) === undefined) return false;
    this.data.delete(key);
    this.expires.delete(key);
    return true;
  }

  /** Stores a string value; the key's time to live is dropped unless keepTtl. */
  setString(key: string, value: string, keepTtl = false): void {
    this.data.set(key, value);
    if (!keepTtl && this.expires.size !== 0) this.expires.delete(key);
  }

  flush(): void {
    this.data.clear();
    this.expires.clear();
  }

  /** An integer argument; replies the error and returns null when it is not one. */
  intArg(i: number, positive = false): number | null {
    const n = toNumber(parseInt64(this.p.str(i)));
    if (n === null) this.out.error(NOT_INTEGER);
    else if (positive && n < 0) {
      this.out.error(NOT_POSITIVE);
      return null;
    }
    return n;
  }

  configGet(argc: number): void {
    const found: [string, string][] = [];
    for (let i = 2; i < argc; i++) {
      const pattern = this.p.str(i);
      const re = globToRegExp(pattern);
      for (const entry of this.config) if (re.test(entry[0]) && !found.includes(entry)) found.push(entry);
    }
    this.out.arrayHeader(found.length * 2);
    for (const [k, v] of found) {
      this.out.bulk(k);
      this.out.bulk(v);
    }
  }

  incrBy(by: number): void {
    const key = this.p.str(1);
    const v = this.lookup(key);
    let n: number | bigint | null = 0;
    if (v !== undefined) {
      if (typeof v !== 'string') return this.out.error(WRONGTYPE);
      n = parseInt64(v);
      if (n === null) return this.out.error(NOT_INTEGER);
    }
    let next: number | bigint;
    if (typeof n === 'number' && Math.abs(n) < 2 ** 52) next = n + by;
    else {
      next = BigInt(n) + BigInt(by);
      if (next > INT64_MAX || next < INT64_MIN) return this.out.error('ERR increment or decrement would overflow');
    }
    this.setString(key, String(next), true);
    this.out.integer(next);
  }
}

// ---- commands -------------------------------------------------------------------------------

const QUIT: Command = { name: 'quit', arity: -1, run: () => {} }; // handled in execute()

function typed<T>(x: RedisCommands, key: string, kind: new () => T): T | null | undefined {
  const v = x.lookup(key);
  if (v === undefined) return undefined;
  if (!(v instanceof kind)) {
    x.out.error(WRONGTYPE);
    return null;
  }
  return v;
}

function set(x: RedisCommands, argc: number): void {
  const p = x.p;
  let nx = false;
  let xx = false;
  let get = false;
  let keepTtl = false;
  let unit = ''; // EX, PX, EXAT or PXAT
  let when = 0;
  for (let i = 3; i < argc; i++) {
    if (p.is(i, 'NX') && !xx) nx = true;
    else if (p.is(i, 'XX') && !nx) xx = true;
    else if (p.is(i, 'GET')) get = true;
    else if (p.is(i, 'KEEPTTL') && !unit) keepTtl = true;
    else if ((p.is(i, 'EX') || p.is(i, 'PX') || p.is(i, 'EXAT') || p.is(i, 'PXAT')) && !keepTtl && !unit && i + 1 < argc) {
      unit = p.str(i).toUpperCase();
      const n = toNumber(parseInt64(p.str(++i)));
      if (n === null) return x.out.error(NOT_INTEGER);
      when = n;
    } else return x.out.error(SYNTAX);
  }
  let expireAt = -1;
  if (unit) {
    const ms = unit.startsWith('E') ? when * 1000 : when;
    const at = unit.endsWith('AT') ? ms : ms + Date.now();
    if (when <= 0 || ms > MAX_EXPIRE_MS || at > MAX_EXPIRE_MS) return x.out.error("ERR invalid expire time in 'set' command");
    expireAt = at;
  }
  const key = p.str(1);
  const old = x.lookup(key);
  if (get) {
    if (old !== undefined && typeof old !== 'string') return x.out.error(WRONGTYPE);
    if (old === undefined) x.out.raw(NIL);
    else x.out.bulk(old);
  }
  if ((nx && old !== undefined) || (xx && old === undefined)) {
    if (!get) x.out.raw(NIL);
    return;
  }
  x.setString(key, p.str(2), keepTtl);
  if (expireAt >= 0) x.expires.set(key, expireAt);
  if (!get) x.out.raw(OK);
}

function get(x: RedisCommands): void {
  const v = x.lookup(x.p.str(1));
  if (v === undefined) x.out.raw(NIL);
  else if (typeof v === 'string') x.out.bulk(v);
  else x.out.error(WRONGTYPE);
}

function expire(x: RedisCommands, argc: number): void {
  const p = x.p;
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  for (let i = 3; i < argc; i++) {
    if (p.is(i, 'NX')) nx = true;
    else if (p.is(i, 'XX')) xx = true;
    else if (p.is(i, 'GT')) gt = true;
    else if (p.is(i, 'LT')) lt = true;
    else return x.out.error(`ERR Unsupported option ${p.str(i)}`);
  }
  if (nx && (xx || gt || lt)) return x.out.error('ERR NX and XX, GT or LT options at the same time are not compatible');
  if (gt && lt) return x.out.error('ERR GT and LT options at the same time are not compatible');
  const seconds = x.intArg(2);
  if (seconds === null) return;
  const now = Date.now();
  const at = seconds * 1000 + now;
  if (Math.abs(seconds * 1000) > MAX_EXPIRE_MS || at > MAX_EXPIRE_MS) return x.out.error("ERR invalid expire time in 'expire' command");
  const key = p.str(1);
  if (x.lookup(key) === undefined) return x.out.raw(ZERO);
  const current = x.expires.get(key) ?? Infinity; // no time to live counts as infinite
  if ((nx && current !== Infinity) || (xx && current === Infinity) || (gt && !(at > current)) || (lt && !(at < current))) {
    return x.out.raw(ZERO);
  }
  if (at <= now) x.remove(key);
  else x.expires.set(key, at);
  x.out.raw(ONE);
}

function ttl(x: RedisCommands): void {
  const key = x.p.str(1);
  if (x.lookup(key) === undefined) return x.out.integer(-2);
  const at = x.expires.get(key);
  if (at === undefined) return x.out.integer(-1);
  x.out.integer(Math.floor((Math.max(0, at - Date.now()) + 500) / 1000));
}

function push(front: boolean): Handler {
  return (x, argc) => {
    const key = x.p.str(1);
    let list = typed(x, key, List);
    if (list === null) return;
    if (list === undefined) {
      list = new List();
      x.data.set(key, list);
    }
    for (let i = 2; i < argc; i++) {
      if (front) list.pushFront(x.p.str(i));
      else list.pushBack(x.p.str(i));
    }
    x.out.integer(list.size);
  };
}

/**
 * LPOP, RPOP, SPOP: `key [count]`; a bulk string without a count (nil for a missing key), an
 * array of up to count values with one (`missing` for a missing key).
 */
function popper<T extends List | RedisSet>(kind: new () => T, take: (v: T) => string, missing: Buffer, tooMany: (x: RedisCommands) => void): Handler {
  return (x, argc) => {
    if (argc > 3) return tooMany(x);
    const count = argc === 3 ? x.intArg(2, true) : -1;
    if (count === null) return;
    const key = x.p.str(1);
    const v = typed(x, key, kind);
    if (v === null) return;
    if (v === undefined) return x.out.raw(count < 0 ? NIL : missing);
    if (count < 0) x.out.bulk(take(v));
    else {
      const n = Math.min(count, v.size);
      x.out.arrayHeader(n);
      for (let i = 0; i < n; i++) x.out.bulk(take(v));
    }
    if (v.size === 0) x.remove(key);
  };
}

function lrange(x: RedisCommands): void {
  const start0 = x.intArg(2);
  if (start0 === null) return;
  const stop0 = x.intArg(3);
  if (stop0 === null) return;
  const list = typed(x, x.p.str(1), List);
  if (list === null) return;
  if (list === undefined) return x.out.raw(EMPTY_ARRAY);
  const len = list.size;
  let start = start0 < 0 ? len + start0 : start0;
  let stop = stop0 < 0 ? len + stop0 : stop0;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return x.out.raw(EMPTY_ARRAY);
  if (stop >= len) stop = len - 1;
  x.out.arrayHeader(stop - start + 1);
  for (let i = start; i <= stop; i++) x.out.bulk(list.at(i));
}

function sadd(x: RedisCommands, argc: number): void {
  const key = x.p.str(1);
  let s = typed(x, key, RedisSet);
  if (s === null) return;
  if (s === undefined) {
    s = new RedisSet();
    x.data.set(key, s);
  }
  let added = 0;
  for (let i = 2; i < argc; i++) if (s.add(x.p.str(i))) added++;
  x.out.integer(added);
}

function smembers(x: RedisCommands): void {
  const s = typed(x, x.p.str(1), RedisSet);
  if (s === null) return;
  if (s === undefined) return x.out.raw(EMPTY_ARRAY);
  const members = s.values();
  x.out.arrayHeader(members.length);
  for (const m of members) x.out.bulk(m);
}

function hset(x: RedisCommands, argc: number): void {
  if (argc % 2 === 1) return x.arityError('hset');
  const key = x.p.str(1);
  let h = typed(x, key, Map<string, string>);
  if (h === null) return;
  if (h === undefined) {
    h = new Map<string, string>();
    x.data.set(key, h);
  }
  let added = 0;
  for (let i = 2; i < argc; i += 2) {
    const field = x.p.str(i);
    if (!h.has(field)) added++;
    h.set(field, x.p.str(i + 1));
  }
  x.out.integer(added);
}

function hget(x: RedisCommands): void {
  const h = typed(x, x.p.str(1), Map<string, string>);
  if (h === null) return;
  const v = h?.get(x.p.str(2));
  if (v === undefined) x.out.raw(NIL);
  else x.out.bulk(v);
}

function zadd(x: RedisCommands, argc: number): void {
  const p = x.p;
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  let ch = false;
  let incr = false;
  let i = 2;
  for (; i < argc; i++) {
    if (p.is(i, 'NX')) nx = true;
    else if (p.is(i, 'XX')) xx = true;
    else if (p.is(i, 'GT')) gt = true;
    else if (p.is(i, 'LT')) lt = true;
    else if (p.is(i, 'CH')) ch = true;
    else if (p.is(i, 'INCR')) incr = true;
    else break;
  }
  const pairs = argc - i;
  if (pairs % 2 !== 0 || pairs === 0) return x.out.error(SYNTAX);
  if (nx && xx) return x.out.error('ERR XX and NX options at the same time are not compatible');
  if ((gt && nx) || (lt && nx) || (gt && lt)) return x.out.error('ERR GT, LT, and/or NX options at the same time are not compatible');
  if (incr && pairs > 2) return x.out.error('ERR INCR option supports a single increment-element pair');
  const scores: number[] = [];
  for (let k = i; k < argc; k += 2) {
    const s = parseScore(p.str(k));
    if (s === null) return x.out.error(NOT_FLOAT);
    scores.push(s);
  }
  const key = p.str(1);
  let z = typed(x, key, ZSet);
  if (z === null) return;
  if (z === undefined) {
    if (xx) return x.out.raw(incr ? NIL : ZERO);
    z = new ZSet();
    x.data.set(key, z);
  }
  let added = 0;
  let changed = 0;
  let result: number | null = null;
  for (let k = 0; k < scores.length; k++) {
    const member = p.str(i + 2 * k + 1);
    const old = z.score(member);
    let score = scores[k]!;
    if (old === undefined) {
      if (xx) continue;
      z.set(member, score);
      added++;
      result = score;
      continue;
    }
    if (nx) continue;
    if (incr) {
      score += old;
      if (Number.isNaN(score)) return x.out.error('ERR resulting score is not a number (NaN)');
    }
    if ((gt && !(score > old)) || (lt && !(score < old))) continue;
    result = score;
    if (score !== old) {
      z.set(member, score);
      changed++;
    }
  }
  if (z.size === 0) x.remove(key);
  if (incr) {
    if (result === null) x.out.raw(NIL);
    else x.out.bulk(formatScore(result));
  } else x.out.integer(ch ? added + changed : added);
}

function zpopmin(x: RedisCommands, argc: number): void {
  if (argc > 3) return x.out.error(SYNTAX);
  let count = 1;
  if (argc === 3) {
    const n = x.intArg(2, true);
    if (n === null) return;
    count = n;
  }
  const key = x.p.str(1);
  const z = typed(x, key, ZSet);
  if (z === null) return;
  if (z === undefined) return x.out.raw(EMPTY_ARRAY);
  const n = Math.min(count, z.size);
  x.out.arrayHeader(n * 2);
  for (let i = 0; i < n; i++) {
    const e = z.popMin();
    x.out.bulk(e.member);
    x.out.bulk(formatScore(e.score));
  }
  if (z.size === 0) x.remove(key);
}

const COMMANDS: Command[] = [
  {
    name: 'ping', arity: -1, run: (x, argc) => {
      if (argc > 2) x.arityError('ping');
      else if (argc === 2) x.out.bulkBytes(x.p.src, x.p.starts[1]!, x.p.ends[1]!);
      else x.out.raw(PONG);
    },
  },
  { name: 'echo', arity: 2, run: (x) => x.out.bulkBytes(x.p.src, x.p.starts[1]!, x.p.ends[1]!) },
  { name: 'set', arity: -3, run: set },
  { name: 'get', arity: 2, run: get },
  {
    name: 'del', arity: -2, run: (x, argc) => {
      let n = 0;
      for (let i = 1; i < argc; i++) if (x.remove(x.p.str(i))) n++;
      x.out.integer(n);
    },
  },
  {
    name: 'exists', arity: -2, run: (x, argc) => {
      let n = 0;
      for (let i = 1; i < argc; i++) if (x.lookup(x.p.str(i)) !== undefined) n++;
      x.out.integer(n);
    },
  },
  { name: 'incr', arity: 2, run: (x) => x.incrBy(1) },
  { name: 'decr', arity: 2, run: (x) => x.incrBy(-1) },
  {
    name: 'mset', arity: -3, run: (x, argc) => {
      if (argc % 2 === 0) return x.arityError('mset');
      for (let i = 1; i < argc; i += 2) x.setString(x.p.str(i), x.p.str(i + 1));
      x.out.raw(OK);
    },
  },
  {
    name: 'mget', arity: -2, run: (x, argc) => {
      x.out.arrayHeader(argc - 1);
      for (let i = 1; i < argc; i++) {
        const v = x.lookup(x.p.str(i));
        if (typeof v === 'string') x.out.bulk(v);
        else x.out.raw(NIL);
      }
    },
  },
  { name: 'expire', arity: -3, run: expire },
  { name: 'ttl', arity: 2, run: ttl },
  { name: 'lpush', arity: -3, run: push(true) },
  { name: 'rpush', arity: -3, run: push(false) },
  { name: 'lpop', arity: -2, run: popper(List, (l) => l.popFront(), NIL_ARRAY, (x) => x.arityError('lpop')) },
  { name: 'rpop', arity: -2, run: popper(List, (l) => l.popBack(), NIL_ARRAY, (x) => x.arityError('rpop')) },
  { name: 'lrange', arity: 4, run: lrange },
  { name: 'sadd', arity: -3, run: sadd },
  { name: 'spop', arity: -2, run: popper(RedisSet, (s) => s.popRandom(), EMPTY_ARRAY, (x) => x.out.error(SYNTAX)) },
  { name: 'smembers', arity: 2, run: smembers },
  { name: 'hset', arity: -4, run: hset },
  { name: 'hget', arity: 3, run: hget },
  { name: 'zadd', arity: -4, run: zadd },
  { name: 'zpopmin', arity: -2, run: zpopmin },
  {
    name: 'flushall', arity: -1, run: (x, argc) => {
      if (argc > 2 || (argc === 2 && !x.p.is(1, 'ASYNC') && !x.p.is(1, 'SYNC'))) return x.out.error(SYNTAX);
      x.flush();
      x.out.raw(OK);
    },
  },
  { name: 'dbsize', arity: 1, run: (x) => x.out.integer(x.data.size) },
  QUIT,
  {
    name: 'config', arity: -2, run: (x, argc) => {
      if (!x.p.is(1, 'GET')) return x.out.error(`ERR unknown subcommand '${x.p.str(1).slice(0, 128)}'. Try CONFIG HELP.`);
      if (argc < 3) return x.arityError('config|get');
      x.configGet(argc);
    },
  },
  { name: 'command', arity: -1, run: (x) => x.out.raw(EMPTY_ARRAY) },
];
