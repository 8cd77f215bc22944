/**
 * Codecs on a live Conn (gnet's behaviour): frames split across TCP segments at random places are
 * decoded whole and in order; a hostile length field closes that connection with
 * ERR_FRAME_TOO_LARGE while the other connections carry on (TestSimServer's shape: at most a
 * few frames per call, wake() for the rest).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DelimiterCodec, LengthFieldCodec, LineCodec, type EventHandler } from '../../host/index.js';
import { testMode } from '../support/mode.js';
import { Random } from '../support/random.js';
import { StreamPeer } from '../support/clients.js';
import { LOOPBACK, startServer } from '../support/server.js';
import { Counter, deferred, within } from '../support/wait.js';

/** Parses 4-byte big-endian length-prefixed frames from `stream`. */
function parseFrames(stream: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < stream.length; ) {
    const len = stream.readUInt32BE(at);
    frames.push(stream.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return frames;
}

describe(`codecs on connections (${testMode})`, () => {
  test('LengthFieldCodec decodes frames split across TCP segments at random places, in order', { timeout: 30_000 }, async () => {
    const codec = new LengthFieldCodec({ lengthFieldLength: 4, initialBytesToStrip: 4 });
    const traffic = new Counter('onTraffic');
    const decodedSizes: number[] = [];
    const handler: EventHandler = {
      onTraffic(c) {
        for (let frame = codec.decode(c); frame !== null; frame = codec.decode(c)) {
          decodedSizes.push(frame.length);
          codec.write(c, frame); // echo, framed again
        }
        traffic.inc();
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const rng = new Random(4242);
      const payloads = Array.from({ length: 60 }, () => rng.bytes(rng.int(0, rng.next() < 0.2 ? 200_000 : 300)));
      const stream = Buffer.concat(payloads.map((p) => codec.encode(p)));
      const peer = await StreamPeer.connect(server.addrs[0]!, { noDelay: true });
      // Each piece is sent only once the server has seen the previous one, so every cut is a
      // separate read on the server side: frames and even headers arrive in parts.
      let sent = 0;
      for (const piece of rng.chunks(stream, 9000)) {
        const before = traffic.value;
        await peer.write(piece);
        sent += piece.length;
        await traffic.wait(before + 1);
      }
      assert.equal(sent, stream.length);
      const echoed = await peer.read(stream.length, 'every framed echo');
      const frames = parseFrames(echoed);
      assert.equal(frames.length, payloads.length);
      frames.forEach((f, i) => assert.ok(f.equals(payloads[i]!), `frame ${i} (seed ${rng.seed})`));
      assert.deepEqual(decodedSizes, payloads.map((p) => p.length));
      assert.ok(traffic.value > payloads.length, 'frames really arrived in parts');
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('LineCodec with at most 2 frames per call and wake() for the rest (TestSimServer)', { timeout: 20_000 }, async () => {
    const codec = new LineCodec();
    const batchRead = 2;
    const handler: EventHandler = {
      onTraffic(c) {
        const replies: Uint8Array[] = [];
        for (let i = 0; i < batchRead; i++) {
          const frame = codec.decode(c);
          if (frame === null) break;
          replies.push(codec.encode(Buffer.from(frame.toString().toUpperCase())));
        }
        if (replies.length > 0) c.writev(replies);
        if (c.inboundBuffered() > 0) void c.wake();
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp, { numEventLoop: 2 });
    try {
      const rng = new Random(77);
      await Promise.all(
        [0, 1, 2].map(async (k) => {
          const peer = await StreamPeer.connect(server.addrs[0]!);
          const lines = Array.from({ length: 50 }, (_, i) => `c${k}-l${i}-${rng.int(0, 1e9).toString(36)}`);
          await peer.write(lines.map((l) => `${l}\n`).join(''));
          const expected = lines.map((l) => `${l.toUpperCase()}\n`).join('');
          assert.equal((await peer.read(expected.length, `client ${k} replies`)).toString(), expected);
          peer.destroy();
        }),
      );
    } finally {
      await server.shutdown();
    }
  });

  test('two codecs take turns on one connection: `line.decode(c) ?? zero.decode(c)` decodes both kinds', { timeout: 20_000 }, async () => {
    // Each codec keeps its own scan position: the line codec ruling out '\n' in "a\0" must not
    // stop the NUL codec from finding its delimiter there (issue 11: nothing was ever decoded).
    const line = new LineCodec();
    const zero = new DelimiterCodec(0);
    const handler: EventHandler = {
      onTraffic(c) {
        for (let f = line.decode(c) ?? zero.decode(c); f !== null; f = line.decode(c) ?? zero.decode(c)) {
          c.write(`<${f.toString()}>`);
        }
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const peer = await StreamPeer.connect(server.addrs[0]!, { noDelay: true });
      // One frame at a time, each answered before the next is sent: every turn starts with
      // the line codec scanning bytes that hold only the other codec's delimiter.
      const pieces: [string, string][] = [['a\0', '<a>'], ['bb\n', '<bb>'], ['cc', ''], ['c\0', '<ccc>'], ['d\0e\0', '<d><e>'], ['f\n', '<f>']];
      for (const [send, reply] of pieces) {
        await peer.write(Buffer.from(send, 'latin1'));
        if (reply) assert.equal((await peer.read(reply.length, `reply to ${JSON.stringify(send)}`)).toString(), reply);
      }
      peer.destroy();
    } finally {
      await server.shutdown();
    }
  });

  test('a hostile length field closes that connection with ERR_FRAME_TOO_LARGE; the others continue', { timeout: 20_000 }, async () => {
    const codec = new LengthFieldCodec({ lengthFieldLength: 4 });
    const closeErr = deferred<Error | null>();
    const handler: EventHandler = {
      onTraffic(c) {
        // Not caught on purpose: the exception path closes the conn and reports the error.
        for (let frame = codec.decode(c); frame !== null; frame = codec.decode(c)) c.write(frame);
      },
      onClose(_c, err) {
        if (err !== null && !closeErr.settled) closeErr.resolve(err);
      },
    };
    const server = await startServer(handler, LOOPBACK.tcp);
    try {
      const good = await StreamPeer.connect(server.addrs[0]!);
      const hostile = await StreamPeer.connect(server.addrs[0]!);
      const ok = codec.encode(Buffer.from('fine'));
      await good.write(ok);
      assert.ok((await good.read(ok.length)).equals(ok));
      // 0xFFFFFFF0 bytes announced: rejected from the header alone, nothing allocated.
      await hostile.write(Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3]));
      await hostile.waitEnd();
      const err = (await within('onClose of the hostile conn', 10_000, closeErr.promise)) as Error & { code?: string; cause?: { code?: string } };
      assert.ok(err.code === 'ERR_FRAME_TOO_LARGE' || err.cause?.code === 'ERR_FRAME_TOO_LARGE', `onClose got ${err.message}`);
      const again = codec.encode(Buffer.from('still fine'));
      await good.write(again);
      assert.ok((await good.read(again.length)).equals(again));
      assert.equal(server.engine.countConnections(), 1);
      good.destroy();
    } finally {
      await server.shutdown();
    }
  });
});

