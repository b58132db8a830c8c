/** The words to show for a failed call: the engine's message, which never holds a secret. */
import { ApiCallError } from '../shared/api-client.js';

export function errorText(err: unknown): string {
  if (err instanceof ApiCallError) {
    if (err.errorName === 'TransportError') return `Keygate did not answer (${err.message}).`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
