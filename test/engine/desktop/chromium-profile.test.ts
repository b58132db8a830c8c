import { describe, expect, it } from 'vitest';
import {
  chromiumProfileDir,
  ProfileInsideHomeError,
} from '../../../src/engine/desktop/chromium-profile.js';

describe('the Chromium profile folder', () => {
  const appData = '/Users/ada/Library/Application Support';

  it('sits beside the Keygate home, never in it', () => {
    expect(chromiumProfileDir(appData, `${appData}/Keygate`)).toBe(`${appData}/Keygate Chromium`);
  });

  it('is refused when the home would contain it', () => {
    expect(() => chromiumProfileDir(appData, appData)).toThrow(ProfileInsideHomeError);
    expect(() => chromiumProfileDir(appData, '/Users/ada')).toThrow(/inside the Keygate home/);
  });
});
