/**
 * http-mitm-proxy, loaded without its certificate authority.
 *
 * The library's `lib/proxy.js` requires `./ca` at import time, and `ca.js` loads node-forge: a
 * whole crypto library in JavaScript, about 4 MB of resident memory in `keygate serve`
 * (docs/performance.md). Keygate never runs that code: the only caller, `Proxy#listen`, is
 * replaced by KeygateMitmProxy (docs/decisions/0002, defects 3 and 4). So before the
 * library loads, `ca.js` is put in the require cache as a stand-in that refuses loudly if a
 * future library version ever reaches it. The library's files stay as published.
 */
import { Module, createRequire } from 'node:module';
import type * as HttpMitmProxy from 'http-mitm-proxy';
import { defineError } from '../errors.js';

const require = createRequire(import.meta.url);

export class LibraryCaUnavailableError extends defineError('LibraryCaUnavailableError', {
  status: 500,
  code: 'library_ca_unavailable',
}) {
  constructor() {
    super(
      "http-mitm-proxy's own CA was called, but Keygate replaces it (docs/decisions/0002, defects 3, 4); " +
        'a library upgrade has changed which code reaches it',
    );
  }
}

const libraryCaStandIn = {
  // `__esModule` makes the library's `__importDefault` use `default` as is.
  __esModule: true,
  default: {
    create(): never {
      throw new LibraryCaUnavailableError();
    },
  },
};

function loadWithoutLibraryCa(): typeof HttpMitmProxy {
  const caPath = require.resolve('http-mitm-proxy/dist/lib/ca.js');
  if (!(caPath in require.cache)) {
    const standIn = new Module(caPath);
    standIn.filename = caPath;
    standIn.loaded = true;
    standIn.exports = libraryCaStandIn;
    require.cache[caPath] = standIn;
  }
  return require('http-mitm-proxy') as typeof HttpMitmProxy;
}

export const { Proxy } = loadWithoutLibraryCa();
