import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  AgentAuthRequiredError,
  ApprovalDeniedError,
  ApprovalTimeoutError,
  BadProxyRequestError,
  HostDeniedError,
  HostMismatchError,
  HostNotGrantedError,
  PlaintextRefusedError,
  SecretUnavailableError,
  UpstreamTimeoutError,
  UpstreamTlsError,
  UpstreamUnreachableError,
  type KeygateError,
} from '../../../src/engine/errors.js';
import {
  renderError,
  sanitizeReason,
  sendError,
  wantsJson,
  writeRawError,
} from '../../../src/engine/proxy/error-response.js';
import { SecretResolutionError } from '../../../src/engine/secrets/secret-resolver.js';

const JSON_CLIENT = { accept: 'application/json', host: 'api.openai.com' };

function missingSecret(): KeygateError {
  return new SecretUnavailableError(
    'mapping api.openai.com: the credential is unavailable (environment variable OPENAI_KEY is not set in the keygate process)',
    { cause: new SecretResolutionError('not set', 'env://OPENAI_KEY', 'not-found') },
  );
}

describe('renderError', () => {
  it('shapes the JSON body the way the OpenAI and Anthropic APIs do, with a top-level message', () => {
    const { status, reason, headers, body } = renderError(missingSecret(), {
      headers: JSON_CLIENT,
    });
    expect(status).toBe(502);
    expect(reason).toBe('Keygate: secret unavailable for api.openai.com');
    expect(headers['content-type']).toBe('application/json; charset=utf-8');
    expect(headers['x-keygate-error']).toBe('keygate_secret_unavailable');
    expect(JSON.parse(body)).toEqual({
      error: {
        type: 'keygate_error',
        code: 'keygate_secret_unavailable',
        message: expect.stringMatching(/OPENAI_KEY is not set/) as unknown,
      },
      message: expect.stringMatching(/OPENAI_KEY is not set/) as unknown,
    });
  });

  it.each([
    ['a missing secret', missingSecret()],
    ['a bad request', new BadProxyRequestError('x')],
    ['a missing token', new AgentAuthRequiredError('x')],
    ['a denied host', new HostDeniedError('x')],
    ['an ungranted host', new HostNotGrantedError('x')],
    ['plaintext', new PlaintextRefusedError('x')],
    ['a Host mismatch', new HostMismatchError('x')],
    ['an untrusted upstream certificate', new UpstreamTlsError('x')],
    ['a denied approval', new ApprovalDeniedError('x')],
    ['an approval that timed out', new ApprovalTimeoutError('x')],
  ])('tells SDKs not to retry %s (x-should-retry: false)', (_name, err) => {
    const { headers } = renderError(err, { headers: JSON_CLIENT });
    expect(headers['x-should-retry']).toBe('false');
    expect(headers['retry-after']).toBeUndefined();
  });

  it.each([
    ['an unreachable upstream', new UpstreamUnreachableError('x')],
    ['an upstream timeout', new UpstreamTimeoutError('x')],
    [
      'a 1Password outage',
      new SecretUnavailableError('x', {
        cause: new SecretResolutionError('down', 'op://a/b/c', 'transient'),
      }),
    ],
  ])('keeps retries for %s', (_name, err) => {
    expect(renderError(err).headers['x-should-retry']).toBe('true');
  });

  it('sends Retry-After when Keygate knows how long the source is cooling down', () => {
    const err = new SecretUnavailableError('x', {
      cause: new SecretResolutionError('rate limited', 'op://a/b/c', 'cooldown', 41_200),
    });
    const { headers } = renderError(err);
    expect(headers['x-should-retry']).toBe('true');
    expect(headers['retry-after']).toBe(42);
  });

  it('answers text/plain to git and to clients that did not ask for JSON', () => {
    for (const headers of [
      { 'user-agent': 'git/2.39.5', accept: '*/*', host: 'github.com' },
      { 'user-agent': 'git/2.39.5', accept: 'application/json', host: 'github.com' },
      { 'user-agent': 'curl/8.0', accept: '*/*' },
      { 'user-agent': 'python-requests/2.31' },
      undefined,
    ]) {
      const { headers: sent, body } = renderError(missingSecret(), { headers });
      expect(sent['content-type']).toBe('text/plain; charset=utf-8');
      expect(body).toMatch(
        /^Keygate: mapping api\.openai\.com: the credential is unavailable \(.*\) \(keygate_secret_unavailable\)\n$/,
      );
      expect(sent['content-length']).toBe(Buffer.byteLength(body));
    }
    expect(wantsJson({ accept: 'text/event-stream' })).toBe(true);
    expect(wantsJson({ accept: 'application/problem+json;q=0.9' })).toBe(true);
  });

  it('keeps the reason phrase to printable ASCII and a bounded length', () => {
    expect(sanitizeReason('Keygate: a\r\nb\u0000c\u00e9 d')).toBe('Keygate: a b c d');
    expect(sanitizeReason('x'.repeat(500))).toHaveLength(120);
    // A forged Host never reaches the reason phrase unless it is a plain name.
    const forged = renderError(missingSecret(), { headers: { host: 'evil\r\nx: 1' } });
    expect(forged.reason).toBe('Keygate: secret unavailable');
    const port = renderError(new UpstreamTimeoutError('x'), {
      headers: { host: 'API.example:8443' },
    });
    expect(port.reason).toBe('Keygate: api.example did not answer in time');
  });
});

describe('sendError', () => {
  it('reads Accept and Host from the request it answers, and the reason phrase reaches the client', async () => {
    const server = http.createServer((_req, res) => sendError(res, missingSecret()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const ask = (accept?: string) =>
      new Promise<{ status?: number; message?: string; type?: string; body: string }>(
        (resolve, reject) => {
          const req = http.get(
            {
              port,
              host: '127.0.0.1',
              headers: { host: 'api.openai.com', ...(accept ? { accept } : {}) },
            },
            (res) => {
              let body = '';
              res.setEncoding('utf8').on('data', (c: string) => (body += c));
              res.on('end', () =>
                resolve({
                  status: res.statusCode,
                  message: res.statusMessage,
                  type: res.headers['content-type'],
                  body,
                }),
              );
            },
          );
          req.on('error', reject);
        },
      );
    try {
      const json = await ask('application/json');
      expect(json).toMatchObject({
        status: 502,
        message: 'Keygate: secret unavailable for api.openai.com',
        type: 'application/json; charset=utf-8',
      });
      expect(JSON.parse(json.body).error.code).toBe('keygate_secret_unavailable');
      const text = await ask();
      expect(text.type).toBe('text/plain; charset=utf-8');
      expect(text.body).toMatch(/^Keygate: mapping api\.openai\.com/);
    } finally {
      server.close();
    }
  });
});

describe('writeRawError', () => {
  /** A server that allows half-open sockets, as Node's HTTP server does, refusing each one. */
  async function refusingServer(lingerMs: number) {
    const refused: net.Socket[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      refused.push(socket);
      writeRawError(socket, new AgentAuthRequiredError('no agent token'), undefined, lingerMs);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, refused, port: (server.address() as AddressInfo).port };
  }

  it('answers, then lets go of an agent that never closes its side', async () => {
    const { server, refused, port } = await refusingServer(200);
    // allowHalfOpen: this client reads the answer and its end, and never ends its own side.
    const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let answer = '';
    client.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    await new Promise((resolve) => client.once('end', resolve));
    expect(answer).toMatch(/^HTTP\/1\.1 407 .*\r\nconnection: close\r\n\r\n/s);
    expect(refused[0]?.destroyed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(refused[0]?.destroyed).toBe(true);
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('closes at once when the agent closes first, without waiting out the linger', async () => {
    const { server, refused, port } = await refusingServer(60_000);
    const client = net.connect({ port, host: '127.0.0.1' });
    client.resume();
    await new Promise((resolve) => client.once('close', resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(refused[0]?.destroyed).toBe(true);
    await new Promise((resolve) => server.close(resolve));
  });
});
