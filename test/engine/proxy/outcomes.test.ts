/**
 * Outcomes (src/engine/proxy/outcomes.ts): every way a request ends, as the agent hears it (a
 * real HTTP exchange), as the log says it, and as the activity record keeps it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { ActivityLog } from '../../../src/engine/activity/activity-log.js';
import { HostNotGrantedError, SecretUnavailableError } from '../../../src/engine/errors.js';
import { createLogger } from '../../../src/engine/log/logger.js';
import { Outcomes, stripQuery } from '../../../src/engine/proxy/outcomes.js';

const servers: http.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

function setup() {
  const activity = new ActivityLog(10);
  const lines: string[] = [];
  const outcomes = new Outcomes(
    activity,
    createLogger({ level: 'debug', sink: (l) => lines.push(l) }),
  );
  return { activity, lines, outcomes };
}

async function answer(handler: (res: http.ServerResponse) => void) {
  const server = http.createServer((_req, res) => handler(res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      http
        .get(
          { port, host: '127.0.0.1', path: '/', headers: { accept: 'application/json' } },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body }),
            );
          },
        )
        .on('error', reject);
    },
  );
}

const agent = { name: 'claude', credential: 'digest', mayUseHost: () => true };

describe('Outcomes', () => {
  it('deny: the named error to the agent, "denied" in the activity, never the query', async () => {
    const { activity, outcomes } = setup();
    const response = await answer((res) =>
      outcomes.deny(res, new HostNotGrantedError('agent "claude" is not granted x.test'), {
        host: 'x.test',
        port: 443,
        started: performance.now(),
        method: 'GET',
        path: '/v1/x?key=QUERY-CANARY',
        agent,
      }),
    );
    expect(response.status).toBe(403);
    expect(response.headers['x-keygate-error']).toBe('keygate_host_not_granted');
    const [event] = activity.recent();
    expect(event).toMatchObject({
      outcome: 'denied',
      host: 'x.test',
      agent: 'claude',
      path: '/v1/x',
      status: 403,
      error: 'keygate_host_not_granted',
    });
    expect(JSON.stringify(event)).not.toContain('QUERY-CANARY');
  });

  it('fail: a Keygate error keeps its status and is logged at info; anything else is a 502 and an error line', async () => {
    const { activity, lines, outcomes } = setup();
    const where = { host: 'x.test', port: 443, started: performance.now() };
    const named = await answer((res) =>
      outcomes.fail(res, new SecretUnavailableError('mapping x.test: NOT_SET is not set'), where),
    );
    expect(named.status).toBe(502);
    expect(named.headers['x-keygate-error']).toBe('keygate_secret_unavailable');
    const internal = await answer((res) => outcomes.fail(res, new TypeError('boom'), where));
    expect(internal.status).toBe(502);
    expect(JSON.parse(internal.body).error.message).toBe('internal proxy error');
    expect(lines.some((l) => l.includes('info') && l.includes('request failed'))).toBe(true);
    expect(lines.some((l) => l.includes('error') && l.includes('unexpected proxy error'))).toBe(
      true,
    );
    expect(activity.recent().map((e) => e.outcome)).toEqual(['error', 'error']);
  });

  it('stripQuery', () => {
    expect(stripQuery('/a?b=c')).toBe('/a');
    expect(stripQuery('/a')).toBe('/a');
  });
});
