/**
 * `keygate doctor` (the contract's `doctor.run`): what stands between this home and a working
 * Keygate, one check per line. The port (is Keygate there, or something else?), the CA, the
 * 1Password account when any mapping needs it, and every mapping's references. Nothing here
 * resolves a secret: `env://` is looked up by name only, `op://` is checked for form.
 */
import { access } from 'node:fs/promises';
import http from 'node:http';
import type { CaInfo, DoctorCheck } from '../shared/api.js';
import type { Settings } from '../shared/settings-schema.js';
import { dialAddress } from './agent-env.js';
import type { HomePaths } from './home.js';
import { portBindable } from './port-probe.js';
import { mappingRefs } from './rules/compiled-mapping.js';
import { readRuntimeInfo } from './runtime-file.js';
import { refForError } from './secrets/reference-display.js';
import type { SecretSetup } from './secrets/secret-setup.js';

export interface DoctorInputs {
  readonly settings: Settings;
  readonly paths: HomePaths;
  /** The secret sources, created on first use (a home with no op:// mapping never reads a token). */
  readonly setup: () => Promise<SecretSetup>;
  /** Loads the CA (and writes its bundle); called only when a CA certificate exists. */
  readonly caInfo: () => Promise<CaInfo>;
  /** Where `env://` references are looked up (default: this process's environment). */
  readonly env?: NodeJS.ProcessEnv;
}

/** How long the port check waits for `/healthz` before asking whether the port is free. */
const HEALTH_TIMEOUT_MS = 1_000;

export async function runDoctor(inputs: DoctorInputs): Promise<DoctorCheck[]> {
  const { settings, paths } = inputs;
  const running = readRuntimeInfo(paths.home);
  const checks: DoctorCheck[] = [
    await checkPort(running?.host ?? settings.proxy.host, running?.port ?? settings.proxy.port),
    await checkCa(paths, inputs.caInfo),
  ];
  const usesOnePassword = settings.mappings.some((m) =>
    mappingRefs(m).some((ref) => ref.startsWith('op://')),
  );
  // An unreadable stored token is reported even before any op:// mapping exists.
  if (usesOnePassword || (await inputs.setup()).onePassword.tokenStoreError !== undefined)
    checks.push(await checkOnePassword(await inputs.setup()));
  checks.push(...(await checkMappings(settings, inputs.setup, inputs.env ?? process.env)));
  return checks;
}

async function checkMappings(
  settings: Settings,
  setup: () => Promise<SecretSetup>,
  env: NodeJS.ProcessEnv,
): Promise<DoctorCheck[]> {
  if (settings.mappings.length === 0)
    return [{ name: 'mappings', ok: true, detail: 'no mappings yet (keygate map add HOST REF)' }];
  const { resolver } = await setup();
  const checks: DoctorCheck[] = [];
  for (const mapping of settings.mappings) {
    const name = `mapping ${mapping.host}${mapping.path ?? ''}`;
    for (const ref of mappingRefs(mapping)) {
      const check = resolver.validate(ref);
      if (!check.ok) {
        const detail = `${refForError(ref)}: ${check.reason ?? 'invalid reference'}`;
        checks.push({ name, ok: false, detail });
      } else if (ref.startsWith('env://')) {
        const variable = ref.slice('env://'.length);
        const present = Boolean(env[variable]);
        checks.push({
          name,
          ok: present,
          detail: present
            ? `${ref} is set in this environment`
            : `${ref}: ${variable} is not set here; keygate serve must be started with it`,
        });
      } else {
        checks.push({ name, ok: true, detail: `${ref} is well-formed` });
      }
    }
  }
  return checks;
}

/** Connected with no token ('none') means through the 1Password app's account. */
const TOKEN_SOURCE_NAMES = {
  env: 'OP_SERVICE_ACCOUNT_TOKEN',
  file: 'stored token',
  none: 'the 1Password app',
} as const;

async function checkOnePassword({ onePassword }: SecretSetup): Promise<DoctorCheck> {
  const unreadable = onePassword.tokenStoreError;
  if (unreadable !== undefined && !onePassword.connected)
    return { name: '1password', ok: false, detail: unreadable };
  if (!onePassword.connected) {
    return {
      name: '1password',
      ok: false,
      detail:
        'op:// mappings exist but no account is connected: `keygate token set` or OP_SERVICE_ACCOUNT_TOKEN',
    };
  }
  const status = await onePassword.status(true);
  if (status.error) return { name: '1password', ok: false, detail: status.error };
  return {
    name: '1password',
    ok: true,
    detail: `connected (${TOKEN_SOURCE_NAMES[status.tokenSource]}), ${status.vaultCount ?? 0} vault(s) visible`,
  };
}

/** Keygate answering `/healthz` there, a free port, or something else holding it. */
export async function checkPort(host: string, port: number): Promise<DoctorCheck> {
  const dialHost = dialAddress(host);
  const health = await new Promise<string | undefined>((resolve) => {
    const req = http.get(
      { host: dialHost, port, path: '/healthz', timeout: HEALTH_TIMEOUT_MS },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk.slice(0, 200)));
        res.on('end', () => resolve(body));
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('timeout', () => req.destroy());
    // Refused, reset or timed out: not Keygate; whether the port is free is asked next.
    req.on('error', () => resolve(undefined));
  });
  if (health?.includes('"service":"keygate"'))
    return { name: 'port', ok: true, detail: `Keygate is listening on ${dialHost}:${port}` };
  return (await portBindable(dialHost, port))
    ? {
        name: 'port',
        ok: true,
        detail: `port ${port} is free; start Keygate with \`keygate serve\``,
      }
    : {
        name: 'port',
        ok: false,
        detail: `port ${port} on ${dialHost} is used by something other than Keygate`,
      };
}

async function checkCa(paths: HomePaths, caInfo: () => Promise<CaInfo>): Promise<DoctorCheck> {
  const present = await access(paths.caCert).then(
    () => true,
    () => false,
  );
  if (!present)
    return {
      name: 'ca',
      ok: true,
      detail: `no CA yet; it is created at ${paths.caCert} on first use`,
    };
  try {
    const info = await caInfo();
    return {
      name: 'ca',
      ok: true,
      detail: `${info.certPath} (SHA-256 ${info.fingerprint256}, valid until ${info.notAfter})`,
    };
  } catch (err) {
    // A CA that fails to load (damaged, unreadable) is the finding itself, with its named error.
    return { name: 'ca', ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}
