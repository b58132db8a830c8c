/**
 * The text "Copy Agent Setup" puts on the clipboard: the same lines as `keygate env`, in the
 * syntax of the user's login shell (fish or POSIX sh). Pure.
 */
import type { AgentEnv } from '../../shared/api.js';
import { renderEnv } from '../agent-env.js';

export function agentSetupText(env: AgentEnv, shellPath: string | undefined): string {
  const shell = /(^|\/)fish$/.test(shellPath ?? '') ? 'fish' : 'sh';
  return `${renderEnv(env, shell)}\n`;
}
