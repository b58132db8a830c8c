/**
 * Mappings as the form edits them, and the bookkeeping the contract leaves to the caller:
 * `mappings.remove` takes a host and an optional path, and without a path it removes every
 * mapping of that host (any path, any port). Removing exactly one mapping therefore re-saves
 * any others that call took with it.
 */
import type { ApiClient } from '../../shared/api-client.js';
import type { MappingInput, MappingView } from '../../shared/api.js';
import { PRESETS } from '../../shared/presets.js';
import { uriHost } from '../../shared/uri-host.js';

/** The injector dropdown's choices: automatic, a preset by name, or a manual kind. */
export type InjectorChoice =
  | { kind: 'auto' }
  | { kind: 'preset'; preset: string }
  | { kind: 'bearer' }
  | { kind: 'header'; name: string; format: string }
  | { kind: 'api-key'; name: string }
  | { kind: 'basic'; userRef: string }
  | { kind: 'query'; param: string };

export interface MappingDraft {
  host: string;
  ref: string;
  path: string;
  injector: InjectorChoice;
  /** Kept from the mapping being edited; the form does not show them. */
  account?: string;
  allowPlaintext?: boolean;
}

export function emptyDraft(): MappingDraft {
  return { host: '', ref: '', path: '', injector: { kind: 'auto' } };
}

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

/** The host field's text: the pattern, with `:port` when the mapping has one. */
export function hostText(view: MappingView): string {
  if (view.port === undefined) return view.host;
  return `${uriHost(view.host)}:${view.port}`;
}

export function draftFromView(view: MappingView): MappingDraft {
  const injector: InjectorChoice =
    view.preset !== undefined
      ? { kind: 'preset', preset: view.preset }
      : view.injector.type === 'bearer'
        ? { kind: 'bearer' }
        : view.injector.type === 'header'
          ? { kind: 'header', name: view.injector.name, format: view.injector.format }
          : view.injector.type === 'api-key'
            ? { kind: 'api-key', name: view.injector.name }
            : view.injector.type === 'basic'
              ? { kind: 'basic', userRef: view.injector.userRef }
              : view.injector.type === 'basic-user'
                ? { kind: 'basic', userRef: view.injector.user } // a literal user, kept as typed
                : { kind: 'query', param: view.injector.param };
  return {
    host: hostText(view),
    ref: view.ref,
    path: view.path ?? '',
    injector,
    ...(view.account !== undefined ? { account: view.account } : {}),
    ...(view.allowPlaintext ? { allowPlaintext: true } : {}),
  };
}

export function inputFromDraft(draft: MappingDraft): MappingInput {
  const input: MappingInput = { host: draft.host.trim(), ref: draft.ref.trim() };
  const path = draft.path.trim();
  if (path !== '') input.path = path;
  const choice = draft.injector;
  switch (choice.kind) {
    case 'auto':
      break;
    case 'preset':
      input.preset = choice.preset;
      break;
    case 'bearer':
      input.bearer = true;
      break;
    case 'header':
      input.header = choice.name.trim();
      if (choice.format.trim() !== '') input.format = choice.format;
      break;
    case 'api-key':
      input.apiKeyHeader = choice.name.trim();
      break;
    case 'basic':
      input.basicUserRef = choice.userRef.trim();
      break;
    case 'query':
      input.query = choice.param.trim();
      break;
  }
  if (draft.account !== undefined) input.account = draft.account;
  if (draft.allowPlaintext) input.allowPlaintext = true;
  return input;
}

export function viewToInput(view: MappingView): MappingInput {
  return inputFromDraft(draftFromView(view));
}

/** The slot a mapping occupies: upsert replaces the mapping in the same slot. */
export function slotOf(view: Pick<MappingView, 'host' | 'port' | 'path'>): string {
  return `${view.host} ${view.port ?? 443} ${view.path ?? ''}`;
}

/** What `mappings.remove({ host, path })` takes away, by the engine's rule. */
function removedBy(all: readonly MappingView[], target: MappingView): MappingView[] {
  return all.filter(
    (m) => m.host === target.host && (target.path === undefined || m.path === target.path),
  );
}

/** Removes `target` and only it: anything else the contract's remove took is saved again. */
export async function removeExactly(
  api: ApiClient,
  all: readonly MappingView[],
  target: MappingView,
): Promise<void> {
  const collateral = removedBy(all, target).filter((m) => slotOf(m) !== slotOf(target));
  await api['mappings.remove']({
    host: target.host,
    ...(target.path !== undefined ? { path: target.path } : {}),
  });
  for (const other of collateral) await api['mappings.upsert'](viewToInput(other));
}

/**
 * Which form field an engine message is about, so it shows under that field. Messages start with
 * the field's name (`host "…": …`, `ref "…": …`, `path "…": …`), or name the reference that
 * failed its live check (`op://… does not resolve: …`).
 */
export function fieldOfMessage(message: string): 'host' | 'ref' | 'path' | 'injector' | undefined {
  if (/^(host|port)\b/.test(message)) return 'host';
  if (/^(ref\b|[a-z][a-z0-9+.-]*:\/\/\S* does not resolve)/.test(message)) return 'ref';
  if (/^path\b/.test(message)) return 'path';
  if (
    /^(format|header|api-key|query|basic user ref|choose one|unknown preset|injector)/.test(message)
  )
    return 'injector';
  return undefined;
}
