/**
 * Client certificates (issue 10): the pure verdict / identity / field functions with realistic
 * and garbage input, the config keys, the start-up checks of tls.client-ca and tls.crl, and the
 * verdict of real TLS handshakes (Node's OpenSSL with the gateway's options) for every kind of
 * test certificate: good, expired, not yet valid, revoked, another CA's, server-only, no CN.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import {
  CERT_LIMITS,
  certIdentity,
  certVerdict,
  checkClientCertInfo,
  parseCertField,
  sanEmails,
  type CertVerdict,
  type PeerCertificateLike,
} from '../../src/gateway/auth/client-cert.js';
import type { ClientCertInfo } from '../../src/gateway/auth/types.js';
import { ConfigError, parseConfigText } from '../../src/gateway/config.js';
import { clientCertTlsOptions, readClientCaFiles, ClientCaError } from '../../src/gateway/tls-client-ca.js';
import { generateSelfSigned } from '../../src/gateway/tls-cert.js';
import { hasCommand, tempDir } from '../helpers/netns.js';
import { makeClientPki, type ClientPki } from '../helpers/pki.js';
import { prerequisite } from '../helpers/prerequisites.js';
import { seeded } from '../helpers/seed.js';
import { DEFAULT_HTTP_LIMITS } from '../../src/protocol/http.js';
import { createLogger } from '../../src/log.js';
import type { AuthHandler, HttpReply, RequestContext } from '../../src/gateway/auth-handler.js';
import { serveConnection } from '../../src/gateway/http-connection.js';
import { GatewayEvents } from '../../src/gateway/ops/events.js';
import { SessionStore } from '../../src/gateway/sessions.js';
import type { TunnelDeps } from '../../src/gateway/tunnel-setup.js';

const FP = 'B5:9D:2A:51:A6:FB:EF:6E:2B:8E:1C:86:4B:D0:2D:2D:B7:B7:35:DA:E1:8C:FF:8F:3A:DB:9C:91:EB:AC:15:49';
const FP_HEX = FP.replace(/:/g, '');

/** What Node 20's getPeerCertificate() gave for test/helpers/pki.ts's alice (probed). */
function alicePeer(): PeerCertificateLike {
  return {
    subject: { CN: 'alice', OU: ['Employees', 'Staff'], UID: 'alice', emailAddress: 'alice@example.org' },
    issuer: { CN: 'sslgate test client CA' },
    subjectaltname: 'email:alice@example.org',
    fingerprint256: FP,
    serialNumber: '1000',
    valid_from: 'Dec  6 13:25:40 2026 GMT',
    valid_to: 'Jan  5 13:25:40 2027 GMT',
  };
}

function verified(v: CertVerdict): ClientCertInfo {
  assert.equal(v.kind, 'verified', JSON.stringify(v));
  return (v as Extract<CertVerdict, { kind: 'verified' }>).info;
}

function refused(v: CertVerdict): Extract<CertVerdict, { kind: 'refused' }> {
  assert.equal(v.kind, 'refused', JSON.stringify(v));
  return v as Extract<CertVerdict, { kind: 'refused' }>;
}

test('certVerdict: no certificate is "none", whatever Node says about it', () => {
  // Node reports a missing client certificate as UNABLE_TO_GET_ISSUER_CERT (probed): not "wrong CA".
  assert.deepEqual(certVerdict({}, false, 'UNABLE_TO_GET_ISSUER_CERT'), { kind: 'none' });
  assert.deepEqual(certVerdict(null, false, undefined), { kind: 'none' });
  assert.deepEqual(certVerdict(undefined, false, null), { kind: 'none' });
  assert.deepEqual(certVerdict({ subject: { CN: 'x' } }, true, null), { kind: 'none' });
});

test('certVerdict: a verified certificate becomes a ClientCertInfo (arrays, hex without colons, SAN e-mail)', () => {
  const info = verified(certVerdict(alicePeer(), true, null));
  assert.deepEqual(info, {
    subject: { CN: ['alice'], OU: ['Employees', 'Staff'], UID: ['alice'], emailAddress: ['alice@example.org'] },
    fingerprint: FP_HEX,
    serial: '1000',
    sanEmail: ['alice@example.org'],
  });
  const noSan = verified(certVerdict({ ...alicePeer(), subjectaltname: undefined }, true, null));
  assert.equal(noSan.sanEmail, undefined);
  assert.equal(verified(certVerdict({ ...alicePeer(), serialNumber: '0a1b' }, true, null)).serial, '0A1B');
});

test('certVerdict: each OpenSSL refusal is a sentence that says what is wrong', () => {
  const cases: Array<[string, RegExp]> = [
    ['CERT_HAS_EXPIRED', /^The client certificate has expired \(valid until Jan 5 13:25:40 2027 GMT\)\.$/],
    ['CERT_NOT_YET_VALID', /not valid yet \(valid from Dec 6 13:25:40 2026 GMT\)/],
    ['CERT_REVOKED', /^The client certificate has been revoked\.$/],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', /not issued by a CA this gateway trusts \(issuer: CN=sslgate test client CA\)/],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', /not issued by a CA this gateway trusts/],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', /not issued by a CA this gateway trusts/],
    ['SELF_SIGNED_CERT_IN_CHAIN', /not issued by a CA this gateway trusts/],
    ['CERT_SIGNATURE_FAILURE', /signature does not verify/],
    ['INVALID_PURPOSE', /not meant for client authentication/],
    ['INVALID_CA', /chain is not valid \(INVALID_CA\)/],
    ['UNABLE_TO_GET_CRL', /no revocation list .*tls\.crl.*administrator/],
    ['CRL_HAS_EXPIRED', /revocation list has expired \(tls\.crl\)/],
    ['CRL_SIGNATURE_FAILURE', /revocation list is not usable \(CRL_SIGNATURE_FAILURE/],
    ['SOMETHING_NEW', /^The client certificate was not accepted \(SOMETHING_NEW\)\.$/],
  ];
  for (const [code, re] of cases) {
    const v = refused(certVerdict(alicePeer(), false, code));
    assert.equal(v.code, code);
    assert.match(v.error, re, code);
    assert.equal(v.subject, 'CN=alice, OU=Employees, OU=Staff, UID=alice, emailAddress=alice@example.org');
    assert.equal(v.issuer, 'CN=sslgate test client CA');
    assert.equal(v.serial, '1000');
  }
  // An Error with a code (older Node), and nonsense where the code should be.
  const err = Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' });
  assert.equal(refused(certVerdict(alicePeer(), false, err)).code, 'CERT_HAS_EXPIRED');
  for (const junk of [undefined, null, 42, {}, 'has spaces', 'X'.repeat(65), 'A\nB']) {
    assert.equal(refused(certVerdict(alicePeer(), false, junk)).code, 'UNKNOWN', String(junk));
  }
  // Dates and names from the certificate are printed bounded and printable.
  const odd = refused(certVerdict({ ...alicePeer(), valid_to: 'x'.repeat(100), issuer: { CN: 'evil\u001b[2J' + 'y'.repeat(300) } }, false, 'CERT_HAS_EXPIRED'));
  assert.match(odd.error, /valid until \?\)/);
  assert.ok(odd.issuer.length <= 203 && !/[^\x20-\x7e]/.test(odd.issuer), odd.issuer);
});

test('certVerdict: a verified certificate with garbage fields is refused, not passed on', () => {
  const bad = (over: Partial<Record<keyof PeerCertificateLike, unknown>>, re: RegExp): void => {
    const v = refused(certVerdict({ ...alicePeer(), ...over } as PeerCertificateLike, true, null));
    assert.equal(v.code, 'BAD_CERTIFICATE_FIELDS');
    assert.match(v.error, re);
  };
  bad({ subject: 'CN=alice' }, /no readable subject/);
  bad({ subject: ['CN', 'alice'] }, /no readable subject/);
  bad({ subject: { CN: 7 } }, /CN is not text/);
  bad({ subject: { CN: ['alice', { x: 1 }] } }, /CN is not text/);
  bad({ subject: { CN: 'a'.repeat(CERT_LIMITS.valueChars + 1) } }, /257 characters long/);
  bad({ subject: { OU: Array.from({ length: CERT_LIMITS.valuesPerField + 1 }, (_, i) => `g${i}`) } }, /17 OU values/);
  bad({ subject: Object.fromEntries(Array.from({ length: CERT_LIMITS.fields + 1 }, (_, i) => [`F${i}`, 'x'])) }, /33 fields/);
  bad({ subject: { 'C N': 'x' } }, /unreadable field name "C N"/);
  bad({ subject: JSON.parse('{"__proto__": ["x"]}') as unknown }, /unreadable field name "__proto__"/);
  bad({ fingerprint256: 'zz' }, /unreadable fingerprint/);
  bad({ serialNumber: 12 }, /unreadable fingerprint or serial/);
  bad({ serialNumber: 'F'.repeat(65) }, /serial/);
  bad({ subjectaltname: 'email:"unterminated' }, /subjectAltName is not readable/);
  bad({ subjectaltname: 'no colon here' }, /subjectAltName is not readable/);
  bad({ subjectaltname: 'email:a@b, ' }, /subjectAltName is not readable/);
  bad({ subjectaltname: 'email:"a@b"DNS:x' }, /subjectAltName is not readable/);
  bad({ subject: { CN: 'alice', OU: [] } }, /OU is empty/);
  bad({ subjectaltname: 'x'.repeat(20_000) }, /too long/);
  bad({ subjectaltname: Array.from({ length: 17 }, (_, i) => `email:u${i}@x`).join(', ') }, /more than 16 e-mail/);
  // Dotted OIDs (fields OpenSSL has no short name for) are ordinary fields.
  assert.deepEqual(verified(certVerdict({ ...alicePeer(), subject: { '1.3.6.1.4.1.99999.1': 'v' } }, true, null)).subject, { '1.3.6.1.4.1.99999.1': ['v'] });
});

test('sanEmails: Node\'s subjectaltname string, quoted values included', () => {
  assert.deepEqual(sanEmails('email:a@x.org'), ['a@x.org']);
  assert.deepEqual(sanEmails('DNS:host.example, email:a@x.org, IP Address:10.0.0.1, email:b@y.org'), ['a@x.org', 'b@y.org']);
  // Node writes values with special characters as JSON strings (CVE-2021-44532 fix).
  assert.deepEqual(sanEmails('email:"a, b\\"c@x.org", DNS:"x,y"'), ['a, b"c@x.org']);
  assert.deepEqual(sanEmails(''), []);
  assert.deepEqual(sanEmails(undefined), []);
  assert.deepEqual(sanEmails(7), []);
});

test('certVerdict: seeded random peers never throw, and what is verified crosses the channel intact', () => {
  const rng = seeded('client-cert garbage peers');
  const pick = <T>(xs: T[]): T => xs[rng.int(xs.length)]!;
  const str = (): string => rng.bytes(rng.int(40)).toString(pick(['latin1', 'utf8', 'hex', 'base64']));
  const val = (): unknown => pick([str(), [str(), str()], rng.int(1000), null, {}, [], [1], undefined, 'x'.repeat(rng.int(400))]);
  let kinds = { none: 0, verified: 0, refused: 0 };
  for (let i = 0; i < 3000; i++) {
    const subject: Record<string, unknown> = {};
    for (let k = rng.int(6); k > 0; k--) subject[pick(['CN', 'OU', 'O', 'UID', str(), '1.2.3', 'constructor'])] = val();
    const peer: Record<string, unknown> = {
      subject: pick([subject, subject, str(), null, [subject]]),
      issuer: pick([subject, str(), undefined]),
      subjectaltname: pick([undefined, `email:${str()}`, str(), `DNS:${str()}, email:"${str()}"`]),
      fingerprint256: pick([FP, FP.toLowerCase(), str(), undefined, 5]),
      serialNumber: pick(['1000', rng.bytes(rng.int(40)).toString('hex'), str(), undefined]),
      valid_to: val(),
    };
    const v = certVerdict(peer, rng.int(2) === 1, pick([undefined, 'CERT_REVOKED', str(), new Error(str())]));
    kinds[v.kind]++;
    if (v.kind === 'verified') {
      const back = checkClientCertInfo(JSON.parse(JSON.stringify(v.info)) as unknown);
      assert.deepEqual(back, v.info);
      const id = certIdentity(v.info, 'CN', 'OU');
      if (id.ok) assert.match(id.user, /^[A-Za-z0-9._@+-]{1,64}$/);
      else assert.match(id.error, /^The client certificate/);
    } else if (v.kind === 'refused') {
      assert.ok(v.error.length < 400 && !/[\n\r\u001b]/.test(v.error), v.error);
      assert.match(v.code, /^[A-Z0-9_]{1,64}$/);
    }
  }
  // The generator reaches every branch (else this test could pass without testing them).
  assert.ok(kinds.none > 0 && kinds.verified > 0 && kinds.refused > 0, JSON.stringify(kinds));
});

function info(subject: Record<string, string[]>, sanEmail?: string[]): ClientCertInfo {
  return { subject, fingerprint: FP_HEX, serial: '1000', ...(sanEmail ? { sanEmail } : {}) };
}

test('certIdentity: the user from cert-user, groups from cert-group', () => {
  const alice = verified(certVerdict(alicePeer(), true, null));
  assert.deepEqual(certIdentity(alice, 'CN', 'OU'), { ok: true, user: 'alice', groups: ['Employees', 'Staff'] });
  assert.deepEqual(certIdentity(alice, 'CN'), { ok: true, user: 'alice' }, 'no cert-group: the certificate does not restrict');
  assert.deepEqual(certIdentity(alice, 'UID', 'O'), { ok: true, user: 'alice', groups: [] }, 'cert-group field absent: no group');
  assert.deepEqual(certIdentity(alice, 'emailAddress'), { ok: true, user: 'alice@example.org' });
  assert.deepEqual(certIdentity(alice, 'SAN:email'), { ok: true, user: 'alice@example.org' });
  assert.deepEqual(certIdentity(info({ CN: ['bob'], OU: ['A', 'B', 'A'] }), 'CN', 'OU'), { ok: true, user: 'bob', groups: ['A', 'B'] });
});

test('certIdentity: missing, ambiguous or unusable user names are errors that name the field', () => {
  const err = (i: ClientCertInfo, user: string, re: RegExp): void => {
    const r = certIdentity(i, user, 'OU');
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.match((r as { error: string }).error, re);
  };
  err(info({ OU: ['Employees'] }), 'CN', /has no CN to take the user name from \(tls\.cert-user\)/);
  err(info({ CN: ['alice', 'bob'] }), 'CN', /has 2 CN values/);
  err(info({ CN: ['Alice Smith'] }), 'CN', /CN "Alice Smith" is not a valid user name/);
  err(info({ CN: [''] }), 'CN', /is not a valid user name/);
  err(info({ CN: ['a'.repeat(65)] }), 'CN', /is not a valid user name/);
  err(info({ CN: ['evil\n\u001b[31m'] }), 'CN', /CN "evil\?\?\[31m" is not/);
  err(info({ CN: ['alice'] }), 'SAN:email', /has no SAN:email/);
  // Inherited names are not fields.
  err(info({ CN: ['alice'] }), 'constructor', /has no constructor/);
  err(info({ CN: ['alice'] }), 'toString', /has no toString/);
});

test('parseCertField: names, ocserv OIDs and SAN e-mail; anything else is refused', () => {
  assert.equal(parseCertField('CN'), 'CN');
  assert.equal(parseCertField(' commonName '), 'CN');
  assert.equal(parseCertField('2.5.4.3'), 'CN');
  assert.equal(parseCertField('2.5.4.11'), 'OU');
  assert.equal(parseCertField('0.9.2342.19200300.100.1.1'), 'UID');
  assert.equal(parseCertField('emailAddress'), 'emailAddress');
  assert.equal(parseCertField('SAN:email'), 'SAN:email');
  assert.equal(parseCertField('SAN(rfc822name)'), 'SAN:email');
  for (const bad of ['cn', 'CNN', '', '__proto__', 'toString', 'constructor', '2.5.4', 'SAN:dns']) assert.equal(parseCertField(bad), null, bad);
});

test('checkClientCertInfo: the channel copy must have the shape and bounds of a verdict', () => {
  const good = info({ CN: ['alice'], OU: ['a', 'b'] }, ['a@x']);
  assert.deepEqual(checkClientCertInfo(good), good);
  const bad: unknown[] = [
    null, 'x', [], {},
    { ...good, extra: 1 },
    { ...good, fingerprint: FP },
    { ...good, fingerprint: FP_HEX.toLowerCase() },
    { ...good, serial: '' },
    { ...good, subject: { CN: [] } },
    { ...good, subject: { CN: 'alice' } },
    { ...good, subject: { CN: [1] } },
    { ...good, subject: { 'a b': ['x'] } },
    { ...good, sanEmail: [] },
    { ...good, sanEmail: 'a@x' },
    { ...good, sanEmail: ['x'.repeat(300)] },
    { ...good, sanEmail: Array(17).fill('a@x') },
  ];
  for (const b of bad) assert.equal(checkClientCertInfo(b), null, JSON.stringify(b));
});

const parse = (yaml: string) => parseConfigText(`network: {address: 10.0.0.1/24}\n${yaml}`, 'test.yaml', '/etc/sslgate', '/etc/sslgate/test.yaml');

test('config: tls.client-ca with crl, cert-user, cert-group', () => {
  const c = parse('tls: { client-ca: ca.pem, crl: ca.crl, cert-user: UID, cert-group: 2.5.4.11 }');
  assert.deepEqual(c.tls, { clientCa: '/etc/sslgate/ca.pem', crl: '/etc/sslgate/ca.crl', certUser: 'UID', certGroup: 'OU' });
  assert.deepEqual(parse('tls: { client-ca: ca.pem }').tls, { clientCa: '/etc/sslgate/ca.pem', certUser: 'CN' });
  assert.deepEqual(parse('').tls, { certUser: 'CN' });
  const fails = (yaml: string, key: string, re: RegExp): void => {
    assert.throws(() => parse(yaml), (e: unknown) => e instanceof ConfigError && e.key === key && re.test(e.message), `${yaml} -> ${key}`);
  };
  fails('tls: { crl: ca.crl }', 'tls.crl', /needs tls\.client-ca/);
  fails('tls: { cert-user: CN }', 'tls.cert-user', /needs tls\.client-ca/);
  fails('tls: { client-ca: ca.pem, cert-user: Name }', 'tls.cert-user', /unknown certificate field "Name" \(known: CN, UID, emailAddress/);
  fails('tls: { client-ca: ca.pem, cert-group: [OU] }', 'tls.cert-group', /expected a string/);
  fails('tls: { client-ca: ca.pem, cert-users: CN }', 'tls.cert-users', /unknown key/);
});

// ---------------------------------------------------------------- with real certificates

const noOpenssl = prerequisite('the client certificate tests with openssl-made certificates', hasCommand('openssl') ? false : 'missing program: openssl');

let pkiPromise: Promise<ClientPki> | null = null;
let pkiDir: string | null = null;
/** Made once for the file (a second of openssl runs), removed when the file ends. */
function pki(): Promise<ClientPki> {
  if (!pkiPromise) {
    pkiDir = tempDir('sg-cert-unit-');
    pkiPromise = makeClientPki(pkiDir);
  }
  return pkiPromise;
}
after(() => {
  if (pkiDir) fs.rmSync(pkiDir, { recursive: true, force: true });
});

test('readClientCaFiles: reads and checks tls.client-ca and tls.crl at start', { skip: noOpenssl }, async () => {
  const p = await pki();
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);
  const ok = readClientCaFiles({ clientCa: p.caFile, crl: p.crlFile }, warn)!;
  assert.match(ok.caPem, /BEGIN CERTIFICATE/);
  assert.match(ok.crlPem!, /BEGIN X509 CRL/);
  assert.deepEqual(warnings, []);
  assert.equal(readClientCaFiles({}, warn), null);
  assert.equal(readClientCaFiles({ clientCa: p.caFile }, warn)!.crlPem, null);

  const file = (name: string, text: string): string => {
    const f = path.join(p.dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  const fails = (tls: { clientCa?: string; crl?: string }, re: RegExp): void => {
    assert.throws(() => readClientCaFiles(tls, warn), (e: unknown) => e instanceof ClientCaError && re.test(e.message), JSON.stringify(tls));
  };
  fails({ clientCa: path.join(p.dir, 'absent.pem') }, /^tls\.client-ca: cannot read .*absent\.pem/);
  fails({ clientCa: file('garbage.pem', 'hello\n') }, /^tls\.client-ca: .*garbage\.pem holds no PEM certificate/);
  fails({ clientCa: p.good.key }, /PEM block 1 is a PRIVATE KEY, not a CERTIFICATE/);
  fails({ clientCa: file('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n') }, /PEM block 1 is not a readable certificate/);
  fails({ clientCa: p.caFile, crl: file('garbage.crl', 'junk') }, /^tls\.crl: .*garbage\.crl is not a PEM certificate revocation list/);
  fails({ clientCa: p.caFile, crl: p.caFile }, /is not a PEM certificate revocation list/);
  fails({ clientCa: p.caFile, crl: path.join(p.dir, 'absent.crl') }, /^tls\.crl: cannot read/);
  // A leaf certificate given as the CA: it starts, with a warning.
  readClientCaFiles({ clientCa: p.good.cert }, warn);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /CN=alice.* is not a CA certificate/);
  // An expired CA: the same.
  readClientCaFiles({ clientCa: p.caFile }, warn, new Date('2100-01-01'));
  assert.match(warnings[1]!, /expired on/);
});

/** One handshake against a server with the gateway's client-certificate options; the verdict it sees. */
async function handshakeVerdict(port: number, verdicts: CertVerdict[], cred: { cert: string; key: string } | null): Promise<CertVerdict> {
  const n = verdicts.length;
  await new Promise<void>((resolve, reject) => {
    const c = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(cred ? { cert: fs.readFileSync(cred.cert), key: fs.readFileSync(cred.key) } : {}) });
    c.on('data', () => undefined);
    c.on('close', () => resolve());
    c.on('error', reject);
  });
  assert.equal(verdicts.length, n + 1);
  return verdicts[n]!;
}

test('real handshakes with the gateway\'s TLS options: each test certificate gets the right verdict', { skip: noOpenssl }, async (t) => {
  const p = await pki();
  const server = await generateSelfSigned('127.0.0.1', { ip: ['127.0.0.1'] });
  const verdicts: CertVerdict[] = [];
  const srv = createTlsServer(
    { cert: server.certPem, key: server.keyPem, ...clientCertTlsOptions(readClientCaFiles({ clientCa: p.caFile, crl: p.crlFile }, () => undefined)!) },
    (s: TLSSocket) => {
      verdicts.push(certVerdict(s.getPeerCertificate(), s.authorized, s.authorizationError));
      s.end();
    },
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => srv.close());
  const port = (srv.address() as AddressInfo).port;
  const v = (cred: { cert: string; key: string } | null): Promise<CertVerdict> => handshakeVerdict(port, verdicts, cred);

  const alice = verified(await v(p.good));
  assert.deepEqual(alice.subject, { CN: ['alice'], OU: ['Employees', 'Staff'], UID: ['alice'], emailAddress: ['alice@example.org'] });
  assert.deepEqual(alice.sanEmail, ['alice@example.org']);
  assert.deepEqual(certIdentity(alice, 'CN', 'OU'), { ok: true, user: 'alice', groups: ['Employees', 'Staff'] });
  assert.deepEqual(certIdentity(verified(await v(p.bob)), 'CN', 'OU'), { ok: true, user: 'bob', groups: ['Employees'] });
  assert.deepEqual(await v(null), { kind: 'none' });
  const expect = async (cred: { cert: string; key: string }, code: string, re: RegExp): Promise<void> => {
    const r = refused(await v(cred));
    assert.equal(r.code, code);
    assert.match(r.error, re);
  };
  await expect(p.expired, 'CERT_HAS_EXPIRED', /has expired \(valid until Jan 2 00:00:00 2020 GMT\)/);
  await expect(p.notYetValid, 'CERT_NOT_YET_VALID', /not valid yet \(valid from Jan 1 00:00:00 2090 GMT\)/);
  await expect(p.revoked, 'CERT_REVOKED', /has been revoked/);
  await expect(p.otherCa, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', /not issued by a CA this gateway trusts \(issuer: CN=sslgate unrelated CA\)/);
  await expect(p.serverOnly, 'INVALID_PURPOSE', /not meant for client authentication/);
  const noCn = verified(await v(p.noCn));
  assert.deepEqual(certIdentity(noCn, 'CN', 'OU'), { ok: false, error: 'The client certificate has no CN to take the user name from (tls.cert-user).' });
});

test('real handshakes without tls.crl: the revoked certificate verifies (the CRL is what refuses it)', { skip: noOpenssl }, async (t) => {
  const p = await pki();
  const server = await generateSelfSigned('127.0.0.1', { ip: ['127.0.0.1'] });
  const verdicts: CertVerdict[] = [];
  const srv = createTlsServer({ cert: server.certPem, key: server.keyPem, ...clientCertTlsOptions({ caPem: fs.readFileSync(p.caFile, 'utf8'), crlPem: null }) }, (s: TLSSocket) => {
    verdicts.push(certVerdict(s.getPeerCertificate(), s.authorized, s.authorizationError));
    s.end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => srv.close());
  const port = (srv.address() as AddressInfo).port;
  assert.deepEqual(verified(await handshakeVerdict(port, verdicts, p.revoked)).subject, { CN: ['carol'], OU: ['Employees'] });
  assert.equal(refused(await handshakeVerdict(port, verdicts, p.expired)).code, 'CERT_HAS_EXPIRED');
});

test('serveConnection with clientCerts: each auth request carries the connection\'s cert or certError', { skip: noOpenssl }, async (t) => {
  const p = await pki();
  const server = await generateSelfSigned('127.0.0.1', { ip: ['127.0.0.1'] });
  const seen: RequestContext[] = [];
  const logged: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const log = createLogger({ level: 'silent' });
  log.warn = ((obj: Record<string, unknown>, msg: string) => void logged.push({ obj, msg })) as typeof log.warn;
  log.info = ((obj: Record<string, unknown>, msg: string) => void logged.push({ obj, msg })) as typeof log.info;
  const reply: HttpReply = { status: 200, reason: 'OK', headers: [], body: 'ok', close: true };
  const auth = {
    handlePost: (_body: string, ctx: RequestContext) => {
      seen.push(ctx);
      return Promise.resolve(reply);
    },
  } as unknown as AuthHandler;
  const srv = createTlsServer({ cert: server.certPem, key: server.keyPem, ...clientCertTlsOptions(readClientCaFiles({ clientCa: p.caFile, crl: p.crlFile }, () => undefined)!) }, (s: TLSSocket) =>
    serveConnection(s, {
      auth,
      tunnel: {} as TunnelDeps,
      sessions: new SessionStore(),
      profile: () => null,
      log,
      httpLimits: { ...DEFAULT_HTTP_LIMITS },
      tunnelUp: () => assert.fail('no CONNECT here'),
      maxCookieBytes: 4096,
      events: new GatewayEvents(),
      clientCerts: true,
    }),
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => srv.close());
  const port = (srv.address() as AddressInfo).port;
  const post = (cred: { cert: string; key: string } | null): Promise<string> =>
    new Promise((resolve, reject) => {
      const c = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(cred ? { cert: fs.readFileSync(cred.cert), key: fs.readFileSync(cred.key) } : {}) }, () => {
        c.write('POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi');
      });
      let got = '';
      c.on('data', (b: Buffer) => (got += b.toString()));
      c.on('close', () => resolve(got));
      c.on('error', reject);
    });
  assert.match(await post(p.good), /^HTTP\/1\.1 200 OK/);
  assert.deepEqual(seen[0]!.cert?.subject.CN, ['alice']);
  assert.equal(seen[0]!.certError, undefined);
  assert.ok(logged.some((l) => l.msg === 'client certificate verified' && l.obj['serial'] === seen[0]!.cert!.serial));
  await post(p.revoked);
  assert.equal(seen[1]!.cert, undefined);
  assert.equal(seen[1]!.certError, 'The client certificate has been revoked.');
  const w = logged.find((l) => l.msg === 'client certificate refused');
  assert.ok(w, JSON.stringify(logged));
  assert.equal(w.obj['code'], 'CERT_REVOKED');
  assert.equal(w.obj['subject'], 'CN=carol, OU=Employees');
  await post(null);
  assert.equal(seen[2]!.cert, undefined);
  assert.equal(seen[2]!.certError, undefined);
  assert.equal(seen.length, 3);
});
