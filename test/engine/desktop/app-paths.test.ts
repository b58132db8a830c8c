import { describe, expect, it } from 'vitest';
import type { AgentEnv } from '../../../src/shared/api.js';
import { agentSetupText } from '../../../src/engine/desktop/agent-setup.js';
import { appPaths } from '../../../src/engine/desktop/app-paths.js';

describe('appPaths', () => {
  it('packaged: dist inside app.asar, tray icons in Contents/Resources/tray', () => {
    const resources = '/Applications/Keygate.app/Contents/Resources';
    const paths = appPaths({
      mainDir: `${resources}/app.asar/dist/main`,
      isPackaged: true,
      resourcesPath: resources,
    });
    expect(paths.settingsHtml).toBe(`${resources}/app.asar/dist/renderer/index.html`);
    expect(paths.settingsUrl).toBe(`file://${resources}/app.asar/dist/renderer/index.html`);
    expect(paths.rendererRoot).toBe(`${resources}/app.asar/dist/renderer`);
    expect(paths.preload).toBe(`${resources}/app.asar/dist/preload/preload.cjs`);
    expect(paths.trayIcon('trayTemplate')).toBe(`${resources}/tray/trayTemplate.png`);
  });

  it('development: the repository, icons straight from build/', () => {
    const paths = appPaths({
      mainDir: '/src/keygate/dist/main',
      isPackaged: false,
      resourcesPath: '/src/keygate/node_modules/electron/dist/Electron.app/Contents/Resources',
    });
    expect(paths.settingsHtml).toBe('/src/keygate/dist/renderer/index.html');
    expect(paths.trayIcon('trayErrorTemplate')).toBe('/src/keygate/build/trayErrorTemplate.png');
  });

  it('percent-encodes the settings URL (paths with spaces)', () => {
    const paths = appPaths({
      mainDir: '/Users/ada/My Apps/Keygate/dist/main',
      isPackaged: false,
      resourcesPath: '/x',
    });
    expect(paths.settingsUrl).toBe('file:///Users/ada/My%20Apps/Keygate/dist/renderer/index.html');
  });
});

describe('agentSetupText', () => {
  const env: AgentEnv = {
    agent: 'default',
    variables: [
      { name: 'HTTPS_PROXY', value: "http://default:t'k@127.0.0.1:8790" },
      { name: 'NODE_USE_ENV_PROXY', value: '1' },
    ],
    managed: [],
  };

  it('writes POSIX sh lines by default, like `keygate env`', () => {
    expect(agentSetupText(env, '/bin/zsh')).toBe(
      "export HTTPS_PROXY='http://default:t'\\''k@127.0.0.1:8790'\nexport NODE_USE_ENV_PROXY='1'\n",
    );
    expect(agentSetupText(env, undefined)).toMatch(/^export /);
  });

  it('writes fish syntax for a fish login shell', () => {
    expect(agentSetupText(env, '/opt/homebrew/bin/fish')).toMatch(/^set -gx HTTPS_PROXY /);
    expect(agentSetupText(env, '/usr/local/bin/notfish')).toMatch(/^export /);
  });
});
