#!/bin/bash
# Native engine vs node:net, 64-byte TCP echo, interleaved rounds (alternating rounds, medians, ratios in the same run).
# Needs `npm run build` and `zig build bench-tools`. Prints one JSON line per run, tagged
# "<server> <conns>"; summarise medians and per-round ratios yourself (or with jq).
#   ROUNDS=5 D=2 CONNS="8 64 500" bench/native-vs-net.sh
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}; D=${D:-3}; CONNS=${CONNS:-"8 64 500"}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/native.mjs" <<JS
import { run } from '$ROOT/dist/host/index.js';
process.on('SIGTERM', () => process.exit(0));
await run({ onBoot(e) { console.log(e.addrs[0]); }, onTraffic(c) { c.write(c.next()); } }, 'tcp://127.0.0.1:0', { mode: 'native' });
JS
cat > "$TMP/net.mjs" <<'JS'
import net from 'node:net';
const srv = net.createServer({ noDelay: true }, (s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); });
srv.listen(0, '127.0.0.1', () => console.log('tcp://127.0.0.1:' + srv.address().port));
JS
for r in $(seq "$ROUNDS"); do
  for c in $CONNS; do
    for s in net native; do
      node "$TMP/$s.mjs" > "$TMP/addr" &
      PID=$!
      for i in $(seq 100); do [ -s "$TMP/addr" ] && break; sleep 0.05; done
      ADDR=$(sed 's#tcp://##' "$TMP/addr")
      OUT=$("$ROOT/zig-out/bin/zgnet-loadgen" --proto tcp --addr "$ADDR" -c "$c" -s 64 -d "$D" --warmup 1 --server-pid "$PID" 2>/dev/null)
      echo "$s $c $OUT"
      kill "$PID"; wait "$PID" 2>/dev/null; : > "$TMP/addr"
    done
  done
done
