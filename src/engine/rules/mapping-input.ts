/**
 * Turns CLI or contract input (`keygate map add …`), already shaped by its schema
 * (src/shared/api.ts), into a Mapping for the settings file, with an
 * error that says exactly what to fix. The result is checked by compiling it, so anything this
 * returns loads into a RuleTable.
 */
import { PRESETS, presetNamed } from '../../shared/presets.js';
import type { MappingInput } from '../../shared/api.js';
import { mappingSchema, type InjectorConfig, type Mapping } from '../../shared/settings-schema.js';
import { splitAuthority } from '../../shared/uri-host.js';
import { InvalidInputError } from '../errors.js';
import { refForError } from '../secrets/reference-display.js';
import { CompiledMapping } from './compiled-mapping.js';
import { HostMatcher } from './host-pattern.js';
import { checkLiteralUser } from './injectors/basic-user-injector.js';

export type { MappingInput };

export type RefValidator = (ref: string) => { ok: boolean; reason?: string };

/** Throws InvalidInputError with a message that says exactly what is wrong. */
export function buildMapping(input: MappingInput, validateRef: RefValidator): Mapping {
  // Field types were checked by the contract's schema (dispatch.ts); this checks their meaning.
  const { host, port } = splitHost(input.host, input.port);
  const pattern = new HostMatcher(host).pattern;

  checkRef('ref', input.ref, validateRef);
  const { injector, preset } = chooseInjector(input, pattern, validateRef);

  if (input.path !== undefined && !input.path.startsWith('/')) {
    throw new InvalidInputError(`path "${input.path}": a path glob must start with "/"`);
  }

  const account = input.account?.trim();
  const mapping: Mapping = {
    host: pattern,
    ...(port === undefined ? {} : { port }),
    ...(input.path === undefined ? {} : { path: input.path }),
    ref: input.ref,
    injector,
    ...(preset === undefined ? {} : { preset }),
    ...(account === undefined || account.length === 0 ? {} : { account }),
    ...(input.allowPlaintext === true ? { allowPlaintext: true } : {}),
  };

  // The schema and the compiler are the same checks the settings loader runs.
  const parsed = mappingSchema.safeParse(mapping);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? 'mapping' : issue.path.map(String).join('.') || 'mapping';
    throw new InvalidInputError(`${where}: ${issue?.message ?? 'invalid'}`);
  }
  new CompiledMapping(parsed.data);
  return parsed.data;
}

/**
 * Accepts `host`, `host:port`, `[v6]`, `[v6]:port` and bare IPv6; refuses URLs with a hint.
 * The host part is validated by HostMatcher afterwards.
 */
function splitHost(raw: string, explicitPort: number | undefined) {
  const input = raw.trim();
  if (input.length === 0) throw new InvalidInputError('host is empty');

  if (input.includes('/')) {
    let hint = '';
    try {
      const url = new URL(input);
      if (url.hostname.length > 0) hint = `: ${url.hostname}`;
    } catch {
      // Not a URL either; the generic message will do.
    }
    throw new InvalidInputError(
      `host "${raw}": pass only the host name${hint} (no scheme or path; use path for a path glob)`,
    );
  }

  // Several colons and no brackets stay one host (a bare IPv6 address), left to HostMatcher.
  const { host, port: portText, problem } = splitAuthority(input);
  if (problem !== undefined) {
    throw new InvalidInputError(
      problem.kind === 'unclosed-bracket'
        ? `host "${raw}": "[" without a closing "]"`
        : `host "${raw}": unexpected "${problem.text}" after "]"`,
    );
  }

  let port = explicitPort;
  if (portText !== undefined) {
    const fromHost = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
    if (!(fromHost >= 1 && fromHost <= 65535)) {
      throw new InvalidInputError(
        `host "${raw}": port "${portText}" is not a number from 1 to 65535`,
      );
    }
    if (explicitPort !== undefined && explicitPort !== fromHost) {
      throw new InvalidInputError(
        `host "${raw}" says port ${fromHost} but port is ${explicitPort}; give the port once`,
      );
    }
    port = fromHost;
  }
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new InvalidInputError(`port ${String(port)} is not an integer from 1 to 65535`);
  }
  return { host, port };
}

function checkRef(field: string, ref: string, validateRef: RefValidator): void {
  if (ref.trim().length === 0) throw new InvalidInputError(`${field} is empty`);
  const check = validateRef(ref);
  if (!check.ok) {
    // It may be a pasted key (`env://sk-live-…`): only its scheme is ever echoed back.
    throw new InvalidInputError(
      `${field} ${refForError(ref)}: ${check.reason ?? 'not a valid reference'}`,
    );
  }
}

function chooseInjector(
  input: MappingInput,
  pattern: string,
  validateRef: RefValidator,
): { injector: InjectorConfig; preset?: string } {
  const chosen: string[] = [];
  if (input.preset !== undefined) chosen.push('preset');
  if (input.bearer === true) chosen.push('bearer');
  if (input.header !== undefined) chosen.push('header');
  if (input.apiKeyHeader !== undefined) chosen.push('api-key header');
  if (input.basicUserRef !== undefined) chosen.push('basic user ref');
  if (input.query !== undefined) chosen.push('query');
  if (chosen.length > 1) {
    throw new InvalidInputError(
      `choose one way to inject the secret, not ${chosen.length} (got ${chosen.join(', ')})`,
    );
  }

  if (input.format !== undefined) {
    if (input.header === undefined) {
      throw new InvalidInputError('format applies only to a header injector; give header too');
    }
    if (!input.format.includes('{secret}')) {
      throw new InvalidInputError(
        `format "${input.format}" must contain {secret}, where the secret goes`,
      );
    }
  }

  if (input.preset !== undefined) {
    const preset = presetNamed(input.preset);
    if (preset === undefined) {
      throw new InvalidInputError(
        `unknown preset "${input.preset}"; known presets: ${Object.keys(PRESETS).join(', ')}`,
      );
    }
    return { injector: { ...preset.injector }, preset: preset.name };
  }
  if (input.header !== undefined) {
    if (input.header.length === 0) throw new InvalidInputError('header name is empty');
    return { injector: { type: 'header', name: input.header, format: input.format ?? '{secret}' } };
  }
  if (input.apiKeyHeader !== undefined) {
    if (input.apiKeyHeader.length === 0)
      throw new InvalidInputError('api-key header name is empty');
    return { injector: { type: 'api-key', name: input.apiKeyHeader } };
  }
  if (input.basicUserRef !== undefined) {
    // A reference (`env://USER`, `op://…`) names a secret user-id; anything else is the user-id
    // itself, such as GitHub's `x-access-token` (basic-user-injector.ts checks it).
    if (input.basicUserRef !== '' && !input.basicUserRef.includes('://')) {
      checkLiteralUser(input.basicUserRef);
      return { injector: { type: 'basic-user', user: input.basicUserRef } };
    }
    checkRef('basic user ref', input.basicUserRef, validateRef);
    return { injector: { type: 'basic', userRef: input.basicUserRef } };
  }
  if (input.query !== undefined) {
    if (input.query.length === 0) throw new InvalidInputError('query parameter name is empty');
    return { injector: { type: 'query', param: input.query } };
  }
  if (input.bearer === true) return { injector: { type: 'bearer' } };

  // Nothing chosen: a well-known API gets its preset, anything else a bearer token.
  const preset = Object.values(PRESETS).find((p) => p.host === pattern);
  if (preset !== undefined) return { injector: { ...preset.injector }, preset: preset.name };
  return { injector: { type: 'bearer' } };
}
