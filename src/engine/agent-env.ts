/**
 * The environment an agent needs to go through Keygate. The rules come from DESIGN.md's agent
 * compatibility facts, each checked against the clients' source or docs:
 *  - SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and GIT_SSL_CAINFO *replace* the trust
 *    store, and unmapped hosts are tunneled with their real certificates, so they get a bundle of
 *    public roots plus the Keygate CA. A CA-only file would break every unmapped HTTPS call.
 *  - NODE_EXTRA_CA_CERTS and CODEX_CA_CERTIFICATE *add* to the trust store: the CA alone.
 *  - The proxy URL is http:// (an https:// proxy URL breaks Claude Code) with a non-empty user
 *    and password (undici sends no Basic auth otherwise, and git prompts), both percent-encoded.
 *  - curl reads only the lower-case http_proxy, so both cases are set.
 *  - NODE_USE_ENV_PROXY=1 makes Node's fetch honour the proxy variables (Node ≥ 22.21 / 24).
 */
import type { AgentEnv, EnvVariable } from '../shared/api.js';
import { PLACEHOLDER_KEY, presetNamed } from '../shared/presets.js';
import type { Mapping } from '../shared/settings-schema.js';

export interface AgentEnvInput {
  readonly agentName: string;
  // SECRET: never log. The agent's proxy token.
  readonly token: string;
  readonly proxyHost: string;
  readonly proxyPort: number;
  readonly caCertPath: string;
  readonly caBundlePath: string;
  readonly mappings: readonly Mapping[];
}

const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];
const NO_PROXY_VARIABLES = ['NO_PROXY', 'no_proxy'];
const ADDITIVE_CA_VARIABLES = ['NODE_EXTRA_CA_CERTS', 'CODEX_CA_CERTIFICATE'];
const REPLACING_CA_VARIABLES = [
  'SSL_CERT_FILE',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
  'GIT_SSL_CAINFO',
];
const NO_PROXY_HOSTS = 'localhost,127.0.0.1,::1';

/** The address agents dial: a wildcard bind is still reached over loopback. */
export function dialableHost(host: string): string {
  if (host === '0.0.0.0' || host === '' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export function proxyUrl(agentName: string, token: string, host: string, port: number): string {
  return `http://${encodeURIComponent(agentName)}:${encodeURIComponent(token)}@${dialableHost(host)}:${port}`;
}

function placeholderVariables(mappings: readonly Mapping[]): string[] {
  const names = new Set<string>();
  for (const mapping of mappings) {
    const preset = mapping.preset ? presetNamed(mapping.preset) : undefined;
    for (const name of preset?.placeholderEnv ?? []) names.add(name);
  }
  return [...names].sort();
}

export function buildAgentEnv(input: AgentEnvInput): AgentEnv {
  const url = proxyUrl(input.agentName, input.token, input.proxyHost, input.proxyPort);
  const variables: EnvVariable[] = [
    ...PROXY_VARIABLES.map((name) => ({ name, value: url })),
    ...NO_PROXY_VARIABLES.map((name) => ({ name, value: NO_PROXY_HOSTS })),
    ...ADDITIVE_CA_VARIABLES.map((name) => ({ name, value: input.caCertPath })),
    ...REPLACING_CA_VARIABLES.map((name) => ({ name, value: input.caBundlePath })),
    { name: 'NODE_USE_ENV_PROXY', value: '1' },
    ...placeholderVariables(input.mappings).map((name) => ({ name, value: PLACEHOLDER_KEY })),
  ];
  const managed = new Set<string>();
  for (const { name } of variables) {
    managed.add(name);
    managed.add(name.toLowerCase());
    managed.add(name.toUpperCase());
  }
  return { agent: input.agentName, variables, managed: [...managed].sort() };
}

/** POSIX sh: nothing is special inside '…', so a quote is closed, escaped and reopened. */
function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** fish: inside '…' both \\ and \' are escapes, so a backslash must be doubled as well. */
function fishQuote(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

export function renderEnv(env: AgentEnv, shell: 'sh' | 'fish'): string {
  return env.variables
    .map(({ name, value }) =>
      shell === 'fish'
        ? `set -gx ${name} ${fishQuote(value)};`
        : `export ${name}=${shQuote(value)}`,
    )
    .join('\n');
}

/** The child environment for `keygate run`: inherited copies of every managed name removed first. */
export function childEnvironment(parent: NodeJS.ProcessEnv, env: AgentEnv): NodeJS.ProcessEnv {
  const managed = new Set(env.managed.map((name) => name.toUpperCase()));
  const child: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(parent)) {
    if (!managed.has(name.toUpperCase())) child[name] = value;
  }
  for (const { name, value } of env.variables) child[name] = value;
  return child;
}
