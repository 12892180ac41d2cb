/**
 * tls.client-ca and tls.crl, read and checked at start by the privileged process (the network
 * process hands them to its TLS listener; it gets the text, not the files). Node takes a `ca`
 * that holds no certificate without a word and then verifies no client at all, so each PEM
 * block must be a certificate and there must be at least one; a CRL file Node cannot parse is
 * named here instead of failing later in the network process.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type TlsOptions } from 'node:tls';

export interface ClientCaFiles {
  caPem: string;
  crlPem: string | null;
}

export class ClientCaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientCaError';
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** The CA certificates in `pem` (throws ClientCaError naming `key` and `file`). */
export function clientCaCertificates(pem: string, key: string, file: string): X509Certificate[] {
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw new ClientCaError(`${key}: ${file} holds no PEM certificate`);
  return blocks.map((b, i) => {
    if (b[1] !== 'CERTIFICATE') throw new ClientCaError(`${key}: ${file}: PEM block ${i + 1} is a ${b[1]}, not a CERTIFICATE`);
    try {
      return new X509Certificate(b[0]);
    } catch (e) {
      throw new ClientCaError(`${key}: ${file}: PEM block ${i + 1} is not a readable certificate (${(e as Error).message})`);
    }
  });
}

/**
 * Reads tls.client-ca (and tls.crl) when configured; null without client-ca. `warn` hears about
 * CA certificates that cannot sign (not CA:TRUE) or are out of their dates.
 */
export function readClientCaFiles(tls: { clientCa?: string; crl?: string }, warn: (message: string) => void, now = new Date()): ClientCaFiles | null {
  if (!tls.clientCa) return null;
  const read = (key: string, file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new ClientCaError(`${key}: cannot read ${file}: ${(e as Error).message}`);
    }
  };
  const caPem = read('tls.client-ca', tls.clientCa);
  for (const c of clientCaCertificates(caPem, 'tls.client-ca', tls.clientCa)) {
    if (!c.ca) warn(`tls.client-ca: ${c.subject.replace(/\n/g, ', ')} is not a CA certificate (basicConstraints CA:TRUE); certificates it issued will not verify`);
    if (new Date(c.validTo) < now) warn(`tls.client-ca: ${c.subject.replace(/\n/g, ', ')} expired on ${c.validTo}; certificates it issued will not verify`);
  }
  let crlPem: string | null = null;
  if (tls.crl) {
    crlPem = read('tls.crl', tls.crl);
    try {
      createSecureContext({ ca: caPem, crl: crlPem });
    } catch (e) {
      throw new ClientCaError(`tls.crl: ${tls.crl} is not a PEM certificate revocation list (${(e as Error).message})`);
    }
  }
  return { caPem, crlPem };
}

/**
 * The TLS server options that ask for a client certificate, listing the CAs' names in the
 * CertificateRequest (PROTOCOL.md §3.2). OpenSSL verifies it against these CAs only (`ca`
 * replaces Node's default roots), the CRL, the dates and the key usage (the "ssl_client"
 * purpose); the handshake completes either way (rejectUnauthorized false): the connection
 * carries the verdict (auth/client-cert.ts certVerdict) and the auth step decides, so a refusal
 * reaches the user as a sentence in the login form instead of a bare TLS alert.
 */
export function clientCertTlsOptions(f: ClientCaFiles): TlsOptions {
  const o: TlsOptions = { ca: f.caPem, requestCert: true, rejectUnauthorized: false };
  if (f.crlPem) o.crl = f.crlPem;
  return o;
}
