/**
 * The channel `keygate approvals/approve/deny` use: serve.json (0600) carries the UI server's
 * address and its approvals-only control token; that token opens the two approvals operations
 * and nothing else, and a malformed entry is ignored rather than trusted.
 */
import { statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readRuntimeInfo, writeRuntimeInfo } from '../../../src/engine/runtime-file.js';
import { CONTROL_OPERATIONS, startUiServer } from '../../../src/engine/ui/ui-server.js';
import { WELL_FORMED } from '../../helpers/contract-requests.js';
import { API_OPERATIONS, type ApiHandlers } from '../../../src/shared/api.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const home = tempDirs('keygate-control-');
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function post(port: number, op: string, token: string, body = '{}') {
  return new Promise<number>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: `/api/${op}`,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('control endpoint', () => {
  it('serve.json round-trips it, 0600; a malformed one is dropped', () => {
    const dir = home();
    const control = { url: 'http://127.0.0.1:4321/', token: 'x'.repeat(43) };
    writeRuntimeInfo(dir, { pid: process.pid, host: '127.0.0.1', port: 8790, control });
    expect(readRuntimeInfo(dir)?.control).toEqual(control);
    expect(statSync(join(dir, 'serve.json')).mode & 0o777).toBe(0o600);
    writeFileSync(
      join(dir, 'serve.json'),
      JSON.stringify({ pid: process.pid, host: '127.0.0.1', port: 8790, control: { url: 1 } }),
    );
    expect(readRuntimeInfo(dir)).toEqual({ pid: process.pid, host: '127.0.0.1', port: 8790 });
  });

  it('the control token answers the approvals operations only; the UI token answers all', async () => {
    const called: string[] = [];
    const handlers = Object.fromEntries(
      API_OPERATIONS.map((op) => [op, async () => void called.push(op)]),
    ) as unknown as ApiHandlers;
    const ui = await startUiServer({ controller: { handlers }, host: '127.0.0.1' });
    closers.push(() => ui.close());
    expect(ui.controlToken).not.toBe(ui.token);
    expect([...CONTROL_OPERATIONS].sort()).toEqual(['approvals.decide', 'approvals.list']);
    for (const op of API_OPERATIONS) {
      const body = JSON.stringify(WELL_FORMED[op]);
      expect(await post(ui.port, op, ui.controlToken, body)).toBe(
        CONTROL_OPERATIONS.has(op) ? 200 : 403,
      );
    }
    expect(called.sort()).toEqual(['approvals.decide', 'approvals.list']);
    expect(await post(ui.port, 'agents.list', ui.token)).toBe(200);
    expect(await post(ui.port, 'approvals.list', 'y'.repeat(43))).toBe(401);
  });
});
