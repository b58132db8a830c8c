/**
 * Which requests the settings window's session lets through: file: URLs inside the renderer
 * folder, and nothing else (no network: the contract goes through the preload; no other files:
 * not ~/.ssh, not the Keygate home). Pure; settings-window.ts applies it with webRequest.
 */
import { isAbsolute, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The file a file: URL names, if it lies inside `rendererRoot` (an absolute folder); undefined
 * for anything outside it, for other schemes, and for file URLs with a host.
 */
export function rendererFileFor(requestUrl: string, rendererRoot: string): string | undefined {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'file:' || url.host !== '') return undefined;
  let path: string;
  try {
    // Throws on an encoded "/" (%2F), which is never a legitimate renderer file.
    path = fileURLToPath(url);
  } catch {
    return undefined;
  }
  const rel = relative(rendererRoot, path);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return path;
}

/** May the settings session load this URL? Inline data: images, and devtools in development. */
export function isAllowedRequest(url: string, rendererRoot: string, isPackaged: boolean): boolean {
  if (url.startsWith('data:')) return true;
  if (!isPackaged && url.startsWith('devtools://')) return true;
  return rendererFileFor(url, rendererRoot) !== undefined;
}
