/**
 * The environment an agent needs to go through Keygate. The rules are those docs/agents.md's
 * recipes rely on, each checked against the clients' source or docs:
 *  - SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and GIT_SSL_CAINFO *replace* the trust
 *    store, and unmapped hosts are tunneled with their real certificates, so they get a bundle of
 *    public roots plus the Keygate CA. A CA-only file would break every unmapped HTTPS call.
 *  - NODE_EXTRA_CA_CERTS and CODEX_CA_CERTIFICATE *add* to the trust store: the CA alone.
 *  - The proxy URL is http:// (an https:// proxy URL breaks Claude Code) with a non-empty user
 *    and password (undici sends no Basic auth otherwise, and git prompts), both percent-encoded.
 *  - curl reads only the lower-case http_proxy, so both cases are set.
 *  - NODE_USE_ENV_PROXY=1 makes Node's fetch honour the proxy variables (Node ≥ 22.21 / 24);
 *    older Node gets Keygate's preload appended to NODE_OPTIONS (agent-preload/coverage.ts).
 *  - The variables that env:// mappings read hold serve's real secrets: `keygate run` never
 *    passes them to the agent (issue 9 §5).
 * docs/agents.md lists every variable and why.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AgentEnv, EnvVariable } from '../shared/api.js';
import { PLACEHOLDER_KEY, presetNamed } from '../shared/presets.js';
import type { Mapping } from '../shared/settings-schema.js';
import { shQuote } from '../shared/shell-quote.js';
import { uriHost } from '../shared/uri-host.js';

export interface AgentEnvInput {
  readonly agentName: string;
  // SECRET: never log. The agent's proxy token.
  readonly token: string;
  readonly proxyHost: string;
  readonly proxyPort: number;
  readonly caCertPath: string;
  readonly caBundlePath: string;
  readonly mappings: readonly Mapping[];
  /** The preload's file URL; default: the one shipped next to this module, when it exists. */
  readonly nodePreload?: string | null;
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
/** Joined to an inherited value (with a space) instead of replacing it: the user's own flags stay. */
const APPENDED_VARIABLES = new Set(['NODE_OPTIONS']);
/** Any Keygate install's preload flag, so a second `keygate run` or `env` does not add another. */
const PRELOAD_FLAG = /(^|\s)--import=\S*\/agent-preload\/node-fetch-proxy\.js(?=\s|$)/g;
const ENV_REF = /^env:\/\/([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * The preload's file URL, or undefined where it cannot be loaded by another process. In the
 * packaged app the module lives in app.asar, which only Electron can read: the file must then be
 * unpacked (app.asar.unpacked), or Node agents get no preload rather than a NODE_OPTIONS that
 * stops every `node` from starting.
 */
export function agentPreloadUrl(): string | undefined {
  const path = fileURLToPath(new URL('./agent-preload/node-fetch-proxy.js', import.meta.url));
  const unpacked = path.replace(/([\\/])app\.asar([\\/])/, '$1app.asar.unpacked$2');
  return existsSync(unpacked) ? pathToFileURL(unpacked).href : undefined;
}

/** `NODE_OPTIONS` with Keygate's preload flag (once) after whatever the user already had. */
export function withPreload(inherited: string | undefined, flag: string): string {
  const kept = (inherited ?? '').replace(PRELOAD_FLAG, ' ').trim();
  return kept ? `${kept} ${flag}` : flag;
}

/** Removes any Keygate preload flag from a `NODE_OPTIONS` value (direct-network.ts). */
export function withoutPreload(value: string): string {
  return value.replace(PRELOAD_FLAG, ' ').trim();
}

/** The variables that `env://` mappings (and Basic user refs) read: serve's secrets. */
export function secretVariables(mappings: readonly Mapping[]): string[] {
  const names = new Set<string>();
  for (const mapping of mappings) {
    const refs = [mapping.ref];
    if (mapping.injector.type === 'basic') refs.push(mapping.injector.userRef);
    for (const ref of refs) {
      const name = ENV_REF.exec(ref)?.[1];
      if (name) names.add(name);
    }
  }
  return [...names].sort();
}

/** The address agents dial, bare: a wildcard bind is still reached over loopback. */
export function dialAddress(host: string): string {
  return host === '0.0.0.0' || host === '' || host === '::' ? '127.0.0.1' : host;
}

/** That address as a URL writes it. */
export function dialableHost(host: string): string {
  return uriHost(dialAddress(host));
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
  const preload = input.nodePreload === undefined ? agentPreloadUrl() : input.nodePreload;
  if (preload) variables.push({ name: 'NODE_OPTIONS', value: `--import=${preload}` });
  const managed = new Set<string>();
  for (const { name } of variables) {
    if (APPENDED_VARIABLES.has(name)) continue;
    managed.add(name);
    managed.add(name.toLowerCase());
    managed.add(name.toUpperCase());
  }
  return {
    agent: input.agentName,
    variables,
    managed: [...managed].sort(),
    secretVariables: secretVariables(input.mappings),
  };
}

/**
 * The values to set, given the environment they are set over: appended variables
 * (`NODE_OPTIONS`) keep what `parent` had.
 */
export function effectiveVariables(env: AgentEnv, parent: NodeJS.ProcessEnv): EnvVariable[] {
  return env.variables.map(({ name, value }) =>
    APPENDED_VARIABLES.has(name)
      ? { name, value: withPreload(parent[name], value) }
      : { name, value },
  );
}

/** fish: inside '…' both \\ and \' are escapes, so a backslash must be doubled as well. */
function fishQuote(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** `parent`: the shell's environment, whose `NODE_OPTIONS` is kept (the CLI inherits it). */
export function renderEnv(
  env: AgentEnv,
  shell: 'sh' | 'fish',
  parent: NodeJS.ProcessEnv = {},
): string {
  return effectiveVariables(env, parent)
    .map(({ name, value }) =>
      shell === 'fish'
        ? `set -gx ${name} ${fishQuote(value)};`
        : `export ${name}=${shQuote(value)}`,
    )
    .join('\n');
}

/**
 * The child environment for `keygate run`: inherited copies of every managed name removed first,
 * and every variable an `env://` mapping reads (in any case), which would hand the agent the real
 * key. `withheld` lists those that were present, so `keygate run` can say so.
 */
export function childEnvironment(
  parent: NodeJS.ProcessEnv,
  env: AgentEnv,
): { env: NodeJS.ProcessEnv; withheld: string[] } {
  const managed = new Set(env.managed.map((name) => name.toUpperCase()));
  const secrets = new Set((env.secretVariables ?? []).map((name) => name.toUpperCase()));
  const child: NodeJS.ProcessEnv = {};
  const withheld: string[] = [];
  for (const [name, value] of Object.entries(parent)) {
    const upper = name.toUpperCase();
    if (secrets.has(upper) && !managed.has(upper)) withheld.push(name);
    if (!managed.has(upper) && !secrets.has(upper)) child[name] = value;
  }
  for (const { name, value } of effectiveVariables(env, parent)) child[name] = value;
  return { env: child, withheld: withheld.sort() };
}
