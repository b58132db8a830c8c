/**
 * General: the proxy's state, the Proxy Enabled switch, the port and the unmapped-host policy
 * (both saved to settings), a doctor run, and, in the app only, Launch at Login.
 */
import type { DoctorCheck, ProxyStatus } from '../../shared/api.js';
import { callApp, unsupported } from '../app-ops.js';
import { busy, button, group, h, present, row, showMessage, sectionHeader } from '../dom.js';
import { errorText } from '../errors.js';
import { portDetail } from '../format.js';
import type { Section, SectionContext } from '../section.js';

function toggle(name: string, label: string): HTMLInputElement {
  return h('input', {
    type: 'checkbox',
    role: 'switch',
    class: 'switch',
    name,
    'aria-label': label,
  });
}

export function createGeneralSection(ctx: SectionContext): Section {
  const message = h('p', { class: 'section-message', 'aria-live': 'polite' });
  message.hidden = true;
  const proxyBox = h('div', { class: 'group-box' });
  const enabled = toggle('proxy-enabled', 'Proxy enabled');
  /**
   * A switch that saves on change: disabled while saving, flipped back (with the reason shown)
   * when the save fails.
   */
  function onSwitch(input: HTMLInputElement, save: (want: boolean) => Promise<void>): void {
    input.addEventListener('change', () => {
      const want = input.checked;
      input.disabled = true;
      save(want)
        .catch((err: unknown) => {
          input.checked = !want;
          showMessage(message, 'error', errorText(err));
        })
        .finally(() => {
          input.disabled = false;
        });
    });
  }

  onSwitch(enabled, async (want) => {
    render(await ctx.api['proxy.setEnabled']({ enabled: want }));
    ctx.changed('proxy');
  });

  const portInput = h('input', {
    type: 'number',
    name: 'proxy-port',
    min: '1024',
    max: '65535',
    'aria-label': 'Port',
    class: 'port-input',
  });
  const savePort = button('Save Port', () => {
    const want = Number(portInput.value);
    void busy(
      savePort,
      async () => {
        const status = await ctx.api['proxy.configure']({ port: want });
        render(status);
        ctx.changed('proxy');
        showMessage(
          message,
          'ok',
          `Port ${want} saved. Agents set up earlier need their proxy URL again (keygate env).`,
        );
      },
      (err) => showMessage(message, 'error', errorText(err)),
    );
  });
  const denyUnmapped = toggle('deny-unmapped', 'Deny unmapped hosts');
  onSwitch(denyUnmapped, async (want) => {
    const status = await ctx.api['proxy.configure']({ denyUnmapped: want });
    render(status);
    ctx.changed('proxy');
    if (status.denyUnmapped !== want) {
      showMessage(
        message,
        'error',
        'Saved, but keygate serve --deny-unmapped keeps unmapped hosts denied while it runs.',
      );
    }
  });

  const loginBox = h('div', { class: 'group-box' });
  const launchAtLogin = toggle('launch-at-login', 'Launch at login');
  onSwitch(launchAtLogin, async (want) => {
    launchAtLogin.checked = (await callApp('app.launchAtLogin', { enabled: want })).enabled;
  });
  loginBox.append(row('Launch at login', h('label', { class: 'switch-label' }, launchAtLogin)));

  const doctorList = h('ul', { class: 'checks' });
  const doctorButton = button('Run Checks', () => {
    void busy(
      doctorButton,
      async () => renderChecks(await ctx.api['doctor.run']()),
      (err) => showMessage(message, 'error', errorText(err)),
    );
  });

  function renderChecks(checks: readonly DoctorCheck[]): void {
    doctorList.replaceChildren(
      ...checks.map((check) =>
        h(
          'li',
          { class: check.ok ? 'check ok' : 'check failed' },
          h('span', { class: check.ok ? 'badge ok' : 'badge error' }, check.ok ? 'OK' : 'Problem'),
          h('span', { class: 'check-name' }, check.name),
          h('span', { class: 'check-detail' }, check.detail),
        ),
      ),
    );
  }

  function render(status: ProxyStatus): void {
    enabled.checked = status.running;
    denyUnmapped.checked = status.denyUnmapped;
    // Not while the user is typing a new one.
    if (document.activeElement !== portInput) portInput.value = String(status.port);
    proxyBox.replaceChildren(
      ...present(
        row(
          'Proxy enabled',
          h('label', { class: 'switch-label' }, enabled),
          h(
            'span',
            { class: 'detail' },
            status.running ? `Listening on ${status.address ?? ''}` : 'Off: agents cannot connect',
          ),
        ),
        row(
          'Port',
          h('span', { class: 'port-form' }, portInput, savePort),
          h('span', { class: 'detail port' }, portDetail(status)),
        ),
        row(
          'Deny unmapped hosts',
          h('label', { class: 'switch-label' }, denyUnmapped),
          h(
            'span',
            { class: 'detail' },
            status.denyUnmapped
              ? 'Hosts without a mapping get 403'
              : 'Hosts without a mapping are tunneled untouched',
          ),
        ),
        row('Injected today', String(status.injectedToday)),
        row('Mappings', String(status.mappings)),
        row('Agents', String(status.agents)),
        status.lastError
          ? row('Last error', h('span', { class: 'error-text' }, status.lastError))
          : null,
      ),
    );
  }

  async function refresh(): Promise<void> {
    try {
      render(await ctx.api['proxy.status']());
    } catch (err) {
      showMessage(message, 'error', errorText(err));
    }
    if (ctx.app) {
      try {
        launchAtLogin.checked = (await callApp('app.launchAtLogin', {})).enabled;
      } catch (err) {
        if (unsupported(err)) {
          loginBox.replaceChildren(
            row('Launch at login', h('span', { class: 'hint' }, 'In the Keygate menu (menu bar).')),
          );
        } else {
          launchAtLogin.disabled = true;
          showMessage(message, 'error', errorText(err));
        }
      }
    }
  }

  const element = h(
    'div',
    { class: 'section-body' },
    sectionHeader('General', ['The proxy agents connect to.']),
    message,
    group('Proxy', proxyBox),
    ctx.app ? group('App', loginBox) : null,
    group(
      'Checks',
      h(
        'div',
        { class: 'checks-box' },
        h(
          'div',
          { class: 'checks-intro' },
          h(
            'p',
            { class: 'hint' },
            'What ',
            h('code', {}, 'keygate doctor'),
            ' checks: the port, the certificate, 1Password, and every mapping’s reference.',
          ),
          doctorButton,
        ),
        doctorList,
      ),
    ),
  );

  return {
    id: 'general',
    title: 'General',
    element,
    activate: () => void refresh(),
    deactivate: () => undefined,
    invalidate: (what) => {
      if (what === 'proxy' || what === 'mappings' || what === 'agents') void refresh();
    },
  };
}
