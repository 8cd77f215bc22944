/**
 * The HTTP/1.1 handler of examples/http-server.ts, as a handler module: the default export is the
 * handler, so `run(new URL('./http-handler.js', import.meta.url), addr, { numEventLoop: N })`
 * loads it in every process (or thread) that runs a loop, each with its own copy of this state.
 *
 * The shape of gnet's benchmark HTTP server: GET /plaintext answers "Hello, World!"; connections
 * are kept alive; pipelined requests are answered in order, all the answers of one read in one
 * write; a malformed request gets 400 Bad Request and the connection closes. Request bodies
 * (Content-Length) are read and ignored; chunked bodies are not supported (501, then close).
 * onBoot prints "listening <host:port>" (the line the tests and the benchmark wait for).
 */
import { Action, type Conn, type EventHandler } from '../host/index.js';

const MAX_HEAD = 8192; // a request head longer than this is refused (400)
const CRLFCRLF = Buffer.from('\r\n\r\n');

let date = '';
function response(status: string, body: string, close = false): Buffer {
  return Buffer.from(
    `HTTP/1.1 ${status}\r\nServer: zgnet\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nDate: ${date}\r\n` +
      `${close ? 'Connection: close\r\n' : ''}\r\n${body}`,
  );
}
let hello: Buffer;
let notFound: Buffer;
let notAllowed: Buffer;
// The Date header (and the responses carrying it) is rebuilt by the first read a second or more
// after the last rebuild, not by onTick: onTick runs in the main process only, while the loops of
// a handler module may run in worker processes that would otherwise keep their start-up date.
let staleAt = 0;
function refresh(now: number): void {
  date = new Date(now).toUTCString();
  hello = response('200 OK', 'Hello, World!');
  notFound = response('404 Not Found', 'Not Found');
  notAllowed = response('405 Method Not Allowed', 'Method Not Allowed');
  staleAt = now + 1000;
}
refresh(Date.now());
const badRequest = (): Buffer => response('400 Bad Request', 'Bad Request', true);
const notImplemented = (): Buffer => response('501 Not Implemented', 'Not Implemented', true);

const CONNECTION_CLOSE = Buffer.from('Connection: close\r\n');
/** The same response with `Connection: close` added (the rare path: a client asked to close). */
function withClose(reply: Buffer): Buffer {
  const at = reply.indexOf(CRLFCRLF) + 2;
  return Buffer.concat([reply.subarray(0, at), CONNECTION_CLOSE, reply.subarray(at)]);
}

/** The verdict on one request head: what to answer, how much to consume, whether to close. */
interface Parsed {
  reply: Buffer;
  /** bytes of head + body, or -1 when the body has not all arrived */
  length: number;
  close: boolean;
}

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.([01])$/;

function parse(head: string, headLength: number, available: number): Parsed {
  const lineEnd = head.indexOf('\r\n');
  const line = lineEnd < 0 ? head : head.slice(0, lineEnd);
  const m = REQUEST_LINE.exec(line);
  if (!m) return { reply: badRequest(), length: 0, close: true };
  const method = m[1]!;
  const target = m[2]!;
  let keepAlive = m[3] === '1';
  let bodyLength = 0;
  if (lineEnd >= 0) {
    let at = lineEnd + 2;
    while (at < head.length) {
      let end = head.indexOf('\r\n', at);
      if (end < 0) end = head.length;
      const colon = head.indexOf(':', at);
      if (colon <= at || colon > end) return { reply: badRequest(), length: 0, close: true };
      const nameLength = colon - at;
      // Only three headers matter; compare lengths first so most lines cost one check.
      if (nameLength === 14 || nameLength === 17 || nameLength === 10) {
        const name = head.slice(at, colon).toLowerCase();
        const value = head.slice(colon + 1, end).trim();
        if (name === 'content-length') {
          if (!/^\d{1,9}$/.test(value)) return { reply: badRequest(), length: 0, close: true };
          bodyLength = Number(value);
        } else if (name === 'transfer-encoding') {
          return { reply: notImplemented(), length: 0, close: true };
        } else if (name === 'connection') {
          const v = value.toLowerCase();
          if (v === 'close') keepAlive = false;
          else if (v === 'keep-alive') keepAlive = true;
        }
      }
      at = end + 2;
    }
  }
  const length = headLength + 4 + bodyLength;
  if (available < length) return { reply: hello, length: -1, close: false };
  let reply: Buffer;
  if (target !== '/plaintext') reply = notFound;
  else if (method === 'GET' || method === 'HEAD') reply = hello;
  else reply = notAllowed;
  if (method === 'HEAD') reply = reply.subarray(0, reply.indexOf(CRLFCRLF) + 4);
  if (!keepAlive) reply = withClose(reply);
  return { reply, length, close: !keepAlive };
}

const httpHandler: EventHandler = {
  onBoot(engine) {
    process.stdout.write(`listening ${(engine.addrs[0] ?? '').replace(/^[a-z0-9]+:\/\//, '')}\n`);
  },
  onTraffic(c: Conn) {
    const data = c.peek(); // a view, valid until we return
    if (data === null || data.length === 0) return Action.None;
    const now = Date.now();
    if (now >= staleAt) refresh(now);
    let pos = 0;
    let close = false;
    const replies: Buffer[] = [];
    while (pos < data.length) {
      const end = data.indexOf(CRLFCRLF, pos);
      if (end < 0) {
        if (data.length - pos > MAX_HEAD) {
          replies.push(badRequest());
          close = true;
        }
        break;
      }
      if (end - pos > MAX_HEAD) {
        replies.push(badRequest());
        close = true;
        break;
      }
      const p = parse(data.toString('latin1', pos, end), end - pos, data.length - pos);
      if (p.length < 0) break; // the body is still on its way
      replies.push(p.reply);
      if (p.close) {
        close = true;
        break;
      }
      pos += p.length;
    }
    // discard(n <= 0) would discard everything: only call it with something to drop
    const consumed = close ? data.length : pos;
    if (consumed > 0) c.discard(consumed);
    if (replies.length === 1) c.write(replies[0]!);
    else if (replies.length > 1) c.writev(replies);
    return close ? Action.Close : Action.None;
  },
};

export default httpHandler;
