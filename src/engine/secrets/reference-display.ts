/**
 * What an error may show of a secret reference that did not parse: its scheme, never what follows
 * it (issue 9 §5). Someone who pastes a key where a reference belongs (`env://sk-live-…`,
 * `op://sk-…`) must not see it repeated by the CLI, the UI, a log line, activity, or the 502 an
 * agent gets. A reference that parses is the user's own configuration and is shown as it is.
 */
const SCHEME = /^([a-z][a-z0-9+.-]{0,31}):\/\//i;

/** `env://…` for `env://sk-live-123`; a note, and nothing of the text, when there is no scheme. */
export function refForError(ref: string): string {
  const scheme = SCHEME.exec(ref)?.[1];
  return scheme === undefined
    ? '(not shown: it has no scheme://, so it may be a key)'
    : `${scheme.toLowerCase()}://…`;
}

/**
 * `text` with what follows the scheme in `ref` taken out, for a message written by someone else
 * (the 1Password SDK's parse errors) that might quote it: the whole body, and each of its parts
 * long enough to be a key's.
 */
export function withoutRefBody(text: string, ref: string): string {
  const body = ref.replace(SCHEME, '');
  // Path segments, and the values (not the names) of query parameters.
  const segments = body.split(/[/?&]/).map((part) => part.slice(part.indexOf('=') + 1));
  const parts = [body, ...segments].filter((part) => part.length >= 6);
  let out = text;
  for (const part of parts.sort((a, b) => b.length - a.length)) out = out.split(part).join('…');
  return out;
}
