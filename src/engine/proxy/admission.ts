/**
 * The one rule for "may this request go on, and with which mapping's secret?" Every request
 * shape asks it: a CONNECT, a request inside an intercepted tunnel, a plain absolute-form request,
 * and a WebSocket upgrade of either kind. It was once written per shape, and the WebSocket copy
 * drifted: a plaintext upgrade skipped grants, the Host check and the plaintext refusal (issue 9
 * §1–2). It is a pure function of the request's shape and the current policy, tested as a table
 * over every shape × rule (test/engine/proxy/admission.test.ts); docs/security.md lists the rules.
 *
 * The rules, in order (the first that refuses wins):
 *  1. the request-target parses (CONNECT: host:port; plain: an absolute URL of a scheme the
 *     shape carries; in a tunnel: origin-form, or absolute-form naming the tunnel's own
 *     authority, rewritten to origin-form: RFC 9112 §3.2.2);
 *  2. the agent is authenticated, and for a tunnel still is, by the token it CONNECTed with;
 *  3. the Host header names the target (in a tunnel it is required);
 *  4. a mapped host is one the agent is granted (`agent add --hosts`);
 *  5. an unmapped host is refused under `--deny-unmapped`;
 *  6. on a mapped host, the path is normalised (request-path.ts) and the mapping matched on the
 *     normalised path; an ambiguous path is refused where the path picks the mapping;
 *  7. a credential never travels in plaintext, except to a loopback mapping that allows it, and
 *     a host mapped for TLS is not spoken to in plaintext at all.
 */
import { authorityText } from '../../shared/uri-host.js';
import type { KeygateError } from '../errors.js';
import {
  AgentAuthRequiredError,
  BadProxyRequestError,
  HostDeniedError,
  HostMismatchError,
  HostNotGrantedError,
  PlaintextRefusedError,
} from '../errors.js';
import type { CompiledMapping } from '../rules/compiled-mapping.js';
import {
  canonicalHost,
  isLoopbackHost,
  parseAuthority,
  type Authority,
} from '../rules/host-name.js';
import type { RuleTable } from '../rules/rule-table.js';
import type { AgentDirectory, AuthenticatedAgent } from './agent-directory.js';
import { normaliseRequestPath } from './request-path.js';

export interface ProxyPolicy {
  readonly rules: RuleTable;
  readonly agents: AgentDirectory;
  readonly denyUnmapped: boolean;
}

/**
 * - `connect`: a CONNECT request;
 * - `intercepted`: a request inside a tunnel Keygate terminated;
 * - `plaintext`: an absolute-form request to the proxy port (`GET http://…` or `https://…`);
 * - `websocket-tls`: an upgrade inside an intercepted tunnel (wss://);
 * - `websocket-plain`: an absolute-form upgrade to the proxy port (ws://).
 */
export type RequestShape =
  'connect' | 'intercepted' | 'plaintext' | 'websocket-tls' | 'websocket-plain';

export interface AdmissionRequest {
  readonly shape: RequestShape;
  /**
   * For `connect`, `plaintext` and `websocket-plain`: the agent behind this request's
   * Proxy-Authorization. In a tunnel: the agent the CONNECT authenticated, re-checked here.
   */
  readonly agent: AuthenticatedAgent | undefined;
  /** In a tunnel: the CONNECT target the tunnel was admitted for. */
  readonly tunnel?: Authority | undefined;
  /** As on the request line. */
  readonly requestTarget: string;
  readonly hostHeader: string | undefined;
}

interface Located {
  readonly host: string;
  readonly port: number;
  /** The agent as far as it is known; undefined before authentication succeeds. */
  readonly agent: AuthenticatedAgent | undefined;
}

export type Admission =
  | (Located & { readonly verdict: 'refuse'; readonly error: KeygateError })
  | (Located & { readonly verdict: 'tunnel' | 'intercept'; readonly agent: AuthenticatedAgent })
  | (Located & {
      readonly verdict: 'forward';
      readonly agent: AuthenticatedAgent;
      /** Speak TLS to the upstream. */
      readonly secure: boolean;
      /** Origin-form path and query to send upstream (normalised when the host is mapped). */
      readonly path: string;
      /** The Host header to send; undefined keeps the agent's (already checked). */
      readonly hostHeader: string | undefined;
      /** The mapping whose credential is injected, if any. */
      readonly mapping: CompiledMapping | undefined;
    });

const SCHEMES: Record<'plaintext' | 'websocket-plain', Readonly<Record<string, boolean>>> = {
  // scheme → secure (TLS to the upstream)
  plaintext: { 'http:': false, 'https:': true },
  'websocket-plain': { 'ws:': false, 'http:': false },
};

const UNKNOWN: Located = { host: '(invalid)', port: 0, agent: undefined };

// Verdicts are built field by field, never as `{ ...at, verdict }`: on Node 20 (V8 11.3) a spread
// followed by new properties costs 1–6 µs, once per request (docs/performance.md, "Hot path").
function refuse(at: Located, error: KeygateError): Admission {
  return { host: at.host, port: at.port, agent: at.agent, verdict: 'refuse', error };
}

export function agentAuthError(): KeygateError {
  return new AgentAuthRequiredError(
    'Keygate needs an agent token: use the proxy URL from `keygate env` (http://NAME:TOKEN@127.0.0.1:PORT)',
  );
}

export function admit(request: AdmissionRequest, policy: ProxyPolicy): Admission {
  if (request.shape === 'connect') return admitConnect(request, policy);
  return request.tunnel
    ? admitInTunnel(request, request.tunnel, policy)
    : admitAbsolute(request, policy);
}

function admitConnect(request: AdmissionRequest, policy: ProxyPolicy): Admission {
  const target = parseAuthority(request.requestTarget, { requirePort: true });
  if (!target) {
    const shown = request.requestTarget.slice(0, 100);
    return refuse(UNKNOWN, new BadProxyRequestError(`CONNECT target "${shown}" is not host:port`));
  }
  const { host, port } = target;
  const agent = request.agent;
  if (!agent) return refuse({ host, port, agent }, agentAuthError());
  const at = { host, port, agent };
  if (policy.rules.hasHost(host, port)) {
    if (!agent.mayUseHost(host)) return refuse(at, notGranted(agent, host, true));
    return { host, port, agent, verdict: 'intercept' };
  }
  if (policy.denyUnmapped) return refuse(at, denied(host, port));
  return { host, port, agent, verdict: 'tunnel' };
}

function admitInTunnel(
  request: AdmissionRequest,
  tunnel: Authority,
  policy: ProxyPolicy,
): Admission {
  const { host, port } = tunnel;
  // Rule 2 first: a revoked or replaced token learns nothing more about the request.
  const agent = request.agent && policy.agents.current(request.agent);
  if (!agent) return refuse({ host, port, agent: undefined }, agentAuthError());
  const at = { host, port, agent };
  let target = request.requestTarget;
  if (!target.startsWith('/')) {
    // RFC 9112 §3.2.2: a server must accept absolute-form, and a front end may route by it. It
    // is taken only when it names the tunnel's own authority, and rewritten to origin-form.
    const named = absoluteAuthority(target, request.shape === 'websocket-tls' ? 'wss:' : 'https:');
    if (!named) {
      return refuse(
        at,
        new BadProxyRequestError(
          `request-target "${target.slice(0, 100)}" is neither a path nor an https:// URL`,
        ),
      );
    }
    if (named.host !== host || named.port !== port) {
      return refuse(
        at,
        new HostMismatchError(
          `request-target names ${named.host}:${named.port}, but this tunnel goes to ${host}:${port}; ` +
            'Keygate only forwards to the host the agent connected to',
        ),
      );
    }
    target = named.path;
  }
  const hostHeader = request.hostHeader;
  // Most agents send the tunnel's own name, already canonical: that needs no parse.
  const authority =
    hostHeader === host && port === 443
      ? { host, port }
      : hostHeader
        ? parseAuthority(hostHeader, { defaultPort: 443 })
        : undefined;
  if (!authority || authority.host !== host || authority.port !== port) {
    return refuse(
      at,
      new HostMismatchError(
        `Host header "${(hostHeader ?? '').slice(0, 100)}" does not match the CONNECT target ${host}:${port}; ` +
          'Keygate only forwards to the host the agent connected to',
      ),
    );
  }
  return admitTarget(at, target, true, undefined, policy, 'https://');
}

function admitAbsolute(request: AdmissionRequest, policy: ProxyPolicy): Admission {
  const shape = request.shape === 'websocket-plain' ? 'websocket-plain' : 'plaintext';
  const target = request.requestTarget;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return refuse(
      UNKNOWN,
      new BadProxyRequestError(`request target "${target.slice(0, 100)}" is not a URL`),
    );
  }
  const secure = SCHEMES[shape][url.protocol];
  const host = canonicalHost(url.hostname);
  if (secure === undefined || !host) {
    const message =
      shape === 'websocket-plain'
        ? 'this port is an HTTP proxy; WebSockets must go through CONNECT or an absolute ws:// URL'
        : `cannot proxy "${url.protocol}//${url.hostname.slice(0, 100)}"`;
    return refuse(UNKNOWN, new BadProxyRequestError(message));
  }
  const defaultPort = secure ? 443 : 80;
  const port = url.port ? Number(url.port) : defaultPort;
  const agent = request.agent;
  if (!agent) return refuse({ host, port, agent }, agentAuthError());
  const at = { host, port, agent };
  if (request.hostHeader) {
    const authority = parseAuthority(request.hostHeader, { defaultPort });
    if (!authority || authority.host !== host || authority.port !== port) {
      return refuse(
        at,
        new HostMismatchError(
          `Host header "${request.hostHeader.slice(0, 100)}" does not match the request target ${host}:${port}`,
        ),
      );
    }
  }
  const path = `${url.pathname}${url.search}`;
  const scheme = shape === 'websocket-plain' ? 'ws://' : 'http://';
  return admitTarget(at, path, secure, authorityText(host, port, defaultPort), policy, scheme);
}

/** Rules 4–7, the same for every shape that carries a request. */
function admitTarget(
  at: Located & { readonly agent: AuthenticatedAgent },
  rawPath: string,
  secure: boolean,
  hostHeader: string | undefined,
  policy: ProxyPolicy,
  /** How the agent asked, for the plaintext refusal's wording. */
  scheme: 'https://' | 'http://' | 'ws://',
): Admission {
  const { host, port, agent } = at;
  const rules = policy.rules;
  const mapped = rules.hasHost(host, port);
  if (mapped && !agent.mayUseHost(host)) return refuse(at, notGranted(agent, host, false));
  if (!mapped && policy.denyUnmapped) return refuse(at, denied(host, port));
  let path = rawPath;
  if (mapped) {
    const normalised = normaliseRequestPath(rawPath);
    if (normalised.ok) path = normalised.path;
    else if (rules.pathDecides(host, port)) {
      return refuse(
        at,
        new BadProxyRequestError(
          `path ${normalised.reason}: servers disagree on what it names, and a mapping of ${host} depends on the path`,
        ),
      );
    }
  }
  const mapping = mapped ? rules.match(host, port, path) : undefined;
  const plaintextToMappedHost =
    !secure &&
    (mapping
      ? !(mapping.config.allowPlaintext && isLoopbackHost(host))
      : rules.hasHostOnAnyPort(host));
  if (plaintextToMappedHost) {
    // Refuse rather than forward the placeholder: a clear error beats the upstream's 401.
    return refuse(
      at,
      new PlaintextRefusedError(
        `${mapping ? `mapping ${mapping.name}` : host}: refusing plaintext ${scheme} to a mapped host; use ${scheme === 'ws://' ? 'wss://' : 'https://'}`,
      ),
    );
  }
  return { host, port, agent, verdict: 'forward', secure, path, hostHeader, mapping };
}

/** An absolute-form target's authority and origin-form path, when its scheme is `scheme`. */
function absoluteAuthority(
  target: string,
  scheme: 'https:' | 'wss:',
): (Authority & { readonly path: string }) | undefined {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  if (url.protocol !== scheme && url.protocol !== 'https:') return undefined;
  if (url.username || url.password) return undefined;
  const host = canonicalHost(url.hostname);
  if (!host) return undefined;
  return { host, port: url.port ? Number(url.port) : 443, path: `${url.pathname}${url.search}` };
}

function notGranted(agent: AuthenticatedAgent, host: string, hint: boolean): KeygateError {
  return new HostNotGrantedError(
    `agent "${agent.name}" is not granted ${host}${hint ? '; see `keygate agent add --hosts`' : ''}`,
  );
}

function denied(host: string, port: number): KeygateError {
  return new HostDeniedError(
    `${host}:${port} is not mapped, and Keygate runs with --deny-unmapped`,
  );
}
