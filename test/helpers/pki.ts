/**
 * Test certificates made with the `openssl` CLI in a temp dir: the CA / issue primitives that
 * ocserv.ts builds its server and client certificates with, and makeClientPki(), the material
 * for the gateway's certificate login (tls.client-ca, tls.crl): a good client certificate, an
 * expired one, one not valid yet, a revoked one with the CA's CRL, one from an unrelated CA and
 * one whose key usage is for servers only.
 *
 * Dates in the past: `openssl x509 -req` in OpenSSL 3.0 has no -not_before (3.4 added it), but
 * `openssl ca` has -startdate/-enddate in every version, and it keeps the index the CRL is made
 * from; so the client CA here is an `openssl ca` directory.
 */
import { X509Certificate, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execIn } from './netns.js';

/** pin-sha256 (base64, without prefix) of a PEM certificate's public key. */
export function spkiSha256(certPem: string | Buffer): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export async function openssl(args: string[], cwd: string): Promise<void> {
  await execIn(null, 'openssl', args, { cwd, timeoutMs: 30_000, check: true });
}

// EC P-256 keygen is instant; RSA-2048 takes ~0.5 s, so only the server key
// is RSA (as in the lab: the transcripts show "(RSA-SHA256)" handshakes).
export const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
export const RSA_KEY = ['-newkey', 'rsa:2048'];

export interface KeyPair {
  cert: string;
  key: string;
}

export async function makeCa(dir: string, name: string, cn: string): Promise<KeyPair> {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  await openssl(
    ['req', '-x509', ...EC_KEY, '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  return { cert, key };
}

/** A certificate `name` signed by `ca` (`openssl x509 -req`, valid from now for 30 days). */
export async function issue(dir: string, ca: KeyPair, name: string, subject: string, ext: string, keyArgs: string[]): Promise<KeyPair> {
  const cert = path.join(dir, `${name}-cert.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  const csr = path.join(dir, `${name}.csr`);
  const extFile = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extFile, ext);
  await openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', key, '-out', csr, '-subj', subject], dir);
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(Date.now()), '-days', '30',
      '-out', cert, '-extfile', extFile],
    dir,
  );
  return { cert, key };
}

export const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';

/** A CA run with `openssl ca` (index, serials, CRL numbers) in its own folder. */
export class OpensslCa {
  private constructor(
    readonly dir: string,
    readonly cert: string,
    readonly key: string,
    private readonly conf: string,
  ) {}

  static async create(parent: string, name: string, cn: string): Promise<OpensslCa> {
    const dir = path.join(parent, name);
    fs.mkdirSync(path.join(dir, 'newcerts'), { recursive: true });
    const ca = await makeCa(dir, 'ca', cn);
    fs.writeFileSync(path.join(dir, 'index.txt'), '');
    fs.writeFileSync(path.join(dir, 'serial'), '1000\n');
    fs.writeFileSync(path.join(dir, 'crlnumber'), '1000\n');
    const conf = path.join(dir, 'ca.cnf');
    // -preserveDN keeps the subject as given (several OUs, UID, emailAddress) instead of the
    // policy's field list; the policy section must exist all the same.
    fs.writeFileSync(
      conf,
      [
        '[ ca ]',
        'default_ca = test_ca',
        '[ test_ca ]',
        `dir = ${dir}`,
        'database = $dir/index.txt',
        'new_certs_dir = $dir/newcerts',
        'serial = $dir/serial',
        'crlnumber = $dir/crlnumber',
        'certificate = $dir/ca.pem',
        'private_key = $dir/ca-key.pem',
        'default_md = sha256',
        'default_days = 365', // openconnect warns about client certificates that expire within 60 days
        'default_crl_days = 30',
        'policy = policy_any',
        'unique_subject = no',
        'copy_extensions = none',
        '[ policy_any ]',
        'commonName = optional',
        '',
      ].join('\n'),
    );
    return new OpensslCa(dir, ca.cert, ca.key, conf);
  }

  /**
   * Issues `name` for `subject` (e.g. /CN=alice/OU=Employees). `dates`: YYYYMMDDHHMMSSZ bounds
   * (in the past for an expired certificate); default from now for 365 days.
   */
  async issue(name: string, subject: string, o: { ext?: string; start?: string; end?: string } = {}): Promise<KeyPair> {
    const cert = path.join(this.dir, `${name}-cert.pem`);
    const key = path.join(this.dir, `${name}-key.pem`);
    const csr = path.join(this.dir, `${name}.csr`);
    const extFile = path.join(this.dir, `${name}.ext`);
    fs.writeFileSync(extFile, `[ ext ]\n${o.ext ?? CLIENT_EXT}`);
    await openssl(['req', '-new', ...EC_KEY, '-nodes', '-keyout', key, '-out', csr, '-subj', subject], this.dir);
    const dates = [...(o.start ? ['-startdate', o.start] : []), ...(o.end ? ['-enddate', o.end] : [])];
    await openssl(
      ['ca', '-batch', '-notext', '-preserveDN', '-config', this.conf, '-in', csr, '-out', cert, '-extfile', extFile, '-extensions', 'ext', ...dates],
      this.dir,
    );
    return { cert, key };
  }

  async revoke(cert: string): Promise<void> {
    await openssl(['ca', '-batch', '-config', this.conf, '-revoke', cert, '-crl_reason', 'keyCompromise'], this.dir);
  }

  /** The CA's CRL (PEM) as of now, listing every certificate revoked so far. */
  async crl(file: string): Promise<string> {
    await openssl(['ca', '-batch', '-config', this.conf, '-gencrl', '-out', file], this.dir);
    fs.chmodSync(file, 0o644);
    return file;
  }
}

export interface ClientPki {
  dir: string;
  /** the client CA itself: revoke more certificates and write its CRL again */
  ca: OpensslCa;
  /** the CA the gateway trusts for client certificates (tls.client-ca) */
  caFile: string;
  /** that CA's CRL, with `revoked` on it (tls.crl) */
  crlFile: string;
  /** an unrelated CA (nothing it signed may log in) */
  otherCaFile: string;
  /** CN=alice, OU=Employees, OU=Staff, UID=alice, emailAddress=alice@example.org, SAN email */
  good: KeyPair;
  /** CN=bob, OU=Employees: valid from now, no revocation, a second user */
  bob: KeyPair;
  /** CN=alice: expired (2020-01-01 .. 2020-01-02) */
  expired: KeyPair;
  /** CN=alice: valid from 2090 */
  notYetValid: KeyPair;
  /** CN=carol, OU=Employees: on the CRL */
  revoked: KeyPair;
  /** CN=alice, OU=Employees, signed by the unrelated CA */
  otherCa: KeyPair;
  /** CN=alice, extendedKeyUsage serverAuth only: not for logging in */
  serverOnly: KeyPair;
  /** OU=Employees and no CN (cert-user CN finds nothing) */
  noCn: KeyPair;
}

/** Everything for the certificate tests, in `dir` (world-readable: the gateway's network process drops root). */
export async function makeClientPki(dir: string): Promise<ClientPki> {
  const ca = await OpensslCa.create(dir, 'client-ca', 'sslgate test client CA');
  const other = await OpensslCa.create(dir, 'other-ca', 'sslgate unrelated CA');
  const good = await ca.issue('alice', '/CN=alice/OU=Employees/OU=Staff/UID=alice/emailAddress=alice@example.org', {
    ext: `${CLIENT_EXT}subjectAltName=email:alice@example.org\n`,
  });
  const bob = await ca.issue('bob', '/CN=bob/OU=Employees');
  const expired = await ca.issue('expired', '/CN=alice/OU=Employees', { start: '20200101000000Z', end: '20200102000000Z' });
  const notYetValid = await ca.issue('future', '/CN=alice/OU=Employees', { start: '20900101000000Z', end: '20900102000000Z' });
  const revoked = await ca.issue('carol', '/CN=carol/OU=Employees');
  await ca.revoke(revoked.cert);
  const crlFile = await ca.crl(path.join(dir, 'client-ca.crl'));
  const otherCa = await other.issue('alice-other', '/CN=alice/OU=Employees');
  const serverOnly = await ca.issue('server-only', '/CN=alice/OU=Employees', {
    ext: 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  });
  const noCn = await ca.issue('no-cn', '/OU=Employees/O=Example');
  chmodTree(dir);
  return { dir, ca, caFile: ca.cert, crlFile, otherCaFile: other.cert, good, bob, expired, notYetValid, revoked, otherCa, serverOnly, noCn };
}

/** Folders 0755, files 0644: test material only, read by processes that gave up root. */
function chmodTree(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chmodTree(p);
    else fs.chmodSync(p, 0o644);
  }
}
