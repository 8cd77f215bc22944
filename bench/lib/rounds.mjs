// The benchmark's method for a group of cases measured by an outside client (wrk,
// redis-benchmark, the load generator through a proxy): every competitor's server is started
// once for the group; each case runs `rounds` rounds, competitors alternating within a round
// (order rotated each round) so that every median comes from the same stretch of time.
import { reasonFrom, resetPeakRss, treeMemKb } from './proc.mjs';

/** A server that died is started again this many times per group, at most. */
const RESTARTS = 2;

export function rotate(list, k) {
  const n = list.length;
  return list.map((_, i) => list[(i + k) % n]);
}

/**
 * Runs `group` against `comps`; returns [{ case, rows }] as the report wants them.
 *   launch(comp) -> { server, addr } | { na: reason }     stop(comp, s)
 *   measure(kase, s, comp, round, row) -> { ok, rate, p50, p99, cpuPerM } | { ok: false, reason }
 *   describe(kase, comp, res) -> the progress line of one run
 *   summarize(kase, rows, baseId)                          outOfTime() -> boolean
 * What went wrong on the way (a server restarted, peak RSS not resettable) goes into `notes`.
 */
export async function alternateRounds({ what, group, comps, rounds, baseId, launch, stop, measure, describe, summarize, outOfTime, timeLimitS, notes }) {
  const servers = new Map();
  const restarts = new Map();
  const out = [];
  try {
    for (const comp of comps) {
      const s = await launch(comp);
      servers.set(comp.id, s);
      console.log(`bench: ${what} ${comp.label}: ${s.na ? `n/a (${s.na})` : `listening ${s.addr} (pid ${s.server.pid})`}`);
    }
    for (const kase of group) {
      const rows = comps.map((comp) => ({ comp, status: 'pending', reason: null, rounds: [], notes: [], rssMiB: null }));
      for (const comp of comps) {
        const s = servers.get(comp.id);
        if (s?.server && !s.server.exited && !resetPeakRss(s.server.pid)) notes.push(`cannot reset VmHWM of ${comp.label}: peak RSS covers earlier cases too`);
      }
      for (let round = 0; round < rounds; round++) {
        for (const comp of rotate(comps, round)) {
          const row = rows.find((r) => r.comp.id === comp.id);
          let s = servers.get(comp.id);
          if (outOfTime()) {
            row.rounds.push({ ok: false, reason: 'time limit' });
            if (row.rounds.every((x) => !x.ok)) {
              row.status = 'skipped';
              row.reason = `time limit of ${timeLimitS} s reached`;
            }
            continue;
          }
          if (s.server?.exited && (restarts.get(comp.id) ?? 0) < RESTARTS) {
            restarts.set(comp.id, (restarts.get(comp.id) ?? 0) + 1);
            const died = `server had exited (${s.server.exited.signal ?? `exit ${s.server.exited.code}`}): ${reasonFrom(s.server.stderr(), 'no output')}`;
            notes.push(`${comp.label} (${kase.id}): ${died}; restarted`);
            s = await launch(comp);
            if (s.na) s.na = `${died}; restart failed: ${s.na}`;
            servers.set(comp.id, s);
          }
          if (s.na || s.server.exited) {
            row.rounds.push({ ok: false, reason: s.na ?? `server exited: ${reasonFrom(s.server.stderr(), 'no output')}` });
            continue;
          }
          const res = await measure(kase, s, comp, round, row);
          row.rounds.push(res);
          console.log(`  ${(kase.short ?? kase.label).padEnd(26)} round ${round + 1}/${rounds} ${comp.label.padEnd(22)} ${res.ok ? describe(kase, comp, res) : `failed: ${res.reason}`}`);
        }
      }
      for (const row of rows) {
        const s = servers.get(row.comp.id);
        if (s?.server && !s.server.exited) {
          const kb = treeMemKb(s.server.pid, 'VmHWM');
          row.rssMiB = kb === null ? null : kb / 1024;
        }
      }
      summarize(kase, rows, baseId);
      out.push({ case: kase, rows });
    }
  } finally {
    for (const comp of comps) await stop(comp, servers.get(comp.id));
  }
  return out;
}
