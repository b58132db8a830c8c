/**
 * Agents: each has its own proxy token. Create one (its token is shown once, to copy), revoke one,
 * and copy an agent's setup: the `keygate env` lines for a POSIX shell.
 */
import type { AgentView } from '../../shared/api.js';
import {
  button,
  busy,
  confirmButton,
  field,
  h,
  hideMessage,
  showMessage,
  sectionHeader,
} from '../dom.js';
import { errorText } from '../errors.js';
import { date, shLines } from '../format.js';
import type { Section, SectionContext } from '../section.js';
import { copyText } from '../clipboard.js';
import { limitsCell } from './agent-limits.js';

export function createAgentsSection(ctx: SectionContext): Section {
  let agents: AgentView[] = [];
  const message = h('p', { class: 'section-message', 'aria-live': 'polite' });
  message.hidden = true;
  const onError = (err: unknown) => showMessage(message, 'error', errorText(err));

  // Create.
  const nameInput = h('input', {
    type: 'text',
    name: 'agent-name',
    placeholder: 'claude-code',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
  });
  const hostsInput = h('input', {
    type: 'text',
    name: 'agent-hosts',
    placeholder: 'api.anthropic.com, api.openai.com (optional: every mapping)',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  // Made here, an agent asks by default: the person is at the screen to answer (issue 13).
  const askInput = h('input', {
    type: 'checkbox',
    class: 'switch',
    name: 'agent-ask',
    checked: true,
  });
  const askField = h(
    'label',
    { class: 'switch-label ask-field' },
    askInput,
    'Ask me before its first use of each key',
  );
  const nameField = field('Name', nameInput);
  const hostsField = field('Hosts', hostsInput, 'Limit this agent to these mapped hosts.');
  const createButton = h('button', { type: 'submit', class: 'button primary' }, 'Create Agent');
  const createForm = h(
    'form',
    { class: 'editor', novalidate: true, 'aria-label': 'New agent' },
    h('h3', { class: 'form-title' }, 'New agent'),
    h('div', { class: 'editor-grid two' }, nameField.element, hostsField.element),
    askField,
    h(
      'div',
      { class: 'editor-actions' },
      button('Cancel', () => closeCreate()),
      createButton,
    ),
  );
  createForm.hidden = true;

  // The token, once.
  const tokenPanel = h('section', { class: 'reveal', 'aria-live': 'polite' });
  tokenPanel.hidden = true;

  // Setup lines.
  const setupPanel = h('section', { class: 'reveal' });
  setupPanel.hidden = true;

  function closeCreate(): void {
    createForm.hidden = true;
    hideMessage(nameField.message);
    addButton.focus();
  }

  createForm.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      closeCreate();
    }
  });
  createForm.addEventListener('submit', (event) => {
    event.preventDefault();
    hideMessage(nameField.message);
    const hosts = hostsInput.value
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    void busy(
      createButton,
      async () => {
        const created = await ctx.api['agents.add']({
          name: nameInput.value.trim(),
          ...(hosts.length > 0 ? { hosts } : {}),
          ask: askInput.checked,
        });
        createForm.hidden = true;
        nameInput.value = '';
        hostsInput.value = '';
        askInput.checked = true;
        showToken(created.agent.name, created.token);
        await refresh();
        ctx.changed('agents');
      },
      (err) => {
        showMessage(nameField.message, 'error', errorText(err));
        nameInput.focus();
      },
    );
  });

  function showToken(name: string, token: string): void {
    const value = h('input', {
      type: 'text',
      readonly: true,
      class: 'mono token-value',
      'aria-label': `Proxy token for ${name}`,
      value: token,
    });
    const status = h('span', { class: 'copy-status', 'aria-live': 'polite' });
    const done = button('Done', () => {
      tokenPanel.hidden = true;
      tokenPanel.replaceChildren();
    });
    tokenPanel.replaceChildren(
      h('h3', { class: 'form-title' }, `Agent “${name}” created`),
      h(
        'p',
        { class: 'hint' },
        'This is its proxy token. It is shown only now; “Copy Setup” includes it whenever you need it again.',
      ),
      h(
        'div',
        { class: 'copy-row' },
        value,
        button('Copy', () => void copyText(token, status, value), 'primary'),
        status,
      ),
      h('div', { class: 'editor-actions' }, done),
    );
    tokenPanel.hidden = false;
    tokenPanel.dataset.agent = name;
    value.focus();
    value.select();
  }

  async function showSetup(agent: AgentView, trigger: HTMLButtonElement): Promise<void> {
    await busy(
      trigger,
      async () => {
        const env = await ctx.api['agents.env']({ name: agent.name });
        const lines = shLines(env.variables);
        const pre = h(
          'pre',
          { class: 'code', tabindex: 0, 'aria-label': `Setup for ${agent.name}` },
          lines,
        );
        const status = h('span', { class: 'copy-status', 'aria-live': 'polite' });
        setupPanel.replaceChildren(
          h('h3', { class: 'form-title' }, `Setup for “${agent.name}”`),
          h(
            'p',
            { class: 'hint' },
            'Paste into a shell (sh, bash, zsh) before starting the agent, or start it with ',
            h('code', {}, `keygate run --agent ${agent.name} -- CMD`),
            '.',
          ),
          pre,
          h(
            'div',
            { class: 'editor-actions' },
            status,
            button('Close', () => {
              setupPanel.hidden = true;
              setupPanel.replaceChildren();
            }),
            button('Copy', () => void copyText(lines, status, pre), 'primary'),
          ),
        );
        setupPanel.hidden = false;
        setupPanel.dataset.agent = agent.name;
        await copyText(lines, status, pre);
      },
      onError,
    );
  }

  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'table' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col' }, 'Hosts'),
        h('th', { scope: 'col' }, 'Asks'),
        h('th', { scope: 'col' }, 'Limits'),
        h('th', { scope: 'col' }, 'Created'),
        h(
          'th',
          { scope: 'col', class: 'actions-col' },
          h('span', { class: 'visually-hidden' }, 'Actions'),
        ),
      ),
    ),
    tbody,
  );
  const empty = h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, 'No agents yet'));

  function render(): void {
    tbody.replaceChildren(
      ...agents.map((agent) => {
        const setup = h(
          'button',
          { type: 'button', class: 'button small', 'data-action': 'setup' },
          'Copy Setup',
        );
        setup.addEventListener('click', () => void showSetup(agent, setup));
        const revoke = confirmButton(
          'Revoke',
          'Confirm Revoke',
          async () => {
            hideMessage(message);
            await ctx.api['agents.remove']({ name: agent.name });
            for (const panel of [setupPanel, tokenPanel]) {
              if (panel.dataset.agent === agent.name) {
                panel.hidden = true;
                panel.replaceChildren();
              }
            }
            await refresh();
            ctx.changed('agents');
            showMessage(message, 'ok', `Revoked ${agent.name}: its token no longer works.`);
          },
          onError,
        );
        revoke.classList.add('small');
        revoke.dataset.action = 'revoke';
        const asks = h('input', {
          type: 'checkbox',
          class: 'switch',
          checked: agent.ask === true,
          'aria-label': `Ask before ${agent.name} first uses each key`,
          'data-action': 'ask',
        });
        asks.addEventListener('change', () => {
          hideMessage(message);
          ctx.api['agents.set']({ name: agent.name, ask: asks.checked }).then(
            () => refresh(),
            (err: unknown) => {
              asks.checked = !asks.checked;
              onError(err);
            },
          );
        });
        return h(
          'tr',
          { 'data-name': agent.name },
          h('td', {}, h('span', { class: 'host' }, agent.name)),
          h(
            'td',
            {},
            agent.hosts?.length
              ? agent.hosts.join(', ')
              : h('span', { class: 'hint' }, 'every mapping'),
          ),
          h('td', {}, asks),
          h(
            'td',
            {},
            limitsCell(
              agent,
              async (limits) => {
                hideMessage(message);
                await ctx.api['agents.set']({ name: agent.name, ...limits });
                await refresh();
                showMessage(message, 'ok', `Saved ${agent.name}'s limits.`);
              },
              onError,
            ),
          ),
          h('td', {}, date(agent.createdAt)),
          h('td', { class: 'actions' }, setup, revoke),
        );
      }),
    );
    table.hidden = agents.length === 0;
    empty.hidden = agents.length > 0;
  }

  async function refresh(): Promise<void> {
    try {
      agents = await ctx.api['agents.list']();
      render();
    } catch (err) {
      onError(err);
    }
  }

  const addButton = button('New Agent…', () => {
    createForm.hidden = false;
    nameInput.focus();
  });

  const element = h(
    'div',
    { class: 'section-body' },
    sectionHeader(
      'Agents',
      ['Each agent gets its own proxy token; revoke one without touching the others.'],
      [addButton],
    ),
    message,
    createForm,
    tokenPanel,
    setupPanel,
    h('div', { class: 'group-box table-box' }, table, empty),
  );

  return {
    id: 'agents',
    title: 'Agents',
    element,
    activate: () => void refresh(),
    deactivate: () => undefined,
    invalidate: (what) => {
      if (what === 'agents') void refresh();
    },
  };
}
