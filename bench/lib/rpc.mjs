/**
 * A tiny request/response protocol over the fork() IPC channel, so the bench can ask a child
 * for its event-loop histogram or resolver stats without touching its sockets.
 */

/** In a child: answer `{ rpc, method, args }` messages with `handlers[method](args)`. */
export function serveRpc(handlers) {
  const all = {
    gc: () => {
      globalThis.gc?.();
      return { collected: typeof globalThis.gc === 'function' };
    },
    memory: () => process.memoryUsage(),
    ...handlers,
  };
  process.on('message', (message) => {
    if (!message || typeof message.rpc !== 'number') return;
    const handler = all[message.method];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`no rpc method ${message.method}`);
        return handler(message.args ?? {});
      })
      .then(
        (result) => process.send?.({ rpc: message.rpc, result: result ?? null }),
        (err) => process.send?.({ rpc: message.rpc, error: String(err?.stack ?? err) }),
      );
  });
  // The bench died or let go: never outlive it.
  process.on('disconnect', () => process.exit(0));
}

let nextId = 1;

/** In the parent: call `method` in `child`, with a timeout. */
export function callChild(child, method, args = {}, timeoutMs = 30_000) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`rpc ${method} to pid ${child.pid} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message) => {
      if (!message || message.rpc !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      if (message.error) reject(new Error(`rpc ${method} failed in child: ${message.error}`));
      else resolve(message.result);
    };
    child.on('message', onMessage);
    const failed = (err) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      reject(err);
    };
    if (!child.connected) {
      failed(new Error(`rpc ${method}: pid ${child.pid} has exited`));
      return;
    }
    child.send({ rpc: id, method, args }, (err) => err && failed(err));
  });
}
