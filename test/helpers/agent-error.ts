/**
 * Reads a Keygate error body in either of its forms (docs/security.md, "Errors the agent sees"):
 * JSON `{"error": {"type", "code", "message"}, "message"}` for clients that asked for JSON, or
 * the one `text/plain` line `Keygate: MESSAGE (keygate_CODE)` for everyone else.
 */
export interface AgentError {
  /** The wire code, `keygate_<code>`. */
  error: string;
  message: string;
}

export function parseAgentError(body: string | undefined): AgentError | undefined {
  if (body === undefined) return undefined;
  const text = /^Keygate: (.*) \((keygate_[a-z_]+)\)\n$/s.exec(body);
  if (text?.[1] !== undefined && text[2] !== undefined) return { error: text[2], message: text[1] };
  try {
    const parsed = JSON.parse(body) as {
      error?: { type?: unknown; code?: unknown; message?: unknown };
      message?: unknown;
    };
    const { error, message } = parsed;
    if (
      error?.type === 'keygate_error' &&
      typeof error.code === 'string' &&
      typeof error.message === 'string' &&
      message === error.message
    )
      return { error: error.code, message: error.message };
    return undefined;
  } catch {
    return undefined;
  }
}
