import { describe, expect, it } from 'vitest';
import { ServerNameError, parseServerName } from '../../../src/engine/tls/server-name.js';

describe('parseServerName', () => {
  it.each([
    ['api.example.com', 'dns', 'api.example.com'],
    ['API.Example.COM', 'dns', 'api.example.com'],
    ['api.example.com.', 'dns', 'api.example.com'],
    ['localhost', 'dns', 'localhost'],
    ['_acme.example.com', 'dns', '_acme.example.com'],
    ['xn--bcher-kva.example', 'dns', 'xn--bcher-kva.example'],
    ['127.0.0.1', 'ip', '127.0.0.1'],
    ['::1', 'ip', '::1'],
    ['[::1]', 'ip', '::1'],
    ['[2001:DB8::1]', 'ip', '2001:db8::1'],
    ['::ffff:10.0.0.1', 'ip', '::ffff:a00:1'],
    ['[::ffff:192.168.1.20]', 'ip', '::ffff:c0a8:114'],
  ])('%s → %s %s', (input, kind, value) => {
    expect(parseServerName(input)).toEqual({ kind, value });
  });

  it.each([
    '',
    '.',
    '*.example.com',
    'a b.example.com',
    'x,CN=evil',
    'a..b',
    '-lead.example.com',
    'trail-.example.com',
    `${'a'.repeat(64)}.example.com`,
    `${'a.'.repeat(127)}ab`,
    'fe80::1%eth0',
    '[fe80::1%25eth0]',
    '[::1',
    'bücher.example',
    'host:443',
  ])('rejects %j', (input) => {
    expect(() => parseServerName(input)).toThrow(ServerNameError);
  });
});
