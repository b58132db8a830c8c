/**
 * A fake 1Password: `FakeOnePassword` holds vaults and items (the "server") and hands out
 * `FakeOpClient`s through `factory`. A client implements exactly `OpClient` — the narrow
 * interface Keygate uses — and is the only stand-in for the SDK in the tests.
 *
 * It can be slow (`delayMs`), hang (`hang`), hit the rate limit, expire sessions, be locked,
 * fail single references in `resolveAll`, and lose items (`deleteItem` → itemNotFound). Thrown
 * errors are the SDK's REAL classes (RateLimitExceededError, AuthExpiredError,
 * DesktopSessionExpiredError); per-reference errors use the SDK's `type` strings.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AuthExpiredError,
  DesktopSessionExpiredError,
  RateLimitExceededError,
} from '@1password/sdk';
import type {
  OpAuth,
  OpClient,
  OpClientFactory,
} from '../../src/engine/secrets/onepassword/op-client.js';

export interface FakeField {
  id: string;
  title: string;
  fieldType: string;
  sectionId?: string;
  /** SECRET in the tests' world: must never leave through discovery. */
  value: string;
}

export interface FakeItem {
  id: string;
  title: string;
  category: string;
  vaultId: string;
  websites: Array<{ url: string; label: string }>;
  fields: FakeField[];
  sections: Array<{ id: string; title: string }>;
}

export interface FakeVault {
  id: string;
  title: string;
}

export interface NewItem {
  title: string;
  category?: string;
  websites?: string[];
  /** Field title → value (id = lower-cased title); or full field records. */
  fields?: Record<string, string> | FakeField[];
  sections?: Array<{ id: string; title: string }>;
  id?: string;
}

/** The SDK core's words for `secrets.resolve` failures (from its WASM), by resolveAll type. */
const SDK_WORDS: Record<string, string> = {
  vaultNotFound: 'no vault matched the secret reference query',
  itemNotFound: 'no item matched the secret reference query',
  noMatchingSections: 'no section matched the secret reference',
  fieldNotFound: 'the specified field cannot be found within the item',
  tooManyItems: 'more than one item matched the secret reference query',
};

type Method = 'resolve' | 'resolveAll' | 'vaults.list' | 'items.list' | 'items.get';
type ResolveAllAnswer = Awaited<ReturnType<OpClient['secrets']['resolveAll']>>;

export class FakeOnePassword {
  readonly vaults: FakeVault[] = [];
  readonly items: FakeItem[] = [];
  /** Items removed by deleteItem, so restoreItem can bring them back. */
  readonly #deleted = new Map<string, FakeItem>();

  // ---- behaviour switches -------------------------------------------------------------
  /** Every call waits this long first (real timers). */
  delayMs = 0;
  /** Calls never settle (the SDK on a silent server). */
  hang = false;
  /** Calls throw RateLimitExceededError. */
  rateLimited = false;
  /** Calls throw DesktopSessionExpiredError ("1Password is locked"). */
  locked = false;
  /** The next N calls throw AuthExpiredError, whichever client makes them. */
  authExpiredCalls = 0;
  /** Per-reference errors resolveAll reports (and resolve throws). */
  readonly refErrors = new Map<string, { type: string; message?: string }>();
  /** createClient throws this (e.g. the SDK's malformed-token error). */
  createError: unknown;
  /** createClient takes this long (real timers). */
  createDelayMs = 0;

  // ---- observation ----------------------------------------------------------------------
  readonly calls: Record<Method, number> = {
    resolve: 0,
    resolveAll: 0,
    'vaults.list': 0,
    'items.list': 0,
    'items.get': 0,
  };
  /** Calls per client, by `FakeOpClient.index`. */
  readonly callsByClient: number[] = [];
  /** Each resolveAll call's references. */
  readonly resolveAllArgs: string[][] = [];
  /** Every client made, in order, and the auth it was made with. */
  readonly clients: FakeOpClient[] = [];
  readonly auths: OpAuth[] = [];
  createCalls = 0;

  #nextId = 1;

  /** The factory Keygate's pool calls instead of the SDK's createClient. */
  readonly factory: OpClientFactory = async (auth) => {
    this.createCalls++;
    this.auths.push(auth);
    if (this.createDelayMs > 0) await sleep(this.createDelayMs);
    if (this.createError !== undefined) throw this.createError;
    const client = new FakeOpClient(this, this.clients.length);
    this.clients.push(client);
    return client;
  };

  /** Calls of every method, all clients. */
  get sdkCalls(): number {
    return Object.values(this.calls).reduce((a, b) => a + b, 0);
  }

  addVault(title: string, id = this.#id('v')): FakeVault {
    const vault = { id, title };
    this.vaults.push(vault);
    return vault;
  }

  addItem(vault: FakeVault, spec: NewItem): FakeItem {
    const fields: FakeField[] = Array.isArray(spec.fields)
      ? spec.fields
      : Object.entries(spec.fields ?? {}).map(([title, value]) => ({
          id: title.toLowerCase(),
          title,
          fieldType: /pass|credential|secret|key|token/i.test(title) ? 'Concealed' : 'Text',
          value,
        }));
    const item: FakeItem = {
      id: spec.id ?? this.#id('i'),
      title: spec.title,
      category: spec.category ?? 'Login',
      vaultId: vault.id,
      websites: (spec.websites ?? []).map((url) => ({ url, label: 'website' })),
      fields,
      sections: spec.sections ?? [],
    };
    this.items.push(item);
    return item;
  }

  deleteItem(item: FakeItem): void {
    const index = this.items.indexOf(item);
    if (index >= 0) {
      this.items.splice(index, 1);
      this.#deleted.set(item.id, item);
    }
  }

  restoreItem(item: FakeItem): void {
    if (this.#deleted.delete(item.id)) this.items.push(item);
  }

  /** Common preamble of every client call: count, then delay / hang / typed failures. */
  async enter(method: Method, client: FakeOpClient): Promise<void> {
    this.calls[method]++;
    this.callsByClient[client.index] = (this.callsByClient[client.index] ?? 0) + 1;
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (this.hang) await new Promise<never>(() => {});
    if (this.authExpiredCalls > 0) {
      this.authExpiredCalls--;
      throw new AuthExpiredError('authentication expired; create a new client');
    }
    if (this.locked) throw new DesktopSessionExpiredError('the desktop app session expired');
    if (this.rateLimited) throw new RateLimitExceededError('rate limit exceeded');
  }

  /** The value a reference points to, or the SDK error type why not. */
  lookup(ref: string): { secret: string } | { error: { type: string; message?: string } } {
    const scripted = this.refErrors.get(ref);
    if (scripted !== undefined) return { error: scripted };
    const match = /^op:\/\/([^/?]*)\/([^/?]*)\/(?:([^/?]*)\/)?([^/?]*)(\?.*)?$/.exec(ref);
    if (match === null) {
      return { error: { type: 'parsing', message: 'secret reference has invalid format' } };
    }
    const [, vaultName = '', itemName = '', sectionName, fieldName = ''] = match;
    const vaults = this.vaults.filter((v) => v.id === vaultName || v.title === vaultName);
    if (vaults.length === 0) return { error: { type: 'vaultNotFound' } };
    if (vaults.length > 1) return { error: { type: 'tooManyVaults' } };
    const vault = vaults[0] as FakeVault;
    const items = this.items.filter(
      (i) => i.vaultId === vault.id && (i.id === itemName || i.title === itemName),
    );
    if (items.length === 0) return { error: { type: 'itemNotFound' } };
    if (items.length > 1) return { error: { type: 'tooManyItems' } };
    const item = items[0] as FakeItem;
    let fields = item.fields;
    if (sectionName !== undefined) {
      const section = item.sections.find((s) => s.id === sectionName || s.title === sectionName);
      if (section === undefined) return { error: { type: 'noMatchingSections' } };
      fields = fields.filter((f) => f.sectionId === section.id);
    }
    const matching = fields.filter((f) => f.id === fieldName || f.title === fieldName);
    if (matching.length === 0) return { error: { type: 'fieldNotFound' } };
    if (matching.length > 1) return { error: { type: 'tooManyMatchingFields' } };
    return { secret: (matching[0] as FakeField).value };
  }

  #id(prefix: string): string {
    return `${prefix}${String(this.#nextId++).padStart(25, '0')}`;
  }
}

/** One SDK client. Implements exactly OpClient; everything it does goes through its backend. */
export class FakeOpClient implements OpClient {
  readonly #backend: FakeOnePassword;
  /** Position in `backend.clients` (0 = first made). */
  readonly index: number;

  constructor(backend: FakeOnePassword, index: number) {
    this.#backend = backend;
    this.index = index;
  }

  readonly secrets: OpClient['secrets'] = {
    resolve: async (ref) => {
      await this.#backend.enter('resolve', this);
      const answer = this.#backend.lookup(ref);
      if ('secret' in answer) return answer.secret;
      // What the SDK does: a bare Error with the core's words.
      throw new Error(
        `error resolving secret reference: ${SDK_WORDS[answer.error.type] ?? answer.error.type}`,
      );
    },
    resolveAll: async (refs) => {
      this.#backend.resolveAllArgs.push([...refs]);
      await this.#backend.enter('resolveAll', this);
      const out: ResolveAllAnswer = { individualResponses: {} };
      for (const ref of refs) {
        const answer = this.#backend.lookup(ref);
        out.individualResponses[ref] =
          'secret' in answer ? { content: { secret: answer.secret } } : { error: answer.error };
      }
      return out;
    },
  };

  readonly vaults: OpClient['vaults'] = {
    list: async () => {
      await this.#backend.enter('vaults.list', this);
      return this.#backend.vaults.map((v) => ({ ...v }));
    },
  };

  readonly items: OpClient['items'] = {
    list: async (vaultId) => {
      await this.#backend.enter('items.list', this);
      return this.#backend.items
        .filter((i) => i.vaultId === vaultId)
        .map((i) => ({
          id: i.id,
          title: i.title,
          category: i.category,
          vaultId: i.vaultId,
          websites: i.websites.map((w) => ({ ...w })),
        }));
    },
    get: async (vaultId, itemId) => {
      await this.#backend.enter('items.get', this);
      const item = this.#backend.items.find((i) => i.vaultId === vaultId && i.id === itemId);
      if (item === undefined) throw new Error('error: item not found');
      // Like the SDK, fields come WITH their values: discovery must drop them.
      const full = {
        ...item,
        fields: item.fields.map((f) => ({ ...f })),
        sections: item.sections.map((s) => ({ ...s })),
      };
      return full;
    },
  };
}
