/**
 * RESP2 framing for examples/redis-server.ts and its node:net twin (bench/servers/net-redis.ts):
 * a request parser that reads requests straight out of the received bytes (arguments are
 * offsets, nothing is copied or allocated per request) and a reply writer that appends every
 * reply of one read into one reusable buffer, handed to the socket in one write.
 *
 * Limits are Redis 7.0's defaults (src/server.h, redis.conf):
 *   - a bulk argument longer than proto-max-bulk-len (512 MiB) is "invalid bulk length";
 *   - an inline request, or a `*`/`$` header line, without its newline after 64 KiB
 *     (PROTO_INLINE_MAX_SIZE) is "too big inline request" / "too big mbulk count string" /
 *     "too big bulk count string";
 *   - more than 1024 * 1024 arguments is "invalid multibulk length" (Redis's limit for a
 *     client that has not authenticated; this server has no AUTH).
 * Redis answers those with `-ERR Protocol error: ...` and closes the connection; so do we.
 */

/** Node's Buffer has these (they back toString/write); typed here to skip argument checks. */
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(text: string, offset: number, length?: number): number;
}

export const PROTO_INLINE_MAX_SIZE = 64 * 1024;
export const PROTO_MAX_BULK_LEN = 512 * 1024 * 1024;
export const PROTO_MAX_MULTIBULK_LEN = 1024 * 1024;

/** What parse() found at the offset it was given. */
export const DONE = 0;
export const INCOMPLETE = 1;
export const PROTOCOL_ERROR = 2;

const CR = 13;
const LF = 10;
const NO_NUMBER = -1; // the header line held something other than digits
const NOT_YET = -2; // the header line has not ended yet

/**
 * Parses one request at a time. After DONE: `argc` arguments, argument i being
 * `src[starts[i], ends[i])` (src is the data, or a scratch buffer for an inline request with
 * quotes), and `next` the offset after the request (argc 0: an empty request to skip). After
 * INCOMPLETE: `need`, how many bytes from the request's start must be buffered before parsing
 * it again can succeed (a lower bound; it saves re-reading a large value as it trickles in).
 * After PROTOCOL_ERROR: `error`, Redis's message.
 */
export class RequestParser {
  argc = 0;
  starts = new Int32Array(16);
  ends = new Int32Array(16);
  src: Latin1Buffer = Buffer.alloc(0) as Latin1Buffer;
  next = 0;
  need = 0;
  error = '';
  maxBulkLen: number;
  private lineEnd = 0;
  private scratch = Buffer.allocUnsafe(256) as Latin1Buffer;

  constructor(maxBulkLen = PROTO_MAX_BULK_LEN) {
    this.maxBulkLen = maxBulkLen;
  }

  parse(d: Buffer, pos: number, end: number): number {
    this.src = d as Latin1Buffer;
    this.argc = 0;
    return d[pos] === 42 /* '*' */ ? this.multibulk(d, pos, end) : this.inline(d, pos, end);
  }

  /** The argument as a string, one char per byte (binary-safe: keys and values round-trip). */
  str(i: number): string {
    return this.src.latin1Slice(this.starts[i]!, this.ends[i]!);
  }

  /** Argument i compared with an upper-case ASCII word, case-insensitively. */
  is(i: number, upper: string): boolean {
    const s = this.starts[i]!;
    if (this.ends[i]! - s !== upper.length) return false;
    const d = this.src;
    for (let k = 0; k < upper.length; k++) if ((d[s + k]! & 0xdf) !== upper.charCodeAt(k)) return false;
    return true;
  }

  /**
   * Reads the digits of a `*N` or `$N` line starting after its marker at `at`; sets lineEnd to
   * the '\r'. NOT_YET while the line is incomplete, NO_NUMBER when it is not a number (or a
   * negative one: `-1` parses, as Redis's string2ll, and the callers decide).
   */
  private lineNumber(d: Buffer, at: number, end: number): number {
    let i = at;
    let negative = false;
    if (i < end && d[i] === 45 /* '-' */) {
      negative = true;
      i++;
    }
    const first = i;
    let n = 0;
    while (i < end) {
      const c = d[i]!;
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      i++;
    }
    if (i < end && d[i] === CR && i > first && i - first <= 18) {
      if (i + 1 >= end) return NOT_YET;
      this.lineEnd = i;
      return negative ? -n - 10 : n; // negatives come back below NOT_YET
    }
    // not a plain number: is the line complete? (Redis looks for '\r' first, then parses)
    const cr = i < end ? d.indexOf(CR, i) : -1;
    if (cr < 0 || cr + 1 >= end) return NOT_YET;
    this.lineEnd = cr;
    return NO_NUMBER;
  }

  private incomplete(pos: number, end: number, need: number): number {
    this.need = need > end - pos ? need : end - pos + 1;
    return INCOMPLETE;
  }

  private fail(message: string): number {
    this.error = message;
    return PROTOCOL_ERROR;
  }

  private multibulk(d: Buffer, pos: number, end: number): number {
    let count = this.lineNumber(d, pos + 1, end);
    if (count === NOT_YET) {
      if (end - pos > PROTO_INLINE_MAX_SIZE) return this.fail('too big mbulk count string');
      return this.incomplete(pos, end, 0);
    }
    if (count === NO_NUMBER || count > PROTO_MAX_MULTIBULK_LEN) return this.fail('invalid multibulk length');
    let at = this.lineEnd + 2;
    if (count <= 0 || count < NOT_YET) {
      // `*0` and `*-1` are empty requests: skipped, as Redis does
      this.next = at;
      return DONE;
    }
    if (count > this.starts.length) {
      let size = this.starts.length;
      while (size < count) size *= 2;
      this.starts = new Int32Array(size);
      this.ends = new Int32Array(size);
    }
    const starts = this.starts;
    const ends = this.ends;
    for (let i = 0; i < count; i++) {
      if (at >= end) return this.incomplete(pos, end, 0);
      const len = this.lineNumber(d, at + 1, end);
      if (len === NOT_YET) {
        if (end - at > PROTO_INLINE_MAX_SIZE) return this.fail('too big bulk count string');
        return this.incomplete(pos, end, 0);
      }
      if (d[at] !== 36 /* '$' */) return this.fail(`expected '$', got '${String.fromCharCode(d[at]!)}'`);
      if (len < 0 || len > this.maxBulkLen) return this.fail('invalid bulk length');
      const start = this.lineEnd + 2;
      const stop = start + len;
      // Redis skips the two bytes after the value without looking at them; so do we
      if (stop + 2 > end) return this.incomplete(pos, end, stop + 2 - pos);
      starts[i] = start;
      ends[i] = stop;
      at = stop + 2;
    }
    this.argc = count;
    this.next = at;
    return DONE;
  }

  private inline(d: Buffer, pos: number, end: number): number {
    const nl = d.indexOf(LF, pos);
    if (nl < 0 || nl >= end) {
      if (end - pos > PROTO_INLINE_MAX_SIZE) return this.fail('too big inline request');
      return this.incomplete(pos, end, 0);
    }
    this.next = nl + 1;
    let stop = nl;
    if (stop > pos && d[stop - 1] === CR) stop--;
    let argc = 0;
    let i = pos;
    while (i < stop) {
      const c = d[i]!;
      if (c === 34 /* '"' */ || c === 39 /* '\'' */) return this.quotedInline(d, pos, stop);
      if (isSpace(c)) {
        i++;
        continue;
      }
      const start = i;
      while (i < stop && !isSpace(d[i]!)) {
        if (d[i] === 34 || d[i] === 39) return this.quotedInline(d, pos, stop);
        i++;
      }
      this.push(argc++, start, i);
    }
    this.argc = argc;
    return DONE;
  }

  private push(i: number, start: number, stop: number): void {
    if (i >= this.starts.length) {
      const starts = new Int32Array(this.starts.length * 2);
      const ends = new Int32Array(this.ends.length * 2);
      starts.set(this.starts);
      ends.set(this.ends);
      this.starts = starts;
      this.ends = ends;
    }
    this.starts[i] = start;
    this.ends[i] = stop;
  }

  /**
   * An inline request with quotes, split as Redis's sdssplitargs does ("..." with \n \r \t \b
   * \a \xHH escapes, '...' with \'; a closing quote must be followed by a space). The unquoted
   * arguments are written into a scratch buffer, which becomes `src`.
   */
  private quotedInline(d: Buffer, pos: number, stop: number): number {
    if (this.scratch.length < stop - pos) this.scratch = Buffer.allocUnsafe(stop - pos) as Latin1Buffer;
    const out = this.scratch;
    let o = 0;
    let argc = 0;
    let i = pos;
    for (;;) {
      while (i < stop && isSpace(d[i]!)) i++;
      if (i >= stop) break;
      const start = o;
      let inq = false; // inside "..."
      let insq = false; // inside '...'
      let done = false;
      while (!done) {
        const c = i < stop ? d[i]! : -1;
        if (inq) {
          if (c < 0) return this.fail('unbalanced quotes in request');
          if (c === 92 /* '\\' */ && d[i + 1] === 120 /* 'x' */ && i + 3 < stop && isHex(d[i + 2]!) && isHex(d[i + 3]!)) {
            out[o++] = hexValue(d[i + 2]!) * 16 + hexValue(d[i + 3]!);
            i += 3;
          } else if (c === 92 && i + 1 < stop) {
            i++;
            const e = d[i]!;
            out[o++] = e === 110 ? 10 : e === 114 ? 13 : e === 116 ? 9 : e === 98 ? 8 : e === 97 ? 7 : e;
          } else if (c === 34) {
            if (i + 1 < stop && !isSpace(d[i + 1]!)) return this.fail('unbalanced quotes in request');
            done = true;
          } else {
            out[o++] = c;
          }
        } else if (insq) {
          if (c < 0) return this.fail('unbalanced quotes in request');
          if (c === 92 && d[i + 1] === 39 && i + 1 < stop) {
            i++;
            out[o++] = 39;
          } else if (c === 39) {
            if (i + 1 < stop && !isSpace(d[i + 1]!)) return this.fail('unbalanced quotes in request');
            done = true;
          } else {
            out[o++] = c;
          }
        } else if (c < 0 || isSpace(c)) {
          done = true;
        } else if (c === 34) {
          inq = true;
        } else if (c === 39) {
          insq = true;
        } else {
          out[o++] = c;
        }
        if (i < stop) i++;
      }
      this.push(argc++, start, o);
    }
    this.src = out;
    this.argc = argc;
    return DONE;
  }
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : (c | 0x20) - 87;
}

/** Replies of one read, appended into one buffer that is reused from read to read. */
export class ReplyWriter {
  buf: Latin1Buffer;
  pos = 0;
  private readonly initial: number;

  constructor(initial = 64 * 1024) {
    this.initial = initial;
    this.buf = Buffer.allocUnsafe(initial) as Latin1Buffer;
  }

  /** The replies written since the last reset (a view: the socket write must copy or finish first). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** Starts a new batch; gives back memory a huge reply grew the buffer to. */
  reset(): void {
    this.pos = 0;
    if (this.buf.length > 16 * this.initial) this.buf = Buffer.allocUnsafe(this.initial) as Latin1Buffer;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size) as Latin1Buffer;
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** Pre-encoded bytes (constant replies). */
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    const buf = this.buf;
    let p = this.pos;
    if (bytes.length <= 16) for (let i = 0; i < bytes.length; i++) buf[p++] = bytes[i]!;
    else {
      buf.set(bytes, p);
      p += bytes.length;
    }
    this.pos = p;
  }

  private text(s: string): void {
    const buf = this.buf;
    const n = s.length;
    if (n <= 24) {
      let p = this.pos;
      for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
      this.pos = p;
    } else {
      this.pos += buf.latin1Write(s, this.pos, n);
    }
  }

  private crlf(): void {
    this.buf[this.pos++] = CR;
    this.buf[this.pos++] = LF;
  }

  /** Writes a non-negative integer's digits. */
  private digits(n: number): void {
    if (n < 10) {
      this.buf[this.pos++] = 48 + n;
      return;
    }
    this.text(String(n));
  }

  simple(s: string): void {
    this.room(s.length + 3);
    this.buf[this.pos++] = 43; // '+'
    this.text(s);
    this.crlf();
  }

  /** `-<message>`: the message starts with its code (ERR, WRONGTYPE); CR/LF become spaces, as Redis does. */
  error(message: string): void {
    const m = message.replace(/[\r\n]/g, ' ');
    this.room(m.length + 3);
    this.buf[this.pos++] = 45; // '-'
    this.text(m);
    this.crlf();
  }

  integer(n: number | bigint): void {
    const s = String(n);
    this.room(s.length + 3);
    this.buf[this.pos++] = 58; // ':'
    this.text(s);
    this.crlf();
  }

  private header(marker: number, n: number): void {
    this.room(24);
    this.buf[this.pos++] = marker;
    if (n < 0) {
      this.buf[this.pos++] = 45;
      n = -n;
    }
    this.digits(n);
    this.crlf();
  }

  arrayHeader(n: number): void {
    this.header(42, n); // '*'
  }

  /** A bulk string from a string holding one byte per char. */
  bulk(s: string): void {
    const n = s.length;
    this.room(n + 24);
    this.header(36, n); // '$'
    this.text(s);
    this.crlf();
  }

  /** A bulk string of bytes src[start, end). */
  bulkBytes(src: Buffer, start: number, end: number): void {
    const n = end - start;
    this.room(n + 24);
    this.header(36, n);
    src.copy(this.buf, this.pos, start, end);
    this.pos += n;
    this.crlf();
  }
}
