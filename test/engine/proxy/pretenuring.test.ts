/**
 * The proxy turns V8's allocation-site pretenuring off in the process that runs it, and the flag,
 * set after start-up, takes effect (src/engine/proxy/pretenuring.ts; docs/decisions/0007). Proved
 * on a real `keygate serve` under load: with pretenuring on, V8's
 * `--trace-pretenuring-statistics` prints a "pretenuring:" line at every scavenge that finds
 * allocation sites to judge; with it off it prints none, while `--trace-gc` shows the scavenges
 * happened.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, tempHome, type ServeHandle } from '../../helpers/keygate-process.js';

let serve: ServeHandle | undefined;
let cleanup: (() => void) | undefined;
afterEach(async () => {
  await serve?.stop();
  cleanup?.();
  serve = undefined;
});

async function requests(port: number, count: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
    });
  const statuses: number[] = [];
  for (let i = 0; i < count; i += 8) {
    statuses.push(...(await Promise.all(Array.from({ length: 8 }, one))));
  }
  agent.destroy();
  return statuses;
}

describe('allocation-site pretenuring', () => {
  it('is off in keygate serve: its scavenges judge no allocation site', async () => {
    const home = tempHome();
    cleanup = home.cleanup;
    serve = await startServe(home.home, [], {}, ['--trace-gc', '--trace-pretenuring-statistics']);
    let trace = '';
    serve.child.stdout?.on('data', (chunk: string) => (trace += chunk));
    const statuses = await requests(serve.port, 3_000);
    expect(statuses).toHaveLength(3_000);
    const scavenges = trace.split('\n').filter((line) => line.includes('Scavenge'));
    expect(scavenges.length).toBeGreaterThan(2);
    expect(trace.split('\n').filter((line) => line.includes('pretenuring:'))).toEqual([]);
  }, 60_000);
});
