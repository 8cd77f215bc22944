// Turns a benchmark run into the markdown report and the SVG chart (hand-written, no
// dependencies). Input: the object scripts/bench.mjs builds (see `results` there).

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const fmtRate = (x) => (x === null || x === undefined ? '—' : x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e4 ? `${(x / 1e3).toFixed(0)} k` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0));
const fmtNum = (x, d = 1) => (x === null || x === undefined ? '—' : x.toFixed(d));
const fmtRatio = (x) => (x === null || x === undefined ? '—' : `${x.toFixed(2)}x`);
const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function cellStatus(row) {
  if (row.status === 'ok') return null;
  return `${row.status === 'skipped' ? 'skipped' : 'n/a'} (${esc(row.reason ?? 'unknown')})`;
}

/** Competitors in first-seen order over a list of cases. */
function competitorsOf(cases) {
  const seen = new Map();
  for (const c of cases) for (const r of c.rows) if (!seen.has(r.comp.id)) seen.set(r.comp.id, r.comp);
  return [...seen.values()];
}

const COLORS = {
  'zgnet-native': '#d9480f',
  'zgnet-wasm': '#f59f00',
  net: '#1c7ed6',
  dgram: '#1c7ed6',
  'node-http': '#1c7ed6',
  'net-cluster': '#74c0fc',
  'net-http': '#74c0fc',
  bun: '#ae3ec9',
  'c-epoll': '#495057',
  'redis-server': '#495057',
  haproxy: '#495057',
  'net-redis': '#1c7ed6',
  'net-proxy': '#1c7ed6',
  'node-tls': '#1c7ed6',
};
/** Bar slots: competitors that never meet in one case share a slot (and a colour). */
const SLOTS = [
  { ids: ['zgnet-native'] },
  { ids: ['zgnet-wasm'] },
  { ids: ['net', 'dgram', 'node-http', 'net-redis', 'net-proxy', 'node-tls'], suffix: ' (baseline)' },
  { ids: ['net-cluster', 'net-http'] },
  { ids: ['bun'] },
  { ids: ['c-epoll', 'redis-server', 'haproxy'] },
];

function slotsFor(cases) {
  const present = competitorsOf(cases);
  const slots = [];
  for (const s of SLOTS) {
    const comps = present.filter((c) => s.ids.includes(c.id));
    if (comps.length) slots.push({ ids: s.ids, label: comps.map((c) => c.label).join(' / ') + (s.suffix ?? ''), color: COLORS[comps[0].id] });
  }
  for (const c of present) {
    if (!SLOTS.some((s) => s.ids.includes(c.id))) slots.push({ ids: [c.id], label: c.label, color: '#888' });
  }
  return slots;
}

/** A case per row, a competitor per column; `cell(r)` formats a measured row. */
function competitorTable(cases, cell) {
  const slots = slotsFor(cases);
  const lines = [];
  lines.push(`| case | ${slots.map((s) => esc(s.label)).join(' | ')} |`);
  lines.push(`|---|${slots.map(() => '---:').join('|')}|`);
  for (const c of cases) {
    const cells = slots.map((slot) => {
      const r = c.rows.find((x) => slot.ids.includes(x.comp.id));
      if (!r) return '';
      if (r.status !== 'ok') return r.status === 'skipped' ? 'skipped' : 'n/a';
      return cell(r);
    });
    lines.push(`| ${esc(c.case.label)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function summaryTable(cases, unit) {
  return competitorTable(cases, (r) => `**${r.isBaseline ? '1.00x' : fmtRatio(r.ratio)}** ${fmtRate(r.median.rate)}${unit}`);
}

/** Server CPU per million messages, relative to the baseline's (lower is better). */
function cpuTable(cases) {
  return competitorTable(cases, (r) => {
    if (r.median.cpuPerM === null) return '—';
    const approx = r.cpuApprox ? '≈' : '';
    return `${approx}${fmtNum(r.median.cpuPerM, 2)} s${r.isBaseline ? '' : r.cpuRatio ? ` (${r.cpuRatio.toFixed(2)}x)` : ''}`;
  });
}

function notMeasured(cases) {
  const out = new Map();
  for (const c of cases) {
    for (const r of c.rows) {
      if (r.status === 'ok') continue;
      const key = `${r.comp.label}: ${r.reason}`;
      if (!out.has(key)) out.set(key, []);
      out.get(key).push(c.case.short ?? c.case.label);
    }
  }
  return [...out.entries()].map(([k, v]) => `- n/a: ${esc(k)} (${v.join(', ')})`);
}

/**
 * One row per case and server: rate, ratio, latency, CPU, memory, the rounds. `unit` names what
 * is counted; `latency` formats p50/p99 (echo in µs, HTTP adaptive); `cpu` the CPU cell.
 */
function detailsTable(cases, { unit, perRound, latencyHeader, latency, cpu }) {
  const lines = [];
  lines.push(`| case | server | ${unit}/s | ratio | ${latencyHeader[0]} | ${latencyHeader[1]} | server CPU s per M ${unit} | peak RSS MiB | rounds (${perRound}/s) | notes |`);
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---|---|');
  for (const c of cases) {
    for (const r of c.rows) {
      const na = cellStatus(r);
      if (na) {
        lines.push(`| ${esc(c.case.label)} | ${esc(r.comp.label)} | ${na} | | | | | | | |`);
        continue;
      }
      const rounds = r.rounds.map((x) => (x.ok ? fmtRate(x.rate) : 'fail')).join(' / ');
      lines.push(
        `| ${esc(c.case.label)} | ${esc(r.comp.label)} | ${fmtRate(r.median.rate)} | ${r.isBaseline ? '1.00x' : fmtRatio(r.ratio)} | ${latency(r.median.p50)} | ${latency(r.median.p99)} | ${cpu(r)} | ${fmtNum(r.rssMiB)} | ${rounds} | ${esc((r.notes ?? []).join('; '))} |`,
      );
    }
  }
  return lines.join('\n');
}

function echoDetails(cases) {
  return detailsTable(cases, {
    unit: 'msgs',
    perRound: 'msgs',
    latencyHeader: ['p50 µs', 'p99 µs'],
    latency: (us) => fmtNum(us),
    cpu: (r) => (r.median.cpuPerM === null ? '—' : `${r.cpuApprox ? '≈' : ''}${fmtNum(r.median.cpuPerM, 2)}`),
  });
}

function httpDetails(cases) {
  return detailsTable(cases, {
    unit: 'requests',
    perRound: 'req',
    latencyHeader: ['p50', 'p99'],
    latency: (us) => (us === null ? '—' : us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`),
    cpu: (r) => fmtNum(r.median.cpuPerM, 2),
  });
}

/** Each measured competitor's throughput relative to the reference server `refId` of the same case. */
function versusTable(cases, refId) {
  return competitorTable(cases, (r) => {
    const ref = cases.find((c) => c.rows.includes(r))?.rows.find((x) => x.comp.id === refId);
    if (ref?.status !== 'ok') return '—';
    return `**${fmtRatio(r.median.rate / ref.median.rate)}**`;
  });
}

function idleTable(idle) {
  const lines = [];
  lines.push(`| server | connections held | RSS before | RSS with them | per connection | vs node:net | notes |`);
  lines.push('|---|---:|---:|---:|---:|---:|---|');
  for (const r of idle.rows) {
    if (r.status !== 'ok') {
      lines.push(`| ${esc(r.comp.label)} | ${cellStatus(r)} | | | | | |`);
      continue;
    }
    lines.push(
      `| ${esc(r.comp.label)} | ${r.conns.toLocaleString('en-US')} | ${(r.baseKb / 1024).toFixed(1)} MiB | ${(r.loadedKb / 1024).toFixed(1)} MiB | ${r.perConnBytes.toFixed(0)} B | ${r.isBaseline ? '1.00x' : fmtRatio(r.ratio)} | ${esc((r.notes ?? []).join('; '))} |`,
    );
  }
  return lines.join('\n');
}

export function markdown(results) {
  const m = results.meta;
  const out = [];
  out.push(`# zgnet benchmarks (${m.profile} run)`);
  out.push('');
  out.push('| | |');
  out.push('|---|---|');
  out.push(`| date | ${m.date} |`);
  out.push(`| CPU | ${esc(m.cpu)}, ${m.cores} cores |`);
  out.push(`| memory | ${m.memGiB} GiB |`);
  out.push(`| kernel | ${esc(m.kernel)} |`);
  out.push(`| Node.js | ${m.node} |`);
  out.push(`| zgnet | ${esc(m.commit)} |`);
  out.push(`| load average at start | ${m.loadavg} |`);
  out.push(`| pinning | ${esc(m.pinning)} |`);
  out.push(`| method | ${esc(m.method)} |`);
  out.push('');
  if (results.echo.length) {
    out.push('## Echo: throughput relative to node:net (node:dgram for UDP)');
    out.push('');
    out.push(
      'Ping-pong echo through `zgnet-loadgen` (every byte verified; one message in flight per connection). ' +
        'Each cell: median msgs/s over the rounds and its ratio to the baseline\'s median (higher is better).',
    );
    out.push('');
    out.push(summaryTable(results.echo, '/s'));
    out.push('');
    const na = notMeasured(results.echo);
    if (na.length) out.push(...na, '');
    out.push('### Server CPU seconds per million messages (lower is better; ratio to the baseline)');
    out.push('');
    out.push('Steadier than throughput on a shared machine: it is what the server itself spent, whatever else ran.');
    out.push('');
    out.push(cpuTable(results.echo));
    out.push('');
    out.push('### Details');
    out.push('');
    out.push(echoDetails(results.echo));
    out.push('');
  }
  // The multicore cases: a note on how they ran, then the details table of their kind.
  const coresSection = (rows, title, note, details) => {
    if (rows?.length) out.push(`## Several cores: ${title}`, '', note ?? '', '', details(rows), '');
  };
  coresSection(results.multicore, 'a handler module on 1 and 2 loops, relative to 1 loop', results.multicoreNote, echoDetails);
  coresSection(
    results.multicoreHttp, 'HTTP plaintext on 1 and 2 loops, relative to node:http + cluster ×2', results.multicoreHttpNote, httpDetails,
  );
  if (results.http.length) {
    out.push('## HTTP plaintext (wrk), relative to node:http');
    out.push('');
    out.push(results.httpNote ?? '');
    out.push('');
    out.push(summaryTable(results.http, ' req/s'));
    out.push('');
    const na = notMeasured(results.http);
    if (na.length) out.push(...na, '');
    out.push(httpDetails(results.http));
    out.push('');
  }
  const referenced = [
    ['redis', 'Redis protocol (redis-benchmark), relative to a node:net RESP server', ' req/s', 'redis-server', httpDetails],
    ['proxy', 'TCP proxy, relative to a node:net pipe proxy', '/s', 'haproxy', echoDetails],
    ['tls', 'TLS (echo and full handshakes), relative to node:tls', '/s', 'bun', echoDetails],
  ];
  for (const [key, title, unit, refId, details] of referenced) {
    const cases = results[key] ?? [];
    if (!cases.length) continue;
    const ref = cases[0].rows.find((r) => r.comp.id === refId)?.comp.label ?? refId;
    out.push(`## ${title}`, '', results[`${key}Note`] ?? '', '', summaryTable(cases, unit), '');
    out.push(`Relative to ${ref}, same run:`, '', versusTable(cases, refId), '');
    const na = notMeasured(cases);
    if (na.length) out.push(...na, '');
    out.push(details(cases), '');
  }
  if (results.idle) {
    out.push('## Idle memory');
    out.push('');
    out.push(results.idle.note ?? '');
    out.push('');
    out.push(idleTable(results.idle));
    out.push('');
  }
  if (results.micro) {
    out.push('## Codec micro benchmark (bench/micro/codec-decode.ts)');
    out.push('');
    if (results.micro.ok) out.push(results.micro.text);
    else out.push(`n/a (${esc(results.micro.reason)})`);
    out.push('');
  }
  if (results.notes.length) {
    out.push('## Notes from this run');
    out.push('');
    for (const n of results.notes) out.push(`- ${esc(n)}`);
    out.push('');
  }
  out.push(`Chart: [latest.svg](latest.svg). Reproduce: \`${m.command}\`.`);
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------- SVG

const xml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Grouped bars: one group per case, one bar per competitor, height = ratio to the baseline. */
export function svg(results) {
  const cases = [...results.echo, ...results.http, ...(results.redis ?? []), ...(results.proxy ?? [])];
  const legend = slotsFor(cases);
  const width = Math.max(880, 120 + cases.length * (legend.length * 16 + 28));
  const height = 420;
  const left = 56;
  const right = 16;
  const top = 64;
  const bottom = 110;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  let max = 1;
  for (const c of cases) for (const r of c.rows) if (r.status === 'ok' && r.ratio) max = Math.max(max, r.ratio);
  // Pipelined HTTP reaches 10-20x and would flatten every echo bar: the axis stops at
  // AXIS_MAX and taller bars are cut there, their value written above the cut.
  const AXIS_MAX = 3;
  max = Math.min(max, AXIS_MAX);
  const step = 0.5;
  max = Math.ceil((max * 1.05) / step) * step;
  const y = (v) => top + plotH - (Math.min(v, max) / max) * plotH;
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  const m = results.meta;
  const bases = [...new Set(cases.flatMap((c) => c.rows.filter((r) => r.isBaseline).map((r) => r.comp.label)))];
  parts.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">${xml(`zgnet throughput relative to ${bases.join(' / ') || 'node:net'} (same run, median of ${m.rounds} rounds)`)}</text>`);
  parts.push(`<text x="${left}" y="40" fill="#555">${xml(`${m.cpu}, ${m.cores} cores · ${m.kernel} · Node ${m.node} · ${m.date} · ${m.profile} run`)}</text>`);
  // grid
  for (let v = 0; v <= max + 1e-9; v += step) {
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${left}" y1="${yy}" x2="${width - right}" y2="${yy}" stroke="${Math.abs(v - 1) < 1e-9 ? '#000' : '#e9ecef'}" stroke-width="${Math.abs(v - 1) < 1e-9 ? 1.2 : 1}"${Math.abs(v - 1) < 1e-9 ? ' stroke-dasharray="4 3"' : ''}/>`);
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#333">${v.toFixed(step < 1 ? 1 : 0)}x</text>`);
  }
  const groupW = plotW / Math.max(1, cases.length);
  const barW = Math.min(18, (groupW - 16) / Math.max(1, legend.length));
  cases.forEach((c, i) => {
    const gx = left + i * groupW + (groupW - barW * legend.length) / 2;
    legend.forEach((slot, j) => {
      const r = c.rows.find((x) => slot.ids.includes(x.comp.id));
      const comp = r?.comp;
      const x = gx + j * barW;
      if (!r) return;
      if (r.status !== 'ok' || r.ratio === null || r.ratio === undefined) {
        parts.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(y(0) - 4).toFixed(1)}" text-anchor="middle" font-size="8" fill="#868e96" transform="rotate(-90 ${(x + barW / 2).toFixed(1)} ${(y(0) - 4).toFixed(1)})">n/a</text>`);
        return;
      }
      const h = y(0) - y(r.ratio);
      parts.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${y(r.ratio).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${slot.color}"><title>${xml(`${c.case.label} · ${comp.label}: ${r.ratio.toFixed(2)}x (${Math.round(r.median.rate)}/s)`)}</title></rect>`,
      );
      if (r.ratio > max) {
        // A cut bar: a white notch near its top shows it goes on.
        parts.push(`<rect x="${(x + 1).toFixed(1)}" y="${(y(max) + 8).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="3" fill="#ffffff"/>`);
      }
      if (barW >= 14) parts.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(y(r.ratio) - 3).toFixed(1)}" text-anchor="middle" font-size="8" fill="#333">${r.ratio.toFixed(r.ratio >= 10 ? 0 : 1)}</text>`);
    });
    const lx = left + i * groupW + groupW / 2;
    const label = c.case.short ?? c.case.label;
    const [a, b] = label.split(' · ');
    parts.push(`<text x="${lx.toFixed(1)}" y="${(y(0) + 16).toFixed(1)}" text-anchor="middle" fill="#222">${xml(a)}</text>`);
    if (b) parts.push(`<text x="${lx.toFixed(1)}" y="${(y(0) + 29).toFixed(1)}" text-anchor="middle" fill="#555">${xml(b)}</text>`);
  });
  parts.push(`<line x1="${left}" y1="${y(0)}" x2="${width - right}" y2="${y(0)}" stroke="#000"/>`);
  // legend
  let lx = left;
  let ly = height - 52;
  for (const slot of legend) {
    const w = 30 + slot.label.length * 6.3;
    if (lx + w > width - right && lx > left) {
      lx = left;
      ly += 16;
    }
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${slot.color}"/>`);
    parts.push(`<text x="${lx + 14}" y="${ly}" fill="#222">${xml(slot.label)}</text>`);
    lx += w;
  }
  parts.push(`<text x="${left}" y="${height - 12}" fill="#868e96" font-size="10">Higher is better. Bar = median throughput over the rounds / the baseline's median, same run; dashed line = baseline; n/a: see latest.md.</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
