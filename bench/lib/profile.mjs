/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and says where the time went: self time by
 * function, inclusive time of the request path's entry points, and self time by area.
 */
import { readFileSync } from 'node:fs';

function shortUrl(url) {
  if (!url) return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

/** Coarse buckets, so the split between library, Keygate, Node's HTTP/TLS and V8 is visible. */
export function areaOf(frame) {
  const { functionName: fn, url } = frame;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'V8/native (program)';
  if (url.includes('node_modules/http-mitm-proxy/')) return 'http-mitm-proxy';
  if (url.includes('node_modules/async/')) return 'async (http-mitm-proxy dep)';
  if (url.includes('node_modules/uuid/')) return 'uuid (http-mitm-proxy dep)';
  if (url.includes('node_modules/ws/')) return 'ws';
  if (url.includes('node_modules/lru-cache/')) return 'lru-cache';
  if (url.includes('node_modules/')) return 'other dependencies';
  if (url.includes('/dist/')) return 'keygate (dist)';
  if (url.includes('/bench/')) return 'bench harness (IPC)';
  if (/^node:(_tls|tls|internal\/tls|_stream_wrap|internal\/js_stream)/.test(url))
    return 'node tls';
  if (/^node:(_http|http|https|internal\/http)/.test(url)) return 'node http';
  if (/^node:(net|internal\/stream_base|internal\/net|internal\/dns|dns)/.test(url))
    return 'node net';
  if (/^node:(stream|internal\/streams)/.test(url)) return 'node streams';
  if (/^node:(events|internal\/events)/.test(url)) return 'node events';
  if (/^node:internal\/(timers|process\/task_queues|async_hooks)|^node:timers/.test(url))
    return 'node timers/ticks';
  if (/^node:internal\/(per_context\/domexception|abort_controller)/.test(url))
    return 'node AbortController/DOMException (stream.pipeline)';
  if (/^node:internal\/(modules|bootstrap|vm)/.test(url)) return 'module loading (startup)';
  if (/^node:internal\/(crypto|webcrypto)|^node:crypto/.test(url)) return 'node crypto (JS side)';
  if (url.startsWith('node:')) return 'node (other)';
  return 'native builtins (TLS, crypto, syscalls, regexp)';
}

export function summarizeProfile(file, { top = 25 } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const keyOf = (node) => {
    const f = node.callFrame;
    return `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  };
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const idle = [...nodes.values()]
    .filter((n) => n.callFrame.functionName === '(idle)')
    .reduce((sum, n) => sum + (selfUs.get(n.id) ?? 0), 0);
  const busy = total - idle;

  const selfByKey = new Map();
  const areas = new Map();
  for (const node of nodes.values()) {
    const us = selfUs.get(node.id) ?? 0;
    if (!us) continue;
    const key = keyOf(node);
    selfByKey.set(key, (selfByKey.get(key) ?? 0) + us);
    const area = areaOf(node.callFrame);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }

  // Inclusive time per function, counting recursion once (iterative DFS from the root).
  const inclusive = new Map();
  const subtotal = new Map();
  const root = profile.nodes[0];
  const order = [];
  const stack = [root.id];
  while (stack.length) {
    const id = stack.pop();
    order.push(id);
    for (const child of nodes.get(id).children ?? []) stack.push(child);
  }
  const parent = new Map();
  for (const node of nodes.values())
    for (const child of node.children ?? []) parent.set(child, node.id);
  for (let i = order.length - 1; i >= 0; i--) {
    const node = nodes.get(order[i]);
    let sum = selfUs.get(node.id) ?? 0;
    for (const child of node.children ?? []) sum += subtotal.get(child) ?? 0;
    subtotal.set(node.id, sum);
  }
  for (const node of nodes.values()) {
    const key = keyOf(node);
    let ancestor = parent.get(node.id);
    let recursive = false;
    while (ancestor !== undefined) {
      if (keyOf(nodes.get(ancestor)) === key) {
        recursive = true;
        break;
      }
      ancestor = parent.get(ancestor);
    }
    if (!recursive) inclusive.set(key, (inclusive.get(key) ?? 0) + subtotal.get(node.id));
  }

  const pct = (us) => (busy > 0 ? (100 * us) / busy : 0);
  const sortDesc = (map) => [...map.entries()].sort((a, b) => b[1] - a[1]);
  return {
    file,
    totalMs: total / 1000,
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    areas: sortDesc(areas)
      .filter(([area]) => area !== 'idle')
      .map(([area, us]) => ({ area, ms: us / 1000, pctOfBusy: pct(us) })),
    self: sortDesc(selfByKey)
      .filter(([key]) => !key.startsWith('(idle)'))
      .slice(0, top)
      .map(([fn, us]) => ({ fn, ms: us / 1000, pctOfBusy: pct(us) })),
    inclusive: sortDesc(inclusive)
      .filter(([key]) => /http-mitm-proxy|dist\/|_http_server|_tls_wrap|_http_client/.test(key))
      .slice(0, top)
      .map(([fn, us]) => ({ fn, ms: us / 1000, pctOfBusy: pct(us) })),
  };
}

export function profileMarkdown(summary) {
  const lines = [
    `CPU profile of the Keygate process: ${summary.busyMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle.`,
    '',
    '| area (self time) | ms | % of busy |',
    '|---|--:|--:|',
    ...summary.areas.map((a) => `| ${a.area} | ${a.ms.toFixed(0)} | ${a.pctOfBusy.toFixed(1)} |`),
    '',
    '| function (self time) | ms | % of busy |',
    '|---|--:|--:|',
    ...summary.self.map((f) => `| \`${f.fn}\` | ${f.ms.toFixed(0)} | ${f.pctOfBusy.toFixed(1)} |`),
    '',
    '| function (inclusive) | ms | % of busy |',
    '|---|--:|--:|',
    ...summary.inclusive.map(
      (f) => `| \`${f.fn}\` | ${f.ms.toFixed(0)} | ${f.pctOfBusy.toFixed(1)} |`,
    ),
  ];
  return lines.join('\n');
}

/** Sums a sampled heap profile (from HeapProfiler.stopSampling) by allocating function and area. */
export function summarizeHeapProfile(profile, { requests = 1, top = 20 } = {}) {
  const byFn = new Map();
  const areas = new Map();
  let total = 0;
  const stack = [profile.head];
  while (stack.length) {
    const node = stack.pop();
    for (const child of node.children ?? []) stack.push(child);
    if (!node.selfSize) continue;
    total += node.selfSize;
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + node.selfSize);
    const area = areaOf(f);
    areas.set(area, (areas.get(area) ?? 0) + node.selfSize);
  }
  const perRequest = (bytes) => bytes / requests;
  const sortDesc = (map) => [...map.entries()].sort((a, b) => b[1] - a[1]);
  return {
    requests,
    totalBytes: total,
    bytesPerRequest: perRequest(total),
    areas: sortDesc(areas).map(([area, bytes]) => ({ area, bytesPerRequest: perRequest(bytes) })),
    functions: sortDesc(byFn)
      .slice(0, top)
      .map(([fn, bytes]) => ({ fn, bytesPerRequest: perRequest(bytes) })),
  };
}

export function heapMarkdown(summary) {
  return [
    `Sampled JS allocation: ${(summary.bytesPerRequest / 1024).toFixed(1)} KB per intercepted request (${summary.requests} requests).`,
    '',
    '| area | bytes / request |',
    '|---|--:|',
    ...summary.areas.map((a) => `| ${a.area} | ${Math.round(a.bytesPerRequest)} |`),
    '',
    '| allocating function | bytes / request |',
    '|---|--:|',
    ...summary.functions.map((f) => `| \`${f.fn}\` | ${Math.round(f.bytesPerRequest)} |`),
  ].join('\n');
}
