/**
 * The sidebar: one button per section (arrow keys move between them), and the proxy's state at
 * the bottom, refreshed every few seconds.
 */
import type { ProxyStatus } from '../shared/api.js';
import { h } from './dom.js';
import { icon } from './icons.js';

export interface SidebarItem {
  readonly id: string;
  readonly title: string;
}

export interface Sidebar {
  readonly element: HTMLElement;
  select(id: string): void;
  status(status: ProxyStatus | undefined, problem?: string): void;
}

export function createSidebar(
  items: readonly SidebarItem[],
  chosen: (id: string) => void,
): Sidebar {
  const buttons = new Map<string, HTMLButtonElement>();
  const list = h('ul', { class: 'nav-list' });
  for (const item of items) {
    const button = h(
      'button',
      { type: 'button', class: 'nav-item', 'data-nav': item.id },
      h('span', { class: `nav-icon tint-${item.id}` }, icon(item.id)),
      h('span', { class: 'nav-label' }, item.title),
    );
    button.addEventListener('click', () => chosen(item.id));
    buttons.set(item.id, button);
    list.append(h('li', {}, button));
  }
  list.addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    const all = [...buttons.values()];
    const index = all.indexOf(document.activeElement as HTMLButtonElement);
    if (index === -1) return;
    event.preventDefault();
    const next = all[(index + (event.key === 'ArrowDown' ? 1 : all.length - 1)) % all.length];
    next?.focus();
    if (next?.dataset.nav) chosen(next.dataset.nav);
  });

  const dot = h('span', { class: 'dot', 'aria-hidden': 'true' });
  const label = h('span', { class: 'proxy-label' }, 'Connecting…');
  const address = h('span', { class: 'proxy-address' });
  const footer = h(
    'div',
    { class: 'sidebar-status', role: 'status' },
    dot,
    h('span', { class: 'proxy-text' }, label, address),
  );

  const element = h(
    'nav',
    { class: 'sidebar', 'aria-label': 'Settings' },
    h(
      'div',
      { class: 'brand' },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true' }),
      'Keygate',
    ),
    list,
    footer,
  );

  return {
    element,
    select(id) {
      for (const [key, button] of buttons) {
        if (key === id) button.setAttribute('aria-current', 'page');
        else button.removeAttribute('aria-current');
      }
    },
    status(status, problem) {
      dot.className = 'dot';
      address.textContent = '';
      if (problem !== undefined || status === undefined) {
        dot.classList.add('error');
        label.textContent = problem ?? 'Not reachable';
        return;
      }
      if (status.running) {
        dot.classList.add(status.lastError ? 'warning' : 'on');
        label.textContent = 'Proxy on';
        address.textContent = status.address?.replace(/^http:\/\//, '') ?? '';
      } else {
        dot.classList.add('off');
        label.textContent = 'Proxy off';
      }
    },
  };
}
