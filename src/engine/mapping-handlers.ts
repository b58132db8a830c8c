/**
 * The contract's mapping operations (`mappings.list`, `.upsert`, `.remove`, `.test`): edits of the
 * settings file's mappings, each in one locked update, plus the checks around them (a live
 * 1Password lookup before an op:// mapping is saved, a resolve for `map test`). A running engine
 * follows the file; these work the same with or without one.
 */
import type { ApiHandlers, MappingInput, MappingTestResult, MappingView } from '../shared/api.js';
import type { Mapping } from '../shared/settings-schema.js';
import { InvalidInputError } from './errors.js';
import { CompiledMapping, mappingRefs } from './rules/compiled-mapping.js';
import { HostMatcher } from './rules/host-pattern.js';
import { buildMapping } from './rules/mapping-input.js';
import { readRuntimeInfo } from './runtime-file.js';
import type { SecretResolutionKind } from './secrets/secret-resolver.js';
import { SecretSourceError } from './secrets/secret-source.js';
import type { SecretSetup } from './secrets/secret-setup.js';
import type { SettingsStore } from './settings/settings-store.js';

export type MappingHandlers = Pick<
  ApiHandlers,
  'mappings.list' | 'mappings.upsert' | 'mappings.remove' | 'mappings.test'
>;

export interface MappingHandlerDeps {
  readonly store: SettingsStore;
  readonly home: string;
  /** The secret sources, created on first use. */
  readonly setup: () => Promise<SecretSetup>;
  /** True in serve and the app; a CLI command reads the running serve's stale flags instead. */
  readonly engineHere: boolean;
}

/** The live check before saving an op:// mapping; the SDK alone can hang for minutes. */
const LIVE_CHECK_TIMEOUT_MS = 10_000;

export function mappingView(mapping: Mapping): MappingView {
  const compiled = new CompiledMapping(mapping);
  return {
    ...structuredClone(mapping),
    name: compiled.name,
    explain: compiled.explain(),
  } as MappingView;
}

/** One mapping per host, port and path: saving into a taken slot replaces its mapping. */
function sameSlot(a: Mapping, b: Mapping): boolean {
  return (
    a.host === b.host && (a.port ?? 443) === (b.port ?? 443) && (a.path ?? '') === (b.path ?? '')
  );
}

function isReferenceProblem(kind: SecretResolutionKind | undefined): boolean {
  return kind === 'not-found' || kind === 'invalid-ref';
}

export function mappingHandlers(deps: MappingHandlerDeps): MappingHandlers {
  return {
    'mappings.list': async () => listMappings(deps),
    'mappings.upsert': async (input) => upsertMapping(deps, input),
    'mappings.remove': async ({ host, path }) => removeMappings(deps.store, host, path),
    'mappings.test': async ({ host }) => testMappings(deps, host),
  };
}

async function listMappings({ store, home, setup, engineHere }: MappingHandlerDeps) {
  const { resolver } = await setup();
  // Without an engine here (a CLI command), this process has resolved nothing yet: the stale
  // flags worth showing are those of the running serve, from serve.json.
  const runningStale = engineHere ? undefined : readRuntimeInfo(home)?.stale;
  return store.get().mappings.map((mapping) => {
    const view = mappingView(mapping);
    // Stale is about the reference (item deleted, field renamed, access revoked), not about
    // reaching 1Password: an outage shows on the account's status, not on every mapping.
    const stale = mappingRefs(mapping)
      .map((ref) => resolver.status(ref))
      .find((status) => status.state === 'failing' && isReferenceProblem(status.kind));
    if (stale) return { ...view, stale: stale.reason ?? 'does not resolve' };
    const seenByServe = runningStale?.[view.name];
    return seenByServe ? { ...view, stale: seenByServe } : view;
  });
}

async function upsertMapping(
  { store, setup }: MappingHandlerDeps,
  input: MappingInput,
): Promise<MappingView> {
  const { resolver, onePassword } = await setup();
  const mapping = buildMapping(input, (ref) => resolver.validate(ref));
  // Live check for op:// when an account is connected: a reference that does not resolve is
  // refused with 1Password's reason. An unreachable 1Password does not block saving.
  // (env:// is not checked here: it resolves in serve's environment, not this one.)
  const refs = mappingRefs(mapping);
  for (const ref of refs.filter((r) => r.startsWith('op://'))) {
    if (!onePassword.connected) break;
    try {
      // With the account this mapping names: the resolver would pick the account of whatever
      // saved mapping already uses the reference (or the default one), not this one's.
      await onePassword.source.resolveForAccount(
        mapping.account,
        ref,
        AbortSignal.timeout(LIVE_CHECK_TIMEOUT_MS),
      );
    } catch (err) {
      if (err instanceof SecretSourceError && err.kind === 'not-found') {
        throw new InvalidInputError(`${ref} does not resolve: ${err.message}`);
      }
      // Anything else (1Password unreachable, timed out, rate-limited) is not the reference's
      // fault: the mapping is saved, and `map test` or the first request shows the problem.
    }
  }
  store.update((draft) => {
    const index = draft.mappings.findIndex((existing) => sameSlot(existing, mapping));
    if (index >= 0) draft.mappings[index] = mapping;
    else draft.mappings.push(mapping);
  });
  // A value cached for these references may have come from another account.
  for (const ref of refs) resolver.invalidate(ref);
  return mappingView(mapping);
}

function removeMappings(
  store: SettingsStore,
  host: string,
  path: string | undefined,
): { removed: number } {
  const pattern = new HostMatcher(host.trim()).pattern;
  let removed = 0;
  store.update((draft) => {
    const kept = draft.mappings.filter(
      (m) => !(m.host === pattern && (path === undefined || m.path === path)),
    );
    removed = draft.mappings.length - kept.length;
    draft.mappings = kept;
  });
  return { removed };
}

async function testMappings(
  { store, setup }: MappingHandlerDeps,
  host: string,
): Promise<MappingTestResult[]> {
  const pattern = new HostMatcher(host.trim()).pattern;
  const mappings = store.get().mappings.filter((m) => m.host === pattern);
  if (mappings.length === 0)
    throw new InvalidInputError(`no mapping for ${pattern} (keygate map list)`);
  return Promise.all(
    mappings.map(async (mapping): Promise<MappingTestResult> => {
      const name = new CompiledMapping(mapping).name;
      try {
        const { resolver } = await setup();
        const [primary, ...others] = mappingRefs(mapping);
        const secret = await resolver.resolve(primary ?? mapping.ref);
        for (const ref of others) await resolver.resolve(ref);
        return { name, ok: true, fingerprint: secret.fingerprint(), length: secret.length };
      } catch (err) {
        // The answer of `map test`: the reason, already free of the value (resolver errors
        // never carry it), per mapping, so one failing mapping does not hide the others.
        return { name, ok: false, reason: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}
