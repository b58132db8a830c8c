import { describe, expect, it } from 'vitest';
import {
  buildAgentEnv,
  childEnvironment,
  renderEnv,
  secretVariables,
  withPreload,
} from '../../src/engine/agent-env.js';
import { nodeAgentsCheck } from '../../src/cli/commands/doctor.js';
import type { Mapping } from '../../src/shared/settings-schema.js';

const PRELOAD = 'file:///opt/keygate/dist/engine/agent-preload/node-fetch-proxy.js';
const FLAG = `--import=${PRELOAD}`;

const MAPPINGS: Mapping[] = [
  {
    host: 'api.openai.com',
    ref: 'env://OPENAI_KEY',
    injector: { type: 'bearer' },
    preset: 'openai',
  },
  {
    host: 'git.example.com',
    ref: 'env://GIT_PASS',
    injector: { type: 'basic', userRef: 'env://GIT_USER' },
  },
  { host: 'op.example.com', ref: 'op://AI/Key/credential', injector: { type: 'bearer' } },
];

function env(nodePreload: string | null = PRELOAD) {
  return buildAgentEnv({
    agentName: 'default',
    token: 'tok',
    proxyHost: '127.0.0.1',
    proxyPort: 8790,
    caCertPath: '/h/ca/ca.pem',
    caBundlePath: '/h/ca/ca-bundle.pem',
    mappings: MAPPINGS,
    nodePreload,
  });
}

describe('the Node preload in NODE_OPTIONS', () => {
  it('is added after the user’s own flags, once, whatever Keygate install added it before', () => {
    expect(withPreload(undefined, FLAG)).toBe(FLAG);
    expect(withPreload('--no-deprecation', FLAG)).toBe(`--no-deprecation ${FLAG}`);
    expect(withPreload(`--no-deprecation ${FLAG}`, FLAG)).toBe(`--no-deprecation ${FLAG}`);
    const other = '--import=file:///old/keygate/dist/engine/agent-preload/node-fetch-proxy.js';
    expect(withPreload(`${other} --require "/a b/x.cjs"`, FLAG)).toBe(
      `--require "/a b/x.cjs" ${FLAG}`,
    );
  });

  it('is not stripped by keygate run, unlike the variables Keygate replaces', () => {
    const built = env();
    expect(built.managed).not.toContain('NODE_OPTIONS');
    const { env: child } = childEnvironment(
      { NODE_OPTIONS: '--no-deprecation', PATH: '/bin' },
      built,
    );
    expect(child.NODE_OPTIONS).toBe(`--no-deprecation ${FLAG}`);
    expect(renderEnv(built, 'sh', { NODE_OPTIONS: '--no-deprecation' })).toContain(
      `export NODE_OPTIONS='--no-deprecation ${FLAG}'`,
    );
  });

  it('is left out when the preload file is not there (so node still starts)', () => {
    const built = env(null);
    expect(built.variables.map((v) => v.name)).not.toContain('NODE_OPTIONS');
    expect(childEnvironment({ NODE_OPTIONS: '--no-deprecation' }, built).env.NODE_OPTIONS).toBe(
      '--no-deprecation',
    );
  });
});

describe('env:// variables (serve’s secrets)', () => {
  it('lists every variable a mapping or a Basic user ref reads', () => {
    expect(secretVariables(MAPPINGS)).toEqual(['GIT_PASS', 'GIT_USER', 'OPENAI_KEY']);
  });

  it('keygate run withholds them in any case, and reports which were present', () => {
    const { env: child, withheld } = childEnvironment(
      { OPENAI_KEY: 'sk-real', git_pass: 'pw', PATH: '/bin', OPENAI_API_KEY: 'sk-real-2' },
      env(),
    );
    expect(child.OPENAI_KEY).toBeUndefined();
    expect(child.git_pass).toBeUndefined();
    expect(child.OPENAI_API_KEY).toBe('keygate-placeholder');
    expect(child.PATH).toBe('/bin');
    expect(withheld).toEqual(['OPENAI_KEY', 'git_pass']);
  });
});

describe('keygate doctor: node agents', () => {
  it.each([
    ['v20.20.2', true, /goes through the Keygate preload\. Node agents: Node >= 22\.21/],
    ['v22.12.0', true, /goes through the Keygate preload/],
    ['v22.21.0', true, /honours the proxy itself/],
    ['v24.22.3', true, /honours the proxy itself/],
    ['v18.20.0', false, /too old: its fetch would bypass Keygate/],
  ])('node %s on PATH', (version, ok, detail) => {
    const check = nodeAgentsCheck(PRELOAD, version);
    expect(check.ok).toBe(ok);
    expect(check.detail).toMatch(detail);
  });

  it('fails when the preload is missing and the node on PATH needs it', () => {
    expect(nodeAgentsCheck(undefined, 'v20.20.2')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/preload is missing/) as unknown,
    });
    expect(nodeAgentsCheck(undefined, 'v24.0.0').ok).toBe(true);
  });
});
