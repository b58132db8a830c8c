/**
 * A hand-made CONNECT + TLS session through Keygate, for tests that need to control exactly
 * which requests share a connection.
 */
import net from 'node:net';
import tls from 'node:tls';

/** Resolves once Keygate answered a CONNECT on `raw` with 200; rejects with any other answer. */
export function connectEstablished(raw: net.Socket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      raw.off('data', onData);
      if (head.startsWith('HTTP/1.1 200')) resolve();
      else reject(new Error(head));
    };
    raw.on('data', onData);
    raw.once('error', reject);
  });
}

export async function openInterceptedSocket(
  proxyUrl: string,
  host: string,
  caPem: string,
): Promise<tls.TLSSocket> {
  const url = new URL(proxyUrl);
  const raw = net.connect(Number(url.port), url.hostname);
  const auth = Buffer.from(
    `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`,
  ).toString('base64');
  raw.write(
    `CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`,
  );
  await connectEstablished(raw);
  const secure = tls.connect({ socket: raw, servername: host, ca: caPem });
  await new Promise<void>((resolve, reject) =>
    secure.once('secureConnect', resolve).once('error', reject),
  );
  return secure;
}

/**
 * One keep-alive GET on an open socket; resolves with the whole response. Handles both framings:
 * content-length, and chunked (what injected responses use, since scrubbing may change length).
 */
export function exchange(socket: tls.TLSSocket, host: string, path: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const complete = (): boolean => {
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const head = text.slice(0, end);
      const length = /content-length: (\d+)/i.exec(head)?.[1];
      if (length !== undefined) return text.length >= end + 4 + Number(length);
      if (/transfer-encoding: chunked/i.test(head)) return text.endsWith('0\r\n\r\n');
      return false;
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (complete()) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer placeholder\r\n\r\n`,
    );
  });
}
