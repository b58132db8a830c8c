/** What the agent preload leaves on `globalThis`, so Keygate's own processes can undo it. */
export const PRELOAD_HANDLE = Symbol.for('keygate.agentPreload');

export interface PreloadHandle {
  /** Puts back a direct (unproxied) global dispatcher. */
  undo(): void;
}
