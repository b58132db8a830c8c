/**
 * Turns the raw interleaved measurements into the summary (pairwise ratios, medians across
 * rounds), the target verdicts, a markdown report and a hand-drawn SVG chart.
 */
import { median } from './load.mjs';

const MB = 1024 * 1024;

/**
 * @param {Array<{id:string,label:string}>} paths
 * @param {Array<Record<string, Record<string, any>>>} rounds rounds[r][concurrency][pathId]
 */
export function summarize(paths, rounds, concurrencies) {
  const byPath = {};
  for (const path of paths) {
    const row = { id: path.id, label: path.label };
    for (const c of concurrencies) {
      const cells = rounds.map((round) => round[c]?.[path.id]).filter(Boolean);
      const pairs = rounds
        .map((round) => [round[c]?.[path.id], round[c]?.direct])
        .filter(([a, b]) => a && b && a.count > 0 && b.count > 0);
      row[`c${c}`] = {
        rps: median(cells.map((x) => x.rps)),
        p50: median(cells.map((x) => x.p50)),
        p99: median(cells.map((x) => x.p99)),
        ratio: median(pairs.map(([a, b]) => a.rps / b.rps)),
        addedP50: median(pairs.map(([a, b]) => a.p50 - b.p50)),
        addedP99: median(pairs.map(([a, b]) => a.p99 - b.p99)),
        proxyCpuUs: median(cells.map((x) => x.proxyCpuUsPerRequest)),
        foreignCpu: median(cells.map((x) => x.foreignCpu)),
        errors: cells.reduce((sum, x) => sum + x.errors, 0),
        rounds: cells.length,
        injected: path.expectInjected ? cells.every((x) => x.injected === true) : undefined,
      };
    }
    byPath[path.id] = row;
  }
  /** Median over rounds of a/b, for two paths at one concurrency. */
  const pairRatio = (a, b, c) =>
    median(
      rounds
        .map((round) => [round[c]?.[a], round[c]?.[b]])
        .filter(([x, y]) => x && y && x.count > 0 && y.count > 0)
        .map(([x, y]) => x.rps / y.rps),
    );
  const foreign = rounds.flatMap((round) =>
    concurrencies.flatMap((c) => Object.values(round[c] ?? {}).map((x) => x.foreignCpu)),
  );
  const interference = {
    medianForeignCpu: median(foreign),
    maxForeignCpu: Math.max(...foreign.filter((v) => Number.isFinite(v))),
    cellsOver10pct: foreign.filter((v) => v > 0.1).length,
    cells: foreign.length,
  };
  return { byPath, pairRatio, interference };
}

const fmt = (value, digits = 2) =>
  value === undefined || value === null || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
const mb = (bytes) => fmt(bytes / MB, 1);
const int = (value) =>
  value === undefined || Number.isNaN(value) ? 'n/a' : Math.round(value).toLocaleString('en-US');

/** The issue's targets, judged against this run. */
export function judge(summary, scenarios, concurrencies) {
  const high = Math.max(...concurrencies);
  const kg = summary.byPath.keygate;
  const targets = [];
  const add = (figure, measured, target, pass, note) =>
    targets.push({
      figure,
      measured,
      target,
      result: pass === undefined ? 'n/a' : pass ? 'PASS' : 'MISS',
      ...(note ? { note } : {}),
    });

  const interceptRatio = kg?.[`c${high}`]?.ratio;
  add(
    `intercept + inject throughput vs direct (${high} clients)`,
    `${fmt(interceptRatio)}× (1 client: ${fmt(kg?.c1?.ratio)}×)`,
    '≥ 0.20×',
    Number.isNaN(interceptRatio) ? undefined : interceptRatio >= 0.2,
  );
  if (summary.byPath.mitm) {
    const vsMitm = summary.pairRatio('keygate', 'mitm', high);
    add(
      `intercept vs bare http-mitm-proxy (${high} clients)`,
      `${fmt(vsMitm)}×`,
      '≥ 2×',
      vsMitm >= 2,
    );
  }
  if (summary.byPath.mitmproxy) {
    const vsMitmproxy = summary.pairRatio('keygate', 'mitmproxy', high);
    add(
      `intercept vs mitmproxy (${high} clients)`,
      `${fmt(vsMitmproxy)}×`,
      '≈ 10× (context)',
      undefined,
    );
  }
  if (summary.byPath.pipe) {
    const tunnel = summary.pairRatio('tunnel', 'pipe', high);
    const tunnel1 = summary.pairRatio('tunnel', 'pipe', 1);
    add(
      `tunneled throughput vs raw CONNECT pipe (${high} clients)`,
      `${fmt(tunnel)}× (1 client: ${fmt(tunnel1)}×)`,
      '≥ 0.9×',
      tunnel >= 0.9,
    );
  }
  add(
    'added latency at 1 client, p50',
    `${fmt(kg?.c1?.addedP50, 3)} ms`,
    '≤ 0.3 ms',
    kg ? kg.c1.addedP50 <= 0.3 : undefined,
  );
  add(
    'added latency at 1 client, p99',
    `${fmt(kg?.c1?.addedP99, 3)} ms`,
    '≤ 2 ms',
    kg ? kg.c1.addedP99 <= 2 : undefined,
  );
  const nh = scenarios.newHost;
  add(
    'first CONNECT to a new host (CONNECT + TLS with Keygate), median',
    nh?.handshakeMs ? `${fmt(nh.handshakeMs.median)} ms` : 'n/a',
    '≤ 5 ms',
    nh?.handshakeMs ? nh.handshakeMs.median <= 5 : undefined,
  );
  add(
    `longest event-loop stall during the ${nh?.hosts ?? 50} new hosts`,
    nh ? `${fmt(nh.maxStallMs)} ms` : 'n/a',
    '≤ 10 ms',
    nh ? nh.maxStallMs <= 10 : undefined,
  );
  const sse = scenarios.sse;
  add(
    'SSE chunk forwarding delay (write → client), median',
    sse
      ? `${fmt(sse.keygate.median)} ms (p99 ${fmt(sse.keygate.p99)}; direct ${fmt(sse.direct.median)})`
      : 'n/a',
    '≤ 5 ms',
    sse ? sse.keygate.median <= 5 : undefined,
  );
  const stalled = scenarios.stalledDownload?.keygate;
  add(
    'stalled 200 MB download: Keygate RSS growth',
    stalled ? `${mb(stalled.growth)} MB` : 'n/a',
    '≤ 32 MB',
    stalled ? stalled.growth <= 32 * MB && stalled.complete : undefined,
  );
  const st = scenarios.stampede;
  add(
    'cold-mapping stampede (1,000 concurrent requests): source calls',
    st
      ? `${st.sourceCalls} (${st.concurrentAtRelease} requests waiting at once; ${st.ok}/${st.requests} OK)`
      : 'n/a',
    'exactly 1',
    st ? st.sourceCalls === 1 && st.concurrentAtRelease >= 0.9 * st.requests : undefined,
  );
  const idle = scenarios.memory?.serve;
  add(
    'idle RSS, `keygate serve`, SDK not loaded',
    idle ? `${mb(idle.rss)} MB` : 'n/a',
    '≤ 80 MB',
    idle ? idle.rss <= 80 * MB : undefined,
  );
  const sdk = scenarios.memory?.sdk;
  add(
    'idle RSS, engine with the 1Password SDK loaded',
    sdk ? `${mb(sdk.after)} MB (before ${mb(sdk.before)} MB)` : 'n/a',
    '≤ 130 MB',
    sdk ? sdk.after <= 130 * MB : undefined,
  );
  const malformed = sdk?.malformedTokenMs;
  add(
    'SDK createClient with a malformed token: time to the clean error, median',
    malformed
      ? `${fmt(malformed.median, 2)} ms (max ${fmt(malformed.max, 2)}; ${malformed.n} tries)`
      : 'n/a',
    '< 100 ms',
    malformed ? malformed.median < 100 : undefined,
  );
  return targets;
}

export function markdown({ meta, paths, summary, concurrencies, targets, scenarios }) {
  const lines = [];
  const [low, high] = [Math.min(...concurrencies), Math.max(...concurrencies)];
  lines.push(
    `Keygate bench — ${meta.date} — ${meta.machine.cpu}, ${meta.machine.nproc} cores, Node ${meta.machine.node}` +
      `, mitmproxy ${meta.machine.mitmproxy ?? 'not installed'}; load average ${meta.loadavg.start[0]} at start, ${meta.loadavg.end[0]} at end`,
    '',
    `Throughput and latency: ${meta.config.rounds} interleaved rounds × ${meta.config.cellMs / 1000} s per cell; ` +
      'medians across rounds; ratios and added latency computed pair by pair within a round.',
    '',
    `| path | req/s @${low} | ×direct @${low} | req/s @${high} | ×direct @${high} | p50 @${low} ms | p99 @${low} ms | +p50 vs direct | +p99 vs direct | proxy CPU µs/req @${high} | errors |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  );
  for (const path of paths) {
    const row = summary.byPath[path.id];
    const a = row[`c${low}`];
    const b = row[`c${high}`];
    const direct = path.id === 'direct';
    lines.push(
      `| ${row.label}${path.expectInjected ? (a.injected && b.injected ? ' ✓' : ' ✗ not injected') : ''} | ${int(a.rps)} | ${direct ? '1' : fmt(a.ratio)} | ${int(b.rps)} | ${direct ? '1' : fmt(b.ratio)} | ${fmt(a.p50, 3)} | ${fmt(a.p99, 3)} | ${direct ? '—' : fmt(a.addedP50, 3)} | ${direct ? '—' : fmt(a.addedP99, 3)} | ${direct ? '—' : fmt(b.proxyCpuUs, 0)} | ${a.errors + b.errors} |`,
    );
  }
  const inter = summary.interference;
  lines.push(
    '',
    '✓ = the upstream saw the injected credential on every cell. Proxy CPU µs/req: CPU time of the proxy process per request (from /proc; 10 ms ticks), which other load on the machine disturbs far less than req/s.',
    '',
    `Interference: processes outside the bench used a median ${fmt(100 * inter.medianForeignCpu, 0)}% of the machine during the cells (max ${fmt(100 * inter.maxForeignCpu, 0)}%; ${inter.cellsOver10pct} of ${inter.cells} cells over 10%).${inter.medianForeignCpu > 0.1 ? ' **The machine was busy: treat req/s and latency as noisy.**' : ''}`,
    '',
  );
  lines.push('| figure | measured | target | result |', '|---|---|---|---|');
  for (const t of targets)
    lines.push(`| ${t.figure} | ${t.measured} | ${t.target} | ${t.result} |`);
  lines.push('', 'Scenario details:', '');
  const nh = scenarios.newHost;
  if (nh) {
    lines.push(
      `- New hosts (${nh.hosts}, sequential): CONNECT+TLS median ${fmt(nh.handshakeMs.median)} ms, p95 ${fmt(nh.handshakeMs.p95)}, max ${fmt(nh.handshakeMs.max)}; ` +
        `CONNECT answered ${fmt(nh.connectOnlyMs.median)} ms; first response ${fmt(nh.firstResponseMs.median)} ms ` +
        `(warm host: CONNECT+TLS ${fmt(nh.warmHandshakeMs.median)} ms, first response ${fmt(nh.warmFirstResponseMs.median)} ms); ` +
        `longest stall ${fmt(nh.maxStallMs)} ms at host #${nh.worstStall.host + 1} (longest GC pause then: ${fmt(nh.worstStall.gc.ms, 1)} ms${nh.worstStall.gc.kind ? ` ${nh.worstStall.gc.kind}` : ''}) (${nh.hostsOver10ms} of ${nh.hosts} hosts over 10 ms; first five ${nh.stallFirst5Ms.map((v) => fmt(v, 1)).join(', ')} ms; ` +
        `last ten: median stall ${fmt(nh.stallLast10Median, 1)} ms, CONNECT+TLS ${fmt(nh.handshakeLast10Median)} ms). Burst of ${nh.burst.hosts} at once: ${fmt(nh.burst.totalMs, 0)} ms total, ` +
        `CONNECT+TLS median ${fmt(nh.burst.handshakeMs.median)} ms, longest stall ${fmt(nh.burst.maxStallMs)} ms. Failures: ${nh.failures}.`,
    );
  }
  const sse = scenarios.sse;
  if (sse) {
    lines.push(
      `- SSE (${sse.chunks} chunks, ${sse.gapMs} ms apart): direct median ${fmt(sse.direct.median)} ms / max ${fmt(sse.direct.max)}; ` +
        `Keygate median ${fmt(sse.keygate.median)} ms / p99 ${fmt(sse.keygate.p99)} / max ${fmt(sse.keygate.max)}.`,
    );
  }
  for (const [id, d] of Object.entries(scenarios.stalledDownload ?? {})) {
    if (d.error) {
      lines.push(`- Stalled 200 MB download via ${id}: ERROR ${d.error}`);
      continue;
    }
    lines.push(
      `- Stalled ${mb(d.bytes)} MB download via ${id}: RSS ${mb(d.baselineRss)} → peak ${mb(d.peakRss)} MB ` +
        `(+${mb(d.growth)} MB; +${mb(d.stallGrowth)} MB after the ${d.stallMs / 1000} s stall), ` +
        `${d.complete ? 'complete' : `INCOMPLETE (${d.received} bytes)`} in ${fmt(d.seconds, 1)} s.`,
    );
  }
  for (const [id, u] of Object.entries(scenarios.upload ?? {})) {
    if (u.error) {
      lines.push(`- 100 MB upload via ${id}: ERROR ${u.error}`);
      continue;
    }
    lines.push(
      `- ${mb(u.bytes)} MB upload via ${id}: ${fmt(u.mbPerSecond, 0)} MB/s (${fmt(u.seconds, 2)} s)` +
        `${u.growth !== undefined ? `, proxy RSS +${mb(u.growth)} MB (peak ${mb(u.peakRss)} MB)` : ''}` +
        `${u.complete ? '' : ' INCOMPLETE'}.`,
    );
  }
  const st = scenarios.stampede;
  if (st) {
    lines.push(
      `- Stampede: ${st.tunnelsOpened} keep-alive tunnels opened first (${fmt(st.tunnelsMs, 0)} ms); then ${st.requests} requests on the cold mapping, ` +
        `${st.concurrentAtRelease} waiting on the resolver at once after ${fmt(st.heldMs, 0)} ms; ${st.sourceCalls} source call(s); ` +
        `${st.ok} OK, ${st.injected} injected; ${fmt(st.totalMs, 0)} ms from cold to the last answer${st.firstError ? ` (first error: ${st.firstError})` : ''}.`,
    );
  }
  const micro = scenarios.resolver;
  if (micro) {
    lines.push(
      `- Resolver alone: ${micro.stampede.requests} concurrent resolve() on a 20 ms source → ${micro.stampede.sourceCalls} call(s); ` +
        `cached peek ${fmt(micro.peekNs, 1)} ns/op; match + peek + inject ${fmt(micro.matchPeekInjectNs, 0)} ns/request.`,
    );
    if (micro.scrubSmallNs !== undefined) {
      lines.push(
        `- Response scrubbing: ${fmt(micro.scrubSmallNs, 0)} ns for a small JSON response; ${fmt(micro.scrubMBps, 0)} MB/s on large bodies ` +
          '(the intercept rows above include it: every injected response is scrubbed).',
      );
    }
  }
  const memory = scenarios.memory;
  if (memory?.sdk) {
    lines.push(
      `- SDK: loading @1password/sdk took ${fmt(memory.sdk.loadMs, 0)} ms and +${mb(memory.sdk.growth)} MB RSS ` +
        `(engine ${mb(memory.sdk.before)} → ${mb(memory.sdk.after)} MB; loaded before: ${memory.sdk.loadedBefore}).`,
    );
  }
  for (const [name, err] of Object.entries(scenarios.errors ?? {})) {
    lines.push(`- ${name}: ERROR ${err}`);
  }
  return lines.join('\n');
}

function escapeXml(text) {
  return String(text).replace(
    /[<>&"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c],
  );
}

/** Two horizontal bar panels: req/s and p99 latency, one bar per concurrency, per path. */
export function svgChart({ meta, paths, summary, concurrencies }) {
  const colors = ['#8fb4e3', '#1f5fae'];
  const width = 980;
  const labelWidth = 190;
  const panelWidth = (width - labelWidth - 60) / 2;
  const rowHeight = 34;
  const top = 70;
  const height = top + paths.length * rowHeight + 60;
  const panels = [
    { title: 'Throughput, req/s (median)', key: 'rps', digits: 0 },
    { title: 'p99 latency, ms (median)', key: 'p99', digits: 2 },
  ];
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">Keygate bench: same upstream, ${meta.config.rounds} interleaved rounds, medians</text>`,
    `<text x="12" y="40" fill="#555">${escapeXml(`${meta.date} · ${meta.machine.cpu} · ${meta.machine.nproc} cores · Node ${meta.machine.node} · other processes used ${Math.round(100 * summary.interference.medianForeignCpu)}% CPU (median)`)}</text>`,
  );
  concurrencies.forEach((c, i) => {
    const x = width - 260 + i * 125;
    out.push(
      `<rect x="${x}" y="12" width="12" height="12" fill="${colors[i % colors.length]}"/>`,
      `<text x="${x + 17}" y="22">${c} client${c === 1 ? '' : 's'}</text>`,
    );
  });
  paths.forEach((path, row) => {
    const y = top + row * rowHeight;
    out.push(
      `<text x="${labelWidth - 8}" y="${y + rowHeight / 2 + 4}" text-anchor="end">${escapeXml(summary.byPath[path.id].label)}</text>`,
    );
  });
  panels.forEach((panel, p) => {
    const x0 = labelWidth + p * (panelWidth + 40);
    const values = paths.flatMap((path) =>
      concurrencies.map((c) => summary.byPath[path.id][`c${c}`][panel.key]),
    );
    const max = Math.max(...values.filter((v) => Number.isFinite(v)), 1e-9);
    const usable = panelWidth - 70;
    out.push(
      `<text x="${x0}" y="${top - 10}" font-weight="bold">${panel.title}</text>`,
      `<line x1="${x0}" y1="${top}" x2="${x0}" y2="${top + paths.length * rowHeight}" stroke="#999"/>`,
    );
    paths.forEach((path, row) => {
      const barHeight = (rowHeight - 8) / concurrencies.length;
      concurrencies.forEach((c, i) => {
        const value = summary.byPath[path.id][`c${c}`][panel.key];
        const w = Number.isFinite(value) ? Math.max(1, (value / max) * usable) : 0;
        const y = top + row * rowHeight + 4 + i * barHeight;
        out.push(
          `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${(barHeight - 1).toFixed(1)}" fill="${colors[i % colors.length]}"/>`,
          `<text x="${(x0 + w + 4).toFixed(1)}" y="${(y + barHeight - 3).toFixed(1)}" font-size="10" fill="#333">${Number.isFinite(value) ? (panel.digits ? value.toFixed(panel.digits) : Math.round(value).toLocaleString('en-US')) : 'n/a'}</text>`,
        );
      });
    });
  });
  out.push(
    `<text x="12" y="${height - 18}" fill="#555">Client: undici, keep-alive, HTTP/1.1, 2-byte JSON body over TLS. Each proxy and the upstream run in their own process. Generated by npm run bench.</text>`,
    '</svg>',
  );
  return out.join('\n') + '\n';
}
