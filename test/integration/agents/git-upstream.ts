/**
 * A git smart-HTTP server posing as github.com: real `git http-backend` (CGI, RFC 3875) behind a
 * loopback TLS server with a certificate from the test CA. Like GitHub, it takes Basic auth
 * `x-access-token:<token>` and answers anything else with 401, so a clone succeeds only if
 * Keygate wrote the right credential. It serves one bare repository, `acme/widgets.git`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestPki } from '../../helpers/test-pki.js';

export interface GitUpstream {
  readonly port: number;
  /** The Authorization header of every request, in order. */
  readonly authorizations: (string | undefined)[];
  close(): Promise<void>;
}

export const GIT_FILE = 'README.md';
export const GIT_CONTENT = 'widgets, cloned through Keygate\n';

function git(cwd: string, args: string[]): void {
  execFileSync('git', args, {
    cwd,
    stdio: 'ignore',
    env: {
      PATH: process.env.PATH,
      HOME: cwd,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'Keygate Tests',
      GIT_AUTHOR_EMAIL: 'tests@keygate.invalid',
      GIT_COMMITTER_NAME: 'Keygate Tests',
      GIT_COMMITTER_EMAIL: 'tests@keygate.invalid',
    },
  });
}

function makeRepository(root: string): void {
  const work = join(root, 'work');
  execFileSync('mkdir', ['-p', work, join(root, 'acme')]);
  git(work, ['init', '-q', '-b', 'main']);
  writeFileSync(join(work, GIT_FILE), GIT_CONTENT);
  git(work, ['add', GIT_FILE]);
  git(work, ['commit', '-q', '-m', 'first']);
  git(root, ['clone', '-q', '--bare', work, join(root, 'acme', 'widgets.git')]);
}

export async function startGitUpstream(
  pki: TestPki,
  host: string,
  token: string,
): Promise<GitUpstream> {
  const root = mkdtempSync(join(tmpdir(), 'keygate-git-upstream-'));
  makeRepository(root);
  const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  const authorizations: (string | undefined)[] = [];
  const { certPem, keyPem } = await pki.issue([host, 'missing-git.example.com']);
  const server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    authorizations.push(req.headers.authorization);
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"', 'content-length': 0 });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', `https://${host}`);
    // RFC 3875 §4.1: the request as CGI meta-variables; git http-backend reads these.
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        HOME: root,
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(typeof req.headers['git-protocol'] === 'string'
          ? { GIT_PROTOCOL: req.headers['git-protocol'] }
          : {}),
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        REMOTE_USER: 'x-access-token',
        REMOTE_ADDR: '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let answered = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (answered) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      answered = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => res.end());
    cgi.on('error', () => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(root, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
