/** What every settings section is: a pane the sidebar can show, refresh and hide. */
import type { ApiClient } from '../shared/api-client.js';

export interface SectionContext {
  readonly api: ApiClient;
  /** True inside the macOS app (the preload bridge exists), false in a browser. */
  readonly app: boolean;
  /** Shows another section (e.g. "set up 1Password first"). */
  show(id: string): void;
  /** Tells other sections the data they show may have changed (e.g. mappings after an import). */
  changed(what: 'mappings' | 'agents' | 'onepassword' | 'proxy'): void;
}

export interface Section {
  readonly id: string;
  readonly title: string;
  readonly element: HTMLElement;
  /** Called each time the section is shown. */
  activate(): void;
  /** Called when another section is shown (stop polling). */
  deactivate(): void;
  /** Another section changed something this one shows. */
  invalidate?(what: string): void;
}
