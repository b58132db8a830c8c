import { isIP } from 'node:net';
import { bareHost } from '../../../shared/uri-host.js';
import { abortable } from './abortable.js';
import { mapSdkError } from './error-mapping.js';
import type { OpClient } from './op-client.js';
import { OP_PREFIX, validateOpReference } from './reference.js';

/*
 * What the UI shows once an account is connected: vaults, items with their field NAMES, and
 * mapping suggestions from Login / Password / API Credential items' websites. Nothing here calls
 * `secrets.*`. `items.get` does return field values (the SDK has no names-only call); they are
 * never copied out of the response, which is dropped at once.
 *
 * Every SDK call honours `signal`; give it a timeout (AbortSignal.timeout), as the SDK can hang.
 * SDK failures are thrown as SecretSourceError (see error-mapping).
 */

export interface VaultSummary {
  id: string;
  title: string;
}

export interface FieldSummary {
  id: string;
  title: string;
  /** The SDK's field type: Text, Concealed, Totp, Url… */
  type: string;
  /** Title of the section it sits in, if any. */
  section?: string;
}

export interface ItemSummary {
  id: string;
  title: string;
  category: string;
  vaultId: string;
  websites: string[];
  fields: FieldSummary[];
}

export interface ImportSuggestion {
  /** Lower-case hostname from the item's website (IP addresses kept). */
  host: string;
  /** `op://vault/item/field`, by title where the reference syntax can carry it, else by ID. */
  ref: string;
  vault: VaultSummary;
  item: { id: string; title: string; category: string };
  field: 'password' | 'credential';
}

export interface DiscoveryOptions {
  signal?: AbortSignal;
  /** items.get calls run at most this many at once. Default 4. */
  concurrency?: number;
}

/** Item categories that hold a key worth mapping, and the field that holds it. */
const SUGGESTED_FIELD: Readonly<Record<string, 'password' | 'credential'>> = {
  Login: 'password',
  Password: 'password',
  ApiCredentials: 'credential',
};

/** The reference grammar's characters: anything else in a title means using the ID. */
const SEGMENT = /^[A-Za-z0-9_.\- ]+$/;

export async function listVaults(
  client: OpClient,
  options: DiscoveryOptions = {},
): Promise<VaultSummary[]> {
  const vaults = await call(() => client.vaults.list(), options.signal, 'listing vaults');
  return vaults
    .map((v) => ({ id: v.id, title: v.title }))
    .sort((a, b) => a.title.localeCompare(b.title));
}

/** The vault's items with their fields' names and types. One `items.get` per item. */
export async function listItems(
  client: OpClient,
  vaultId: string,
  options: DiscoveryOptions = {},
): Promise<ItemSummary[]> {
  const overviews = await call(() => client.items.list(vaultId), options.signal, 'listing items');
  const items = await mapLimited(overviews, options.concurrency ?? 4, async (overview) => {
    const item = await call(
      () => client.items.get(vaultId, overview.id),
      options.signal,
      'reading an item',
    );
    const sections = new Map(item.sections.map((s) => [s.id, s.title]));
    const fields = item.fields.map((f): FieldSummary => {
      // Names and types only: `f.value` (present on the real SDK's fields) is never read.
      const field: FieldSummary = { id: f.id, title: f.title, type: f.fieldType };
      const section = f.sectionId !== undefined ? sections.get(f.sectionId) : undefined;
      if (section !== undefined && section !== '') field.section = section;
      return field;
    });
    return {
      id: overview.id,
      title: overview.title,
      category: overview.category,
      vaultId: overview.vaultId,
      websites: overview.websites.map((w) => w.url),
      fields,
    };
  });
  return items.sort((a, b) => a.title.localeCompare(b.title));
}

/**
 * Mapping suggestions: for every Login, Password or API Credential item with websites, one per
 * distinct http(s) host. The user confirms each; nothing is saved here.
 */
export async function importSuggestions(
  client: OpClient,
  options: DiscoveryOptions = {},
): Promise<ImportSuggestion[]> {
  const vaults = await listVaults(client, options);
  const vaultTitleCounts = countBy(vaults.map((v) => v.title));
  const out: ImportSuggestion[] = [];
  const seen = new Set<string>();
  for (const vault of vaults) {
    const items = await call(() => client.items.list(vault.id), options.signal, 'listing items');
    const itemTitleCounts = countBy(items.map((i) => i.title));
    for (const item of items) {
      const field = SUGGESTED_FIELD[item.category];
      if (field === undefined || item.websites.length === 0) continue;
      const ref = buildRef(
        segment(vault.title, vault.id, vaultTitleCounts),
        segment(item.title, item.id, itemTitleCounts),
        field,
        `${OP_PREFIX}${vault.id}/${item.id}/${field}`,
      );
      if (ref === undefined) continue;
      for (const website of item.websites) {
        const host = hostOf(website.url);
        if (host === undefined) continue;
        const key = `${host} ${ref}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({
          host,
          ref,
          vault: { id: vault.id, title: vault.title },
          item: { id: item.id, title: item.title, category: item.category },
          field,
        });
      }
    }
  }
  return out.sort((a, b) => a.host.localeCompare(b.host) || a.ref.localeCompare(b.ref));
}

/**
 * The hostname of a website as 1Password stores it: a full URL, or a bare host ("github.com",
 * taken as https). Other schemes (ssh://, androidapp://…) give none, and so does a bare word
 * without a dot. Lower-case, without a trailing dot; IP addresses kept, IPv6 without brackets.
 */
export function hostOf(url: string): string | undefined {
  const text = url.trim();
  if (text === '') return undefined;
  const hasScheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.test(text) && !/^[^:/]+:\d+(\/|$)/.test(text);
  let parsed: URL;
  try {
    parsed = new URL(hasScheme ? text : `https://${text}`);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  const host = bareHost(parsed.hostname.toLowerCase().replace(/\.$/, ''));
  if (host === '') return undefined;
  // A bare word ("Website", "n/a") is more likely a note than a host, unless it had a scheme.
  if (!hasScheme && !host.includes('.') && isIP(host) === 0 && host !== 'localhost') {
    return undefined;
  }
  return host;
}

/** A title the reference can carry unambiguously, else the ID. */
function segment(title: string, id: string, counts: ReadonlyMap<string, number>): string {
  const carryable = SEGMENT.test(title) && title.trim() === title && (counts.get(title) ?? 0) === 1;
  return carryable ? title : id;
}

/** The reference by titles if the SDK accepts it, else by IDs, else none. */
function buildRef(vault: string, item: string, field: string, byIds: string): string | undefined {
  const ref = `${OP_PREFIX}${vault}/${item}/${field}`;
  if (validateOpReference(ref).ok) return ref;
  return validateOpReference(byIds).ok ? byIds : undefined;
}

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

async function call<T>(
  run: () => Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
): Promise<T> {
  try {
    return await abortable(run(), signal, what);
  } catch (err) {
    throw mapSdkError(err);
  }
}

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * The reference for one field of one item, by titles where the syntax carries them, else by IDs
 * (field IDs are what 1Password itself falls back to). Undefined when neither validates.
 */
export function fieldReference(
  vault: { id: string; title: string },
  item: { id: string; title: string },
  field: { id: string; title: string; section?: string },
): string | undefined {
  const titled = (title: string) => SEGMENT.test(title) && title.trim() === title;
  const byTitle = [vault.title, item.title, ...(field.section ? [field.section] : []), field.title];
  const byIds = `${OP_PREFIX}${vault.id}/${item.id}/${field.id}`;
  return byTitle.every(titled)
    ? buildRef(byTitle[0] ?? vault.id, byTitle[1] ?? item.id, byTitle.slice(2).join('/'), byIds)
    : validateOpReference(byIds).ok
      ? byIds
      : undefined;
}
