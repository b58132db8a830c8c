/**
 * "Is this port free?" for `keygate doctor`: free means Keygate could bind it now.
 *
 * Why it tries more than once: the probe itself holds the port for the instant between bind and
 * close, so a second doctor running at the same moment (two terminals, or a test running two in
 * parallel, as CI did) saw EADDRINUSE and reported the port "used by something other than
 * Keygate". Any real holder keeps the port for longer than the retries last; a probe does not.
 */
import net from 'node:net';

const ATTEMPTS = 5;
const RETRY_DELAY_MS = 40;

function bindOnce(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

/** True when `host:port` could be bound; EADDRINUSE is retried a few times, anything else is final. */
export async function portBindable(host: string, port: number): Promise<boolean> {
  for (let attempt = 1; ; attempt += 1) {
    const error = await bindOnce(host, port);
    if (!error) return true;
    if (error.code !== 'EADDRINUSE' || attempt === ATTEMPTS) return false;
    await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
  }
}
