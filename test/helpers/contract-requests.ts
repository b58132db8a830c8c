/**
 * One well-formed and one malformed request for every contract operation. Typed as
 * `Record<ApiOperation, …>`: an operation added to src/shared/api.ts without its cases here is a
 * compile error, so the transport tests cover it from the start.
 */
import type { ApiOperation } from '../../src/shared/api.js';

/** What a typed caller sends: each passes its operation's schema unchanged. */
export const WELL_FORMED: Record<ApiOperation, unknown> = {
  'mappings.list': {},
  'mappings.upsert': { host: 'api.example.com', ref: 'env://EXAMPLE_KEY', port: 8443 },
  'mappings.remove': { host: 'api.example.com', path: '/v1/*' },
  'mappings.test': { host: 'api.example.com' },
  'agents.list': {},
  'agents.add': { name: 'ci', hosts: ['api.example.com'], ask: true },
  'agents.set': { name: 'ci', ask: false },
  'agents.remove': { name: 'ci' },
  'agents.env': { name: 'default' },
  'proxy.status': {},
  'proxy.setEnabled': { enabled: true },
  'proxy.configure': { port: 8791, denyUnmapped: false },
  'activity.recent': { limit: 5 },
  'usage.list': { days: 7 },
  'approvals.list': {},
  'approvals.decide': { id: 'a1', decision: 'allow', forSeconds: 60 },
  'ca.info': {},
  'doctor.run': {},
  'token.set': { token: 'ops_not_a_real_token' },
  'token.useDesktop': { accountName: 'my.1password.com' },
  'token.status': {},
  'token.clear': {},
  'onepassword.vaults': { account: 'my.1password.com' },
  'onepassword.items': { vaultId: 'v1' },
  'onepassword.suggestions': {},
  'app.launchAtLogin': { enabled: true },
  'ca.trustState': {},
  'ca.trust': {},
};

/**
 * What a broken or hostile page could send, with the message its schema gives. Operations that
 * take nothing get a request that is not an object at all. No value here is ever echoed back.
 */
export const MALFORMED: Record<ApiOperation, { request: unknown; message: string }> = {
  'mappings.list': { request: ['x'], message: 'the request must be an object' },
  'mappings.upsert': { request: { host: 42, ref: 'env://K' }, message: 'host must be a string' },
  'mappings.remove': { request: { host: 'a.example', path: 1 }, message: 'path must be a string' },
  'mappings.test': { request: {}, message: 'host must be a string' },
  'agents.list': { request: 'all', message: 'the request must be an object' },
  'agents.add': { request: { name: 'ci', hosts: 'a.example' }, message: 'hosts must be a list' },
  'agents.set': { request: { name: 'ci', ask: 'yes' }, message: 'ask must be true or false' },
  'agents.remove': { request: { name: null }, message: 'name must be a string' },
  'agents.env': { request: { name: 7 }, message: 'name must be a string' },
  'proxy.status': { request: 42, message: 'the request must be an object' },
  'proxy.setEnabled': { request: { enabled: 'on' }, message: 'enabled must be true or false' },
  'proxy.configure': { request: { port: '8791' }, message: 'port must be a number' },
  'activity.recent': { request: { limit: '5' }, message: 'limit must be a number' },
  'usage.list': { request: { days: '7' }, message: 'days must be a number' },
  'approvals.list': { request: true, message: 'the request must be an object' },
  'approvals.decide': {
    request: { id: 'a1', decision: 'maybe' },
    message: 'decision must be one of allow, always, deny',
  },
  'ca.info': { request: [], message: 'the request must be an object' },
  'doctor.run': { request: 'now', message: 'the request must be an object' },
  'token.set': { request: { token: ['ops_x'] }, message: 'token must be a string' },
  'token.useDesktop': { request: {}, message: 'accountName must be a string' },
  'token.status': { request: 1, message: 'the request must be an object' },
  'token.clear': { request: [1], message: 'the request must be an object' },
  'onepassword.vaults': { request: { account: 1 }, message: 'account must be a string' },
  'onepassword.items': { request: { account: 'a' }, message: 'vaultId must be a string' },
  'onepassword.suggestions': { request: { account: {} }, message: 'account must be a string' },
  'app.launchAtLogin': { request: { enabled: 1 }, message: 'enabled must be true or false' },
  'ca.trustState': { request: 'x', message: 'the request must be an object' },
  'ca.trust': { request: false, message: 'the request must be an object' },
};
