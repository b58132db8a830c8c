/**
 * 1Password: connect with a service-account token (pasted, checked against 1Password, stored
 * encrypted by the engine) or the 1Password app; see what is connected; disconnect.
 * The token input is cleared as soon as it is sent, and never shown back.
 */
import type { OnePasswordAccountStatus, TokenStatus } from '../../shared/api.js';
import {
  busy,
  confirmButton,
  field,
  group,
  h,
  hideMessage,
  row,
  showMessage,
  sectionHeader,
} from '../dom.js';
import { errorText } from '../errors.js';
import { dateTime, plural } from '../format.js';
import type { Section, SectionContext } from '../section.js';

export function createOnePasswordSection(ctx: SectionContext): Section {
  const statusBox = h('div', { class: 'group-box', 'aria-live': 'polite' });
  const message = h('p', { class: 'section-message', 'aria-live': 'polite' });
  message.hidden = true;
  let status: TokenStatus | undefined;

  // Service-account token.
  const tokenInput = h('input', {
    type: 'password',
    name: 'op-token',
    placeholder: 'ops_…',
    autocomplete: 'off',
    spellcheck: 'false',
    class: 'mono',
  });
  const tokenField = field(
    'Service account token',
    tokenInput,
    'From 1Password.com → Developer → Service Accounts. Checked with 1Password, then stored encrypted; it is never shown again.',
  );
  const connectButton = h('button', { type: 'submit', class: 'button primary' }, 'Connect');
  const tokenForm = h(
    'form',
    { class: 'inline-form', novalidate: true, 'aria-label': 'Connect a service account' },
    tokenField.element,
    h('div', { class: 'form-actions' }, connectButton),
  );
  tokenForm.addEventListener('submit', (event) => {
    event.preventDefault();
    hideMessage(tokenField.message);
    hideMessage(message);
    const token = tokenInput.value;
    // SECRET: the field is emptied before the request goes out; the value lives only in the call.
    tokenInput.value = '';
    void busy(
      connectButton,
      async () => {
        status = await ctx.api['token.set']({ token });
        renderStatus();
        ctx.changed('onepassword');
        showMessage(
          tokenField.message,
          'ok',
          `Connected: ${plural(status.vaultCount ?? 0, 'vault')} visible.`,
        );
      },
      (err) => {
        tokenInput.setAttribute('aria-invalid', 'true');
        showMessage(tokenField.message, 'error', errorText(err));
        tokenInput.focus();
      },
    );
  });
  tokenInput.addEventListener('input', () => tokenInput.removeAttribute('aria-invalid'));

  // Desktop app.
  const accountInput = h('input', {
    type: 'text',
    name: 'op-account',
    placeholder: 'my.1password.com or your account name',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const accountField = field(
    'Account',
    accountInput,
    'Uses the 1Password app’s integration (macOS; approve with Touch ID). No token is stored.',
  );
  const desktopButton = h('button', { type: 'submit', class: 'button' }, 'Use the 1Password App');
  const desktopForm = h(
    'form',
    { class: 'inline-form', novalidate: true, 'aria-label': 'Use the 1Password app' },
    accountField.element,
    h('div', { class: 'form-actions' }, desktopButton),
  );
  desktopForm.addEventListener('submit', (event) => {
    event.preventDefault();
    hideMessage(accountField.message);
    void busy(
      desktopButton,
      async () => {
        status = await ctx.api['token.useDesktop']({ accountName: accountInput.value });
        renderStatus();
        ctx.changed('onepassword');
        showMessage(
          accountField.message,
          'ok',
          'The 1Password app will be asked when a key is needed.',
        );
      },
      (err) => showMessage(accountField.message, 'error', errorText(err)),
    );
  });

  const disconnect = confirmButton(
    'Disconnect',
    'Confirm Disconnect',
    async () => {
      hideMessage(message);
      status = await ctx.api['token.clear']();
      renderStatus();
      ctx.changed('onepassword');
      showMessage(message, 'ok', 'Disconnected. The stored token was deleted.');
    },
    (err) => showMessage(message, 'error', errorText(err)),
  );

  function accountRows(account: OnePasswordAccountStatus): HTMLElement[] {
    const label =
      account.mode === 'desktop' ? `1Password app (${account.account})` : 'Service account';
    const state = account.lastError
      ? h('span', { class: 'badge error', title: account.lastError }, 'Error')
      : account.connected
        ? h('span', { class: 'badge ok' }, 'OK')
        : h('span', { class: 'badge neutral' }, 'Not used yet');
    return [
      row(
        label,
        state,
        account.lastError ? h('span', { class: 'detail error-text' }, account.lastError) : null,
      ),
      row(
        'Reads this hour',
        h('span', { class: 'reads' }, `${account.readsThisHour} of ${account.hourlyLimit}`),
        account.lastSuccessAt
          ? h('span', { class: 'detail' }, `last read ${dateTime(account.lastSuccessAt)}`)
          : null,
      ),
    ];
  }

  function renderStatus(): void {
    if (!status) return;
    const rows: HTMLElement[] = [];
    const source =
      status.tokenSource === 'env'
        ? 'Service account token from OP_SERVICE_ACCOUNT_TOKEN'
        : status.tokenSource === 'file'
          ? 'Service account token (stored, encrypted)'
          : status.desktopAccount
            ? `1Password app (${status.desktopAccount})`
            : undefined;
    // An unreadable stored token (problem 'token-store') is removed by Disconnect too.
    const unreadable = status.accounts.some((a) => a.problem === 'token-store');
    const canDisconnect =
      status.tokenSource === 'file' || status.desktopAccount !== undefined || unreadable;
    rows.push(
      row(
        'Connection',
        source
          ? h(
              'span',
              { class: 'status-line' },
              h('span', { class: 'dot on', 'aria-hidden': 'true' }),
              source,
            )
          : h(
              'span',
              { class: 'status-line' },
              h('span', { class: 'dot off', 'aria-hidden': 'true' }),
              'Not connected',
            ),
        canDisconnect ? h('span', { class: 'row-action' }, disconnect) : null,
      ),
    );
    if (status.vaultCount !== undefined) {
      rows.push(
        row('Vaults visible', h('span', { class: 'vault-count' }, String(status.vaultCount))),
      );
    }
    if (status.error && !status.accounts.some((a) => a.lastError === status?.error))
      rows.push(row('Problem', h('span', { class: 'error-text' }, status.error)));
    for (const account of status.accounts) rows.push(...accountRows(account));
    if (status.tokenSource === 'env') {
      rows.push(
        row(
          '',
          h(
            'p',
            { class: 'hint' },
            'This token comes from the environment Keygate was started with; unset OP_SERVICE_ACCOUNT_TOKEN there to disconnect.',
          ),
        ),
      );
    }
    statusBox.replaceChildren(...rows);
  }

  async function refresh(): Promise<void> {
    statusBox.replaceChildren(row('Connection', h('span', { class: 'hint' }, 'Checking…')));
    try {
      status = await ctx.api['token.status']();
      renderStatus();
    } catch (err) {
      statusBox.replaceChildren(
        row('Connection', h('span', { class: 'error-text' }, errorText(err))),
      );
    }
  }

  const element = h(
    'div',
    { class: 'section-body' },
    sectionHeader('1Password', ['Where Keygate reads op:// references from.']),
    message,
    h('section', { class: 'group' }, h('h2', { class: 'group-title' }, 'Status'), statusBox),
    group('Service account', tokenForm),
    group('1Password app', desktopForm),
  );

  return {
    id: 'onepassword',
    title: '1Password',
    element,
    activate: () => void refresh(),
    deactivate: () => undefined,
  };
}
