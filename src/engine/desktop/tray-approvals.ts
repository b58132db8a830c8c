/**
 * How the menu words approvals and budgets (tray-menu-model.ts) and which approvals are new
 * since the last look (for the notification when one arrives). Pure; no electron.
 */
import type { BudgetHitView, PendingApprovalView } from '../../shared/api.js';

const PRESET_LABEL: Readonly<Record<string, string>> = {
  anthropic: 'Anthropic',
  openai: 'OpenAI',
};

/** Control characters and overlong text out of a menu line (mapping names may be long). */
function clean(text: string, max: number): string {
  const oneLine = [...text]
    .map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? ' ' : c))
    .join('')
    .trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

/** "claude wants Anthropic (api.anthropic.com)". */
export function approvalLabel(p: PendingApprovalView): string {
  const what = p.preset ? (PRESET_LABEL[p.preset] ?? p.preset) : p.mapping;
  const host = p.port === 443 ? p.host : `${p.host}:${p.port}`;
  return `${clean(p.agent, 64)} wants ${clean(what, 60)} (${clean(host, 80)})`;
}

/** "claude: over its 100 requests/hour until 14:05" (local time). */
export function budgetLine(hit: BudgetHitView): string {
  const until = new Date(hit.until);
  const time = Number.isNaN(until.getTime())
    ? hit.until
    : `${String(until.getHours()).padStart(2, '0')}:${String(until.getMinutes()).padStart(2, '0')}`;
  const scope = hit.mapping ? `${hit.agent} on ${clean(hit.mapping, 40)}` : hit.agent;
  const limit = hit.kind === 'requests' ? `${hit.limit} requests/hour` : `${hit.limit} tokens/day`;
  return `${scope}: over its ${limit} until ${time}`;
}

/** Tracks which pending approvals were already seen, to notify once per arrival. */
export class ApprovalArrivals {
  #seen = new Set<string>();

  /** The approvals in `pending` not seen before; forgets those no longer pending. */
  arrived(pending: readonly PendingApprovalView[]): PendingApprovalView[] {
    const fresh = pending.filter((p) => !this.#seen.has(p.id));
    this.#seen = new Set(pending.map((p) => p.id));
    return fresh;
  }
}
