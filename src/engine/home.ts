/**
 * Where Keygate keeps its state. The app and `keygate serve` share one home, so a mapping added
 * in either shows up in both.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultHome(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (env.KEYGATE_HOME) return env.KEYGATE_HOME;
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Keygate');
  const config = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(config, 'keygate');
}

export interface HomePaths {
  readonly home: string;
  readonly settings: string;
  readonly caDir: string;
  readonly caCert: string;
  /** Public roots plus the Keygate CA, for the variables that *replace* a client's trust store. */
  readonly caBundle: string;
}

export function homePaths(home: string): HomePaths {
  return {
    home,
    settings: join(home, 'settings.json'),
    caDir: join(home, 'ca'),
    caCert: join(home, 'ca', 'ca.pem'),
    caBundle: join(home, 'ca', 'ca-bundle.pem'),
  };
}
