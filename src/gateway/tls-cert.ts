/**
 * The gateway's TLS identity: the configured certificate, or a self-signed one generated once
 * into the state folder (ECDSA P-256) so `serve` works with no set-up. Users pin it with
 * openconnect's --servercert pin-sha256:… (printed at start).
 */
import { webcrypto, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { certSha1Hex, pinSha256 } from '../protocol/cert-pin.js';
import { ensurePrivateDir, readPrivateFile, tightenConfiguredKeyFile, writePrivateFile, type TightenNotice } from '../os/safe-files.js';

export interface TlsIdentity {
  certPem: string;
  keyPem: string;
  /** DER of the leaf certificate */
  der: Buffer;
  /** <server-cert-hash>: SHA-1 of the DER, upper-case hex */
  sha1: string;
  pin: string;
  generated: boolean;
  certFile: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

/** Creates a self-signed ECDSA P-256 certificate for the given names/addresses. */
export async function generateSelfSigned(commonName: string, altNames: { dns?: string[]; ip?: string[] } = {}, days = 3650): Promise<{ certPem: string; keyPem: string }> {
  // Loaded only when a certificate is made: it is large, and its DI container needs the
  // reflect-metadata polyfill loaded first.
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  // @peculiar/x509 takes the DOM Crypto type; Node's webcrypto implements it.
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const names: Array<{ type: 'dns' | 'ip'; value: string }> = [
    ...(altNames.dns ?? []).map((v) => ({ type: 'dns' as const, value: v })),
    ...(altNames.ip ?? []).map((v) => ({ type: 'ip' as const, value: v })),
  ];
  const notBefore = new Date(Date.now() - 3600_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=${commonName.replace(/[,=+<>#;"\\]/g, '_')}, O=sslgate`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * 86400_000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem') + '\n', keyPem: pem('PRIVATE KEY', pkcs8) };
}

/** The identity from its PEM texts (the network process rebuilds it from what it is sent). */
export function identity(certPem: string, keyPem: string, generated: boolean, certFile: string): TlsIdentity {
  const cert = new X509Certificate(certPem);
  return { certPem, keyPem, der: cert.raw, sha1: certSha1Hex(cert.raw), pin: pinSha256(cert.raw), generated, certFile };
}

/**
 * Loads the configured certificate, or the one generated earlier into `stateDir`, or generates it
 * now. `subjectHost` names the certificate (listen address or host name).
 */
export async function loadOrCreateIdentity(opts: { cert?: string; key?: string; stateDir: string; subjectHost: string; notice?: TightenNotice }): Promise<TlsIdentity> {
  if (opts.cert && opts.key) {
    tightenConfiguredKeyFile(opts.key, opts.notice);
    return identity(readFileSync(opts.cert, 'utf8'), readFileSync(opts.key, 'utf8'), false, opts.cert);
  }
  const certFile = join(opts.stateDir, 'server-cert.pem');
  const keyFile = join(opts.stateDir, 'server-key.pem');
  ensurePrivateDir(opts.stateDir, opts.notice);
  const key = readPrivateFile(keyFile, opts.notice);
  if (key) return identity(readFileSync(certFile, 'utf8'), key.toString('utf8'), false, certFile);
  const isIp = /^[\d.]+$|:/.test(opts.subjectHost) && opts.subjectHost !== '0.0.0.0' && opts.subjectHost !== '::';
  const host = opts.subjectHost === '0.0.0.0' || opts.subjectHost === '::' ? hostname() : opts.subjectHost;
  const { certPem, keyPem } = await generateSelfSigned(host, isIp ? { ip: [host] } : { dns: [host] });
  writePrivateFile(keyFile, keyPem);
  writePrivateFile(certFile, certPem, 0o644);
  return identity(certPem, keyPem, true, certFile);
}
