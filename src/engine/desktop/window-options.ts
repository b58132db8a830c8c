/**
 * The settings window's options. The renderer shows and edits mappings and agent tokens, so it
 * gets no Node, no access to the preload's world, Chromium's sandbox, and web security on; the
 * preload's contract facade is its only way out. The shape is written out here (no electron
 * types in the engine); settings-window.ts hands it to BrowserWindow, where the shell's
 * type-check against electron.d.ts proves it fits.
 */
export interface SettingsWindowOptions {
  readonly width: number;
  readonly height: number;
  readonly minWidth: number;
  readonly minHeight: number;
  readonly title: string;
  readonly show: boolean;
  readonly titleBarStyle: 'default';
  readonly fullscreenable: boolean;
  readonly webPreferences: {
    readonly preload: string;
    readonly partition: string;
    readonly contextIsolation: boolean;
    readonly sandbox: boolean;
    readonly nodeIntegration: boolean;
    readonly nodeIntegrationInWorker: boolean;
    readonly nodeIntegrationInSubFrames: boolean;
    readonly webSecurity: boolean;
    readonly allowRunningInsecureContent: boolean;
    readonly webviewTag: boolean;
    readonly experimentalFeatures: boolean;
    readonly navigateOnDragDrop: boolean;
    readonly spellcheck: boolean;
    readonly devTools: boolean;
  };
}

/** A session of its own: in memory, shared with nothing else, with its own file handler. */
export const SETTINGS_PARTITION = 'keygate-settings';

export function settingsWindowOptions(preloadPath: string): SettingsWindowOptions {
  return {
    width: 880,
    height: 640,
    minWidth: 640,
    minHeight: 480,
    title: 'Keygate Settings',
    // Shown on 'ready-to-show', so the window never flashes white before the UI paints.
    show: false,
    // The native title bar: the renderer draws no drag region and reserves no space for the
    // traffic lights, and the same page works unchanged in a browser (`serve --ui`).
    titleBarStyle: 'default',
    // Not a document window: no full screen, and closing it just hides the UI.
    fullscreenable: false,
    webPreferences: {
      preload: preloadPath,
      partition: SETTINGS_PARTITION,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      // No devtools in a packaged build: they would show tokens the UI just displayed.
      devTools: false,
    },
  };
}

/** Devtools stay available while developing (`npm run app`), never in the shipped app. */
export function withDevTools(
  options: SettingsWindowOptions,
  isPackaged: boolean,
): SettingsWindowOptions {
  if (isPackaged) return options;
  return { ...options, webPreferences: { ...options.webPreferences, devTools: true } };
}
