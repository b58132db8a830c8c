/**
 * The certificate authority agents must trust: where it is, its fingerprint and expiry. Trusting it
 * system-wide is a macOS app action (login keychain); in a browser this explains the command.
 */
import type { CaInfo } from '../../shared/api.js';
import { callApp, unsupported } from '../app-ops.js';
import { copyText } from '../clipboard.js';
import { button, busy, group, h, present, row, showMessage, sectionHeader } from '../dom.js';
import { errorText } from '../errors.js';
import { date } from '../format.js';
import { shQuote } from '../../shared/shell-quote.js';
import { trustCommandLine } from '../../shared/trust-command-line.js';
import type { Section, SectionContext } from '../section.js';

/** Saves the PEM through the browser's (or Electron's) download: a save dialog, no server route. */
export function savePem(pem: string, filename = 'keygate-ca.pem'): void {
  const url = URL.createObjectURL(new Blob([pem], { type: 'application/x-pem-file' }));
  const link = h('a', { href: url, download: filename });
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its bytes once click() returns; the URL is only kept a moment for safety.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** `AA:BB:…` that may wrap only between pairs. */
function fingerprintCode(fingerprint: string): HTMLElement {
  const code = h('code', { class: 'fingerprint' });
  fingerprint.split(':').forEach((pair, index) => {
    if (index > 0) code.append(':', document.createElement('wbr'));
    code.append(pair);
  });
  return code;
}

export function createCertificateSection(ctx: SectionContext): Section {
  const infoBox = h('div', { class: 'group-box' });
  const trustBox = h('div', { class: 'group-box' });
  const explain = h('section', { class: 'reveal' });
  explain.hidden = true;
  let info: CaInfo | undefined;

  /** A command to copy: the block, and its Copy button and status for the panel's action row. */
  function codeBlock(text: string, label: string): { pre: HTMLElement; actions: HTMLElement[] } {
    const pre = h('pre', { class: 'code', tabindex: 0, 'aria-label': label }, text);
    const status = h('span', { class: 'copy-status', 'aria-live': 'polite' });
    return {
      pre,
      actions: [status, button('Copy', () => void copyText(text, status, pre), 'primary')],
    };
  }

  function showExplanation(kind: 'trust' | 'export'): void {
    if (!info) return;
    const current = info;
    const close = button('Close', () => {
      explain.hidden = true;
      explain.replaceChildren();
    });
    const trust = codeBlock(trustCommandLine(info.certPath), 'Trust command');
    const exported = codeBlock(
      `cp ${shQuote(info.certPath)} ~/Desktop/keygate-ca.pem`,
      'Export command',
    );
    if (kind === 'trust') {
      explain.replaceChildren(
        h('h3', { class: 'form-title' }, 'Trust the certificate on this Mac'),
        h(
          'p',
          { class: 'hint' },
          'Most agents only need the environment from Agents → Copy Setup. To make every app on this Mac trust Keygate (Safari, system tools), run this in Terminal, or use Trust Certificate in the Keygate app:',
        ),
        trust.pre,
        h('div', { class: 'editor-actions' }, trust.actions[0], close, ...trust.actions.slice(1)),
      );
    } else {
      explain.replaceChildren(
        h('h3', { class: 'form-title' }, 'Export the certificate'),
        h(
          'p',
          { class: 'hint' },
          'The certificate is a PEM file (public: it holds no key). Save a copy, or copy it from Terminal. The bundle adds it to the public roots, for tools whose CA setting replaces the system store.',
        ),
        h(
          'div',
          { class: 'button-row' },
          button('Save keygate-ca.pem…', () => savePem(current.pem), 'primary'),
        ),
        exported.pre,
        h(
          'div',
          { class: 'editor-actions' },
          exported.actions[0],
          close,
          ...exported.actions.slice(1),
        ),
      );
    }
    explain.hidden = false;
    explain.querySelector<HTMLButtonElement>('button')?.focus();
  }

  /** Whether the app lets this window trust the CA itself (else: the tray menu, or Terminal). */
  let appTrust = ctx.app;

  function renderTrust(state: { trusted: boolean; detail?: string } | undefined, problem?: string) {
    const trustButton = button(appTrust ? 'Trust Certificate…' : 'Trust…', () => {
      if (!appTrust) {
        showExplanation('trust');
        return;
      }
      void busy(
        trustButton,
        async () => renderTrust(await callApp('ca.trust', {})),
        (err) => renderTrust(state, errorText(err)),
      );
    });
    const exportButton = button('Export…', () => showExplanation('export'));
    const stateText = !appTrust
      ? h(
          'span',
          { class: 'hint' },
          ctx.app
            ? 'Shown in the Keygate menu (menu bar), which also has Trust Certificate.'
            : 'Set in the macOS app, or with the command under Trust…',
        )
      : state === undefined
        ? h('span', { class: 'hint' }, 'Unknown')
        : state.trusted
          ? h('span', { class: 'badge ok' }, 'Trusted')
          : h('span', { class: 'badge warning' }, 'Not trusted');
    trustBox.replaceChildren(
      ...present(
        row(
          'This Mac',
          stateText,
          state?.detail ? h('span', { class: 'detail' }, state.detail) : null,
        ),
        problem ? row('', h('span', { class: 'error-text', role: 'alert' }, problem)) : null,
        row('', h('div', { class: 'button-row' }, exportButton, trustButton)),
      ),
    );
  }

  async function refresh(): Promise<void> {
    try {
      info = await ctx.api['ca.info']();
      const certStatus = h('span', { class: 'copy-status', 'aria-live': 'polite' });
      const current = info;
      infoBox.replaceChildren(
        row(
          'Certificate',
          h('code', { class: 'path' }, current.certPath),
          button('Copy Path', () => void copyText(current.certPath, certStatus), 'plain'),
          certStatus,
        ),
        row('Bundle', h('code', { class: 'path' }, current.bundlePath)),
        row('SHA-256', fingerprintCode(current.fingerprint256)),
        row('Valid until', date(current.notAfter)),
      );
    } catch (err) {
      infoBox.replaceChildren(
        row('Certificate', h('span', { class: 'error-text' }, errorText(err))),
      );
    }
    if (appTrust) {
      try {
        renderTrust(await callApp('ca.trustState', {}));
      } catch (err) {
        if (unsupported(err)) {
          appTrust = false;
          renderTrust(undefined);
        } else renderTrust(undefined, errorText(err));
      }
    } else renderTrust(undefined);
  }

  const message = h('p', { class: 'section-message' });
  message.hidden = true;
  const element = h(
    'div',
    { class: 'section-body' },
    sectionHeader('Certificate', [
      'Keygate’s own certificate authority, created on this machine. Its key never leaves it.',
    ]),
    message,
    group(undefined, infoBox),
    group('Trust', trustBox),
    explain,
  );

  return {
    id: 'certificate',
    title: 'Certificate',
    element,
    activate: () => {
      void refresh().catch((err: unknown) => showMessage(message, 'error', errorText(err)));
    },
    deactivate: () => undefined,
  };
}
