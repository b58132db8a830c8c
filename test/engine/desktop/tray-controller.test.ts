/**
 * The tray controller (engine/desktop/tray-controller.ts) in plain Node, with a recording stand-in
 * for Electron's Tray, Menu and images and the real contract handlers of an in-process engine:
 * a held approval gets its menu line, the waiting icon and one notification; its submenu answers
 * it; the status line follows today's tokens.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  startTray,
  type TrayController,
  type TrayShell,
} from '../../../src/engine/desktop/tray-controller.js';
import type { MenuTemplateItem } from '../../../src/engine/desktop/tray-template.js';
import { ApprovalDeniedError } from '../../../src/engine/errors.js';
import { silentLogger } from '../../../src/engine/log/logger.js';
import type { AdmittedRequest } from '../../../src/engine/proxy/request-hooks.js';
import { startEngine, type EngineFixture } from '../../helpers/engine-fixture.js';

interface Recorded {
  icons: string[];
  tooltips: string[];
  menus: MenuTemplateItem[][];
  notes: Array<[string, string]>;
  destroyed: boolean;
}

function recordingShell(): {
  shell: TrayShell<{ file: string; isEmpty(): boolean }, MenuTemplateItem[]>;
  seen: Recorded;
} {
  const seen: Recorded = { icons: [], tooltips: [], menus: [], notes: [], destroyed: false };
  return {
    seen,
    shell: {
      image: (file) => ({ file, isEmpty: () => false }),
      createTray: (image) => {
        seen.icons.push(image.file);
        return {
          setImage: (i) => seen.icons.push(i.file),
          setToolTip: (t) => seen.tooltips.push(t),
          setContextMenu: (m) => seen.menus.push(m),
          isDestroyed: () => seen.destroyed,
          destroy: () => (seen.destroyed = true),
        };
      },
      buildMenu: (template) => template,
    },
  };
}

let fixture: EngineFixture | undefined;
let tray: TrayController | undefined;
afterEach(async () => {
  tray?.destroy();
  await fixture?.stop();
  fixture = tray = undefined;
});

const REQUEST: AdmittedRequest = {
  agent: 'claude',
  mapping: 'api.anthropic.com',
  preset: 'anthropic',
  host: 'api.anthropic.com',
  port: 443,
  method: 'POST',
  path: '/v1/messages',
  shape: 'intercepted',
};

async function setup(
  trust: { state: 'unsupported'; refresh: () => Promise<unknown> } = {
    state: 'unsupported',
    refresh: async () => undefined,
  },
) {
  fixture = await startEngine({
    secrets: {},
    mappings: [{ host: 'api.anthropic.com', ref: 'env://K', preset: 'anthropic' }],
  });
  await fixture.controller.handlers['agents.add']({ name: 'claude', ask: true });
  const engine = fixture.engine;
  const listeners = new Set<() => void>();
  engine.approvals.onChange(() => listeners.forEach((l) => l()));
  const { shell, seen } = recordingShell();
  const ran: string[] = [];
  tray = startTray({
    shell,
    iconFile: (name) => `/icons/${name}.png`,
    host: {
      handlers: fixture.controller.handlers,
      onChange: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    trust,
    loginItem: { enabled: false, needsApproval: false },
    actions: new Proxy({} as Record<string, () => Promise<void>>, {
      get: (_t, action: string) => async () => void ran.push(action),
    }),
    notifier: { notify: (title, body) => seen.notes.push([title, body]) },
    logger: silentLogger,
  });
  await tray.settled();
  /** What the supervisor does on activity and settings changes. */
  const poke = () => listeners.forEach((l) => l());
  return { seen, engine, ran, poke };
}

const lastMenu = (seen: Recorded) => seen.menus.at(-1)!;
const labels = (menu: MenuTemplateItem[]) => menu.map((i) => i.label ?? `(${i.type})`);

describe('the tray controller', () => {
  it('a held request: a menu line with three answers, the waiting icon, one notification; Deny answers it', async () => {
    const { seen, engine, poke } = await setup();
    expect(seen.icons.at(-1)).toBe('/icons/trayTemplate.png');
    expect(labels(lastMenu(seen))).toContain('0 tokens used today');

    const held = Promise.resolve(
      engine.approvals.hooks.beforeSecret!(REQUEST, { signal: new AbortController().signal }),
    ).then(
      () => 'allowed',
      (err: Error) => err,
    );
    await expect.poll(() => seen.icons.at(-1)).toBe('/icons/trayWaitingTemplate.png');
    await tray!.settled();
    const line = lastMenu(seen).find((i) => i.submenu);
    expect(line?.label).toBe('claude wants Anthropic (api.anthropic.com)');
    expect(line?.submenu?.map((s) => s.label)).toEqual(['Allow for 8 hours', 'Always', 'Deny']);
    expect(seen.tooltips.at(-1)).toBe('Keygate — 1 waiting for your approval');
    expect(seen.notes).toEqual([
      ['claude wants Anthropic (api.anthropic.com)', 'Allow or deny it from the Keygate menu.'],
    ]);

    // Another refresh (a minute passes, activity) does not notify again.
    poke();
    await tray!.settled();
    expect(seen.notes).toHaveLength(1);

    line!.submenu!.find((s) => s.label === 'Deny')!.click!();
    expect(await held).toBeInstanceOf(ApprovalDeniedError);
    await expect.poll(() => seen.icons.at(-1)).toBe('/icons/trayTemplate.png');
    await tray!.settled();
    expect(lastMenu(seen).some((i) => i.submenu)).toBe(false);
  });

  it('Allow for 8 hours lets the held request go on; the normal actions still run', async () => {
    const { seen, engine, ran } = await setup();
    const held = Promise.resolve(
      engine.approvals.hooks.beforeSecret!(REQUEST, { signal: new AbortController().signal }),
    ).then(() => 'allowed');
    await expect.poll(() => lastMenu(seen).some((i) => i.submenu)).toBe(true);
    lastMenu(seen)
      .find((i) => i.submenu)!
      .submenu!.find((s) => s.label === 'Allow for 8 hours')!.click!();
    await expect(held).resolves.toBe('allowed');
    lastMenu(seen).find((i) => i.label === 'Open Settings…')!.click!();
    await expect.poll(() => ran).toEqual(['open-settings']);
  });

  it("the status line shows today's tokens as they are counted", async () => {
    const { seen, engine, poke } = await setup();
    engine.usage.add(
      { agent: 'claude', mapping: 'api.anthropic.com', model: 'claude-test' },
      { requests: 1, inputTokens: 1200, outputTokens: 34, cachedTokens: 0 },
    );
    // The next change the engine reports (activity, here) rebuilds the menu with the new total.
    poke();
    await tray!.settled();
    expect(labels(lastMenu(seen))).toContain('1,234 tokens used today');
  });

  it('checks certificate trust once at start, not on each menu rebuild (issue 10 §4)', async () => {
    let checks = 0;
    const { poke } = await setup({
      state: 'unsupported',
      refresh: async () => void checks++,
    });
    // Activity, settings and approvals each rebuild the menu; none may run /usr/bin/security.
    for (let i = 0; i < 5; i++) poke();
    await tray!.settled();
    expect(checks).toBe(1);
  });
});
