/**
 * The client's pure helpers: cookie jar, gateway URL, X-Pad, trust decision, preferences.xml,
 * and the CertificateRequest reader.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { Backoff } from '../../src/client/backoff.js';
import { CookieJar } from '../../src/client/cookies.js';
import { parseGatewayUrl, resolveOn, sameHost } from '../../src/client/gateway-url.js';
import { xPad, authRequestHead } from '../../src/client/request-headers.js';
import { decideTrust } from '../../src/client/trust.js';
import {
  formatPreferences,
  knownServer,
  loadPreferences,
  parsePreferences,
  preferencesDir,
  rememberServer,
  savePreferences,
} from '../../src/client/preferences.js';
import { formatDn, parseCertificateRequest } from '../../src/client/tls-cert-request.js';
import { certSha1Hex, pinSha256 } from '../../src/protocol/cert-pin.js';
import { prerequisite } from '../helpers/prerequisites.js';

test('cookie jar: ocserv Set-Cookie sequence (expired context, then real ones)', () => {
  const jar = new CookieJar();
  jar.set('webvpncontext=; expires=Thu, 01 Jan 1970 22:00:00 GMT; path=/; Secure; HttpOnly');
  assert.equal(jar.header(), undefined);
  jar.set('webvpncontext=AZYsl6yZKanW0U1I2ES4G0GWWTpHBECfmSIY/l6KwFQ=; Max-Age=300; Secure; HttpOnly');
  jar.set('webvpn=abc=; Secure; HttpOnly');
  jar.set('webvpnc=; expires=Thu, 01 Jan 1970 22:00:00 GMT; path=/; Secure; HttpOnly');
  jar.set('webvpnc=bu:/&p:t&iu:1/&sh:597A; path=/; Secure; HttpOnly');
  assert.equal(jar.get('webvpn'), 'abc=');
  assert.equal(jar.header(), 'webvpncontext=AZYsl6yZKanW0U1I2ES4G0GWWTpHBECfmSIY/l6KwFQ=; webvpn=abc=; webvpnc=bu:/&p:t&iu:1/&sh:597A');
  jar.set('webvpn=x; Max-Age=0');
  assert.equal(jar.get('webvpn'), undefined);
});

test('gateway URL: bare host, port, group path, IPv6, Host header and group-access', () => {
  const a = parseGatewayUrl('10.77.0.1');
  assert.deepEqual(a, { host: '10.77.0.1', port: 443, path: '/', hostHeader: '10.77.0.1', groupAccess: 'https://10.77.0.1/' });
  const b = parseGatewayUrl('https://vpn.example.com:8443/Employees');
  assert.equal(b.hostHeader, 'vpn.example.com:8443');
  assert.equal(b.path, '/Employees');
  assert.equal(b.servername, 'vpn.example.com');
  assert.equal(b.groupAccess, 'https://vpn.example.com:8443/Employees');
  const c = parseGatewayUrl('https://[2001:db8::1]:444/');
  assert.equal(c.host, '2001:db8::1');
  assert.equal(c.hostHeader, '[2001:db8::1]:444');
  assert.equal(c.servername, undefined);
  assert.throws(() => parseGatewayUrl('http://x'), /https/);
  assert.throws(() => parseGatewayUrl('https://bob@x'), /--user/);
  const d = resolveOn(b, '/auth');
  assert.equal(d.path, '/auth');
  assert.ok(sameHost(b, d));
  assert.ok(!sameHost(b, resolveOn(b, 'https://other.example.com/')));
});

test('X-Pad matches the transcript (364 -> 20 zeros, 406 -> 42) and the head order', () => {
  assert.equal(xPad(364).length, 20);
  assert.equal(xPad(406).length, 42);
  assert.equal(xPad(400).length, 48);
  assert.equal(xPad(363).length, 21);
  const head = authRequestHead({ method: 'POST', target: '/auth', hostHeader: 'h', userAgent: 'UA', cookie: 'a=1', body: 'xyz' });
  assert.equal(
    head,
    'POST /auth HTTP/1.1\r\nHost: h\r\nUser-Agent: UA\r\nCookie: a=1\r\nAccept: */*\r\nAccept-Encoding: identity\r\nX-Transcend-Version: 1\r\nX-Aggregate-Auth: 1\r\nX-Support-HTTP-Auth: true\r\n' +
      `X-Pad: ${'0'.repeat(61)}\r\nContent-Type: application/xml; charset=utf-8\r\nContent-Length: 3\r\n\r\n`,
  );
});

// A throw-away self-signed certificate for the trust rules.
const dir = mkdtempSync(join(tmpdir(), 'sslgate-client-pure-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
function makeCert(cn: string): Buffer {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, `${cn}.key`),
    '-out', join(dir, `${cn}.pem`), '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  return new X509Certificate(readFileSync(join(dir, `${cn}.pem`))).raw;
}
const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const noOpenssl = prerequisite('the certificate trust tests', !hasOpenssl && 'no openssl (needed for test certificates)');

test('trust: untrusted without pin is refused with the exact --servercert value', { skip: noOpenssl }, () => {
  const der = makeCert('one');
  const d = decideTrust({ host: '10.0.0.1', port: 443, der, pins: [], verifyError: 'self-signed certificate' });
  assert.equal(d.ok, false);
  assert.ok(!d.ok && d.reason === 'untrusted');
  assert.ok(d.message.includes(`--servercert ${pinSha256(der)}`));
  // every pin form of §3.1 is accepted
  for (const pin of [pinSha256(der), certSha1Hex(der), certSha1Hex(der).toLowerCase().slice(0, 8)]) {
    const ok = decideTrust({ host: '10.0.0.1', port: 443, der, pins: [pin], verifyError: 'x' });
    assert.ok(ok.ok && ok.how === 'pinned', pin);
  }
  const wrong = decideTrust({ host: '10.0.0.1', port: 443, der, pins: ['pin-sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='] });
  assert.ok(!wrong.ok && wrong.reason === 'pin-mismatch');
  const wrongEvenIfValid = decideTrust({ host: '10.0.0.1', port: 443, der, pins: ['sha1:0000'] });
  assert.ok(!wrongEvenIfValid.ok, 'a pin overrides CA trust: only that key is accepted');
});

test('trust: a changed certificate for a known host is refused unless pinned', { skip: noOpenssl }, () => {
  const der = makeCert('two');
  const known = { host: 'vpn', port: 443, sha1: 'AB'.repeat(20), pin: 'pin-sha256:old' };
  const d = decideTrust({ host: 'vpn', port: 443, der, pins: [], known });
  assert.ok(!d.ok && d.reason === 'changed');
  assert.match(d.message, /HAS CHANGED/);
  assert.ok(d.message.includes(pinSha256(der)));
  const pinned = decideTrust({ host: 'vpn', port: 443, der, pins: [pinSha256(der)], known });
  assert.ok(pinned.ok && pinned.changed);
  const same = decideTrust({ host: 'vpn', port: 443, der, pins: [], known: { ...known, sha1: certSha1Hex(der) } });
  assert.ok(same.ok && same.how === 'verified' && !same.firstTime);
});

test('preferences.xml: AnyConnect elements, per-host records, unknown elements kept, atomic save', () => {
  const p = parsePreferences(`<?xml version="1.0" encoding="UTF-8"?>
<AnyConnectPreferences>
<DefaultUser>alice</DefaultUser>
<DefaultSecondUser></DefaultSecondUser>
<ClientCertificateThumbprint></ClientCertificateThumbprint>
<ServerCertificateThumbprint>AAAA</ServerCertificateThumbprint>
<DefaultHostName>vpn.example.com</DefaultHostName>
<DefaultHostAddress>vpn.example.com</DefaultHostAddress>
<DefaultGroup>Employees</DefaultGroup>
<ProxyHost></ProxyHost>
<ControllablePreferences></ControllablePreferences>
</AnyConnectPreferences>`);
  assert.equal(p.defaultUser, 'alice');
  assert.equal(p.defaultGroup, 'Employees');
  assert.deepEqual(p.other.map((e) => e.name), ['DefaultSecondUser', 'ClientCertificateThumbprint', 'ProxyHost', 'ControllablePreferences']);
  rememberServer(p, { host: 'vpn.example.com', port: 443, sha1: 'C0BF1B1DD2BE52B4586AF4984624C3F552FFABCF', pin: 'pin-sha256:x' });
  rememberServer(p, { host: '10.0.0.1', port: 8443, sha1: '597A46D80BEB86C5DEE58796986C65E1D0C00C2C' });
  const text = formatPreferences(p);
  assert.ok(text.startsWith('<?xml'));
  assert.match(text, /<ServerCertificateThumbprint>C0BF1B1DD2BE52B4586AF4984624C3F552FFABCF<\/ServerCertificateThumbprint>/);
  const back = parsePreferences(text);
  assert.equal(knownServer(back, 'VPN.example.com', 443)?.sha1, 'C0BF1B1DD2BE52B4586AF4984624C3F552FFABCF');
  assert.equal(knownServer(back, '10.0.0.1', 8443)?.sha1, '597A46D80BEB86C5DEE58796986C65E1D0C00C2C');
  assert.equal(knownServer(back, '10.0.0.1', 443), undefined);
  assert.equal(back.other.length, 4);

  const d = join(dir, 'prefs');
  assert.deepEqual(loadPreferences(d).servers, []);
  savePreferences(d, back);
  assert.equal(loadPreferences(d).servers.length, 2);
  writeFileSync(join(d, 'preferences.xml'), 'not xml <');
  const problems: string[] = [];
  assert.deepEqual(loadPreferences(d, (m) => problems.push(m)).servers, []);
  assert.equal(problems.length, 1);
  assert.equal(preferencesDir(undefined, { SSLGATE_PREFS_DIR: '/x' }), '/x');
  assert.equal(preferencesDir(undefined, { XDG_CONFIG_HOME: '/cfg' }), '/cfg/sslgate');
  assert.equal(preferencesDir('/explicit', { SSLGATE_PREFS_DIR: '/x' }), '/explicit');
});

test('CertificateRequest reader: CA names from a TLS 1.2 server flight', () => {
  // DN: SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String "Test CA" } } }
  const cn = Buffer.from('Test CA');
  const atv = Buffer.concat([Buffer.from([0x30, 5 + 2 + cn.length, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, cn.length]), cn]);
  const set = Buffer.concat([Buffer.from([0x31, atv.length]), atv]);
  const dn = Buffer.concat([Buffer.from([0x30, set.length]), set]);
  assert.equal(formatDn(dn), 'CN=Test CA');
  const cas = Buffer.concat([Buffer.from([dn.length >> 8, dn.length & 0xff]), dn]);
  const body = Buffer.concat([Buffer.from([1, 0x40, 0, 2, 0x04, 0x01, cas.length >> 8, cas.length & 0xff]), cas]);
  const hs = Buffer.concat([Buffer.from([13, 0, body.length >> 8, body.length & 0xff]), body]);
  const serverHelloDone = Buffer.from([14, 0, 0, 0]);
  const payload = Buffer.concat([hs, serverHelloDone]);
  const record = Buffer.concat([Buffer.from([22, 3, 3, payload.length >> 8, payload.length & 0xff]), payload]);
  assert.deepEqual(parseCertificateRequest(record), { requested: true, authorities: ['CN=Test CA'] });
  const noReq = Buffer.concat([Buffer.from([22, 3, 3, 0, 4]), serverHelloDone]);
  assert.deepEqual(parseCertificateRequest(noReq), { requested: false, authorities: [] });
});

test('reconnect back-off: at once, then 1 s doubling to 30 s, nothing past --reconnect-timeout', () => {
  const b = new Backoff(0, 60);
  assert.deepEqual([b.next(0), b.next(0), b.next(1000), b.next(3000), b.next(7000), b.next(15000)], [0, 1000, 2000, 4000, 8000, 16000]);
  assert.equal(b.next(29000), 30000, 'capped at 30 s, still inside the deadline');
  assert.equal(b.next(31000), null, '31 s + 30 s would start past 60 s');
  const short = new Backoff(0, 3);
  assert.equal(short.next(0), 0);
  assert.equal(short.next(500), 1000);
  assert.equal(short.next(1500), null, 'an attempt at 3.5 s would be past the 3 s timeout');
});
