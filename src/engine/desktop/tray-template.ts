/**
 * The tray's inputs and outputs that need no Electron: the state read from the supervisor, and
 * the menu descriptors of tray-menu-model.ts turned into Menu.buildFromTemplate's items (a
 * structural subset of electron's MenuItemConstructorOptions; src/main/tray.ts passes them on,
 * type-checked there against electron.d.ts).
 */
import type { ApiHandlers, ApprovalDecision, PendingApprovalView } from '../../shared/api.js';
import { InvalidInputError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { TrayAction, TrayMenuItem, TrayState } from './tray-menu-model.js';

export interface MenuTemplateItem {
  readonly type?: 'separator' | 'checkbox';
  readonly label?: string;
  readonly enabled?: boolean;
  readonly checked?: boolean;
  readonly accelerator?: string;
  readonly click?: () => void;
  readonly submenu?: MenuTemplateItem[];
}

export type DecideApproval = (id: string, decision: ApprovalDecision) => void;

export function menuTemplate(
  item: TrayMenuItem,
  run: (a: TrayAction) => void,
  decide: DecideApproval = () => undefined,
): MenuTemplateItem {
  switch (item.type) {
    case 'separator':
      return { type: 'separator' };
    case 'status':
      return { label: item.label, enabled: false };
    case 'normal':
      return {
        label: item.label,
        enabled: item.enabled,
        ...(item.accelerator ? { accelerator: item.accelerator } : {}),
        click: () => run(item.action),
      };
    case 'checkbox':
      return {
        type: 'checkbox',
        label: item.label,
        checked: item.checked,
        enabled: item.enabled,
        click: () => run(item.action),
      };
    case 'approval':
      return {
        label: item.label,
        submenu: item.choices.map((choice) => ({
          label: choice.label,
          click: () => decide(item.id, choice.decision),
        })),
      };
  }
}

export interface TrayStateSources {
  readonly host: {
    readonly handlers: Pick<ApiHandlers, 'proxy.status'> &
      Partial<Pick<ApiHandlers, 'approvals.list'>>;
    readonly problem?: string;
  };
  readonly trust: { readonly state: TrayState['trust'] };
  readonly loginItem: { readonly enabled: boolean; readonly needsApproval: boolean };
  readonly logger: Logger;
}

export async function readTrayState(sources: TrayStateSources): Promise<TrayState> {
  const { host, trust, loginItem, logger } = sources;
  let proxy: TrayState['proxy'];
  try {
    proxy = await host.handlers['proxy.status']();
  } catch (err) {
    logger.warn('could not read the proxy status', { err });
  }
  let approvals: PendingApprovalView[] = [];
  try {
    approvals = (await host.handlers['approvals.list']?.()) ?? [];
  } catch (err) {
    // Without an engine (it could not start) nothing can be held: no approvals, said elsewhere.
    if (!(err instanceof InvalidInputError))
      logger.warn('could not read the pending approvals', { err });
  }
  const problem = host.problem;
  return {
    proxy,
    approvals,
    ...(problem ? { hostError: problem } : {}),
    trust: trust.state,
    launchAtLogin: loginItem.enabled,
    launchAtLoginNeedsApproval: loginItem.needsApproval,
  };
}
