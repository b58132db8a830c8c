/** Certificates: the per-install CA and the per-host leaves minted from it. */
export {
  CertificateAuthorityError,
  loadOrCreateCertificateAuthority,
  type CertificateAuthority,
} from './certificate-authority.js';
export { LeafCertificateError, LeafCertificates, type LeafOptions } from './leaf-certificates.js';
export { ServerNameError, parseServerName, type ServerName } from './server-name.js';
