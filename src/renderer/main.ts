/**
 * The settings window: picks the transport (the app's bridge, or HTTP from `serve --ui`), builds
 * the sections and the sidebar, and shows one section at a time. The section id is kept in the
 * URL fragment so a reload returns to it.
 */
import { createApiClient } from '../shared/api-client.js';
import { h } from './dom.js';
import { errorText } from './errors.js';
import { createNotice } from './notice.js';
import type { Section, SectionContext } from './section.js';
import { createActivitySection } from './sections/activity.js';
import { createApprovalsPanel } from './sections/approvals.js';
import { createAgentsSection } from './sections/agents.js';
import { createCertificateSection } from './sections/certificate.js';
import { createGeneralSection } from './sections/general.js';
import { createMappingsSection } from './sections/mappings.js';
import { createOnePasswordSection } from './sections/onepassword.js';
import { createSidebar } from './sidebar.js';
import { chooseTransport } from './transport.js';

const STATUS_POLL_MS = 3000;

function start(): void {
  const root = document.getElementById('app');
  if (!root) return;
  const notice = createNotice();
  let unauthorized = false;
  const choice = chooseTransport({
    onUnauthorized: () => {
      unauthorized = true;
      notice.show(
        'This page’s access token is not valid any more (was Keygate restarted?). Open the new link `keygate serve --ui` printed.',
      );
    },
  });
  if (choice.kind === 'none') {
    root.replaceChildren(
      h('div', { class: 'fatal' }, h('h1', {}, 'Keygate Settings'), h('p', {}, choice.reason)),
    );
    return;
  }
  document.documentElement.dataset.transport = choice.kind;
  const api = createApiClient(choice.transport);

  const sections = new Map<string, Section>();
  let current: Section | undefined;
  const content = h('main', { class: 'content', id: 'content', tabindex: -1 });

  const ctx: SectionContext = {
    api,
    app: choice.kind === 'app',
    show: (id) => show(id),
    changed: (what) => {
      for (const section of sections.values()) if (section !== current) section.invalidate?.(what);
      void pollStatus();
    },
  };

  for (const section of [
    createOnePasswordSection(ctx),
    createMappingsSection(ctx),
    createAgentsSection(ctx),
    createCertificateSection(ctx),
    createActivitySection(ctx),
    createGeneralSection(ctx),
  ]) {
    section.element.dataset.section = section.id;
    section.element.hidden = true;
    sections.set(section.id, section);
    content.append(section.element);
  }

  const sidebar = createSidebar([...sections.values()], (id) => show(id));

  function show(id: string): void {
    const next = sections.get(id) ?? sections.get('mappings');
    if (!next || next === current) return;
    current?.deactivate();
    if (current) current.element.hidden = true;
    current = next;
    next.element.hidden = false;
    sidebar.select(next.id);
    document.title = `${next.title} · Keygate`;
    history.replaceState(null, '', `${location.pathname}${location.search}#${next.id}`);
    content.scrollTop = 0;
    next.activate();
  }

  let statusTimer: ReturnType<typeof setTimeout> | undefined;
  async function pollStatus(): Promise<void> {
    try {
      sidebar.status(await api['proxy.status']());
      if (!unauthorized) notice.hide();
    } catch (err) {
      sidebar.status(undefined, unauthorized ? 'Token expired' : 'Not reachable');
      if (!unauthorized) notice.show(`Keygate is not answering: ${errorText(err)}`);
    }
    // One timer, however many refreshes were asked for meanwhile.
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => void pollStatus(), STATUS_POLL_MS);
  }

  const approvals = createApprovalsPanel(ctx);
  root.replaceChildren(
    sidebar.element,
    h('div', { class: 'pane' }, notice.element, approvals.element, content),
  );
  const initial = location.hash.slice(1);
  show(sections.has(initial) ? initial : 'mappings');
  void pollStatus();
  approvals.start();
}

start();
