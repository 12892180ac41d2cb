/**
 * Issue 10, "Certificates": our gateway with tls.client-ca (and its CRL), cert-user CN and
 * cert-group OU, against Debian's openconnect 9.01 with `-c cert -k key`:
 *   - auth: [certificate]: logs in with no password prompt, pings; the CONNECT connection works
 *     whether or not the client shows the certificate again (the cookie is the credential);
 *   - auth: [certificate, local]: needs both (a wrong password, no certificate, another user's
 *     certificate: refused), groups from the certificate's OU;
 *   - a certificate from another CA, an expired, a not-yet-valid and a revoked one: refused,
 *     with the reason in openconnect's output and in the gateway's log;
 *   - a CRL renewed in place applies after `ctl reload` (a broken one is refused, the old stays).
 * The certificates are made by test/helpers/pki.ts with the openssl CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { interopSkipReason, tempDir } from '../helpers/netns.js';
import type { OpenconnectClient, OpenconnectOptions } from '../helpers/openconnect.js';
import { makeClientPki, type ClientPki, type KeyPair } from '../helpers/pki.js';
import { seeded } from '../helpers/seed.js';
import { ctl } from '../helpers/ctl.js';
import { gwHost } from '../helpers/sslgate.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip', 'openssl']);

test('certificate login: openconnect -c/-k against the gateway with tls.client-ca and a CRL', { skip, timeout: 300_000 }, async (t) => {
  const work = tempDir('sg-certgw-');
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const pki: ClientPki = await makeClientPki(work);
  // Passwords from the logged seed (letters and digits: they travel through stdin).
  const rng = seeded('gateway client-cert interop');
  const pw = (): string => rng.bytes(12).toString('base64').replace(/[^A-Za-z0-9]/g, 'x');
  const PW = { alice: pw(), bob: pw() };

  const bed = await GatewayBed.open(t, 'certgw');
  const tb = bed.tb;
  const emp = tb.poolNet(0);
  const staff = tb.poolNet(1);
  const gw = await bed.startGateway({
    yaml: `network:
  address: ${gwHost(staff)}/24
  routes: [${emp}, ${staff}]
tls: { client-ca: ${pki.caFile}, crl: ${pki.crlFile}, cert-user: CN, cert-group: OU }
groups:
  - name: Staff
    auth: [certificate, local]
  - name: Employees
    auth: [certificate]
    network: { address: ${gwHost(emp)}/24 }
`,
    users: [
      { name: 'alice', password: PW.alice },
      { name: 'bob', password: PW.bob },
    ],
  });

  const connect = (o: Omit<OpenconnectOptions, 'url' | 'servercert'>): OpenconnectClient => bed.connect({ noDtls: true, ...o });
  const cred = (k: KeyPair): Pick<OpenconnectOptions, 'certFile' | 'keyFile'> => ({ certFile: k.cert, keyFile: k.key });
  const output = (c: OpenconnectClient): string => c.lines.map((l) => l.text).join('\n');
  /** Runs a client that must not get a tunnel; its exit code and output. */
  const refusedRun = async (o: Omit<OpenconnectOptions, 'url' | 'servercert'>): Promise<{ code: number | null; out: string }> => {
    const c = connect(o);
    const exit = await c.proc.waitExit(60_000);
    const out = output(c);
    await bed.stop(c);
    assert.doesNotMatch(out, /^Configured as/m, 'no tunnel');
    return { code: exit.code, out };
  };
  const logsFrom = (): number => gw.proc.lines.length;
  const logsSince = (from: number): Array<Record<string, unknown>> =>
    gw.proc.lines.slice(from).filter((l) => l.text.startsWith('{')).map((l) => JSON.parse(l.text) as Record<string, unknown>);
  /**
   * The first log line since `from` with message `msg`, waiting for it: the gateway's output is
   * read asynchronously, so openconnect may have exited before the line reached the test.
   */
  const logSoon = async (from: number, msg: string): Promise<Record<string, unknown> | undefined> => {
    for (let i = 0; i < 100; i++) {
      const l = logsSince(from).find((x) => x['msg'] === msg);
      if (l) return l;
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  };

  await t.test('auth: [certificate]: logged in from the certificate with no password prompt, ping', async () => {
    const from = logsFrom();
    const c = connect({ authgroup: 'Employees', ...cred(pki.good) });
    const up = await c.waitTunnel(30_000);
    assert.ok(up.address.startsWith(emp.replace(/0\/24$/, '')), up.address);
    assert.ok(await bed.pingSoon(gwHost(emp)), 'ping through the tunnel');
    const out = output(c);
    // (The first form's message may show: it is the default group's, before openconnect switches to Employees.)
    assert.doesNotMatch(out, /^(Password|Username):/m, 'no user name or password prompt');
    await bed.stop(c);
    const logs = logsSince(from);
    const verified = logs.filter((l) => l['msg'] === 'client certificate verified');
    // The login connection and the CONNECT connection (openconnect shows its certificate on both).
    assert.ok(verified.length >= 2, JSON.stringify(logs));
    assert.deepEqual((verified[0]!['subject'] as Record<string, string[]>)['CN'], ['alice']);
    assert.ok(logs.some((l) => /logged in|login/.test(String(l['msg'])) && l['user'] === 'alice'), JSON.stringify(logs));
  });

  await t.test('the cookie is the credential: --authenticate with the certificate, then CONNECT without it', async () => {
    const a = connect({ authgroup: 'Employees', ...cred(pki.good), extraArgs: ['--authenticate'] });
    const exit = await a.proc.waitExit(30_000);
    const out = output(a);
    await bed.stop(a);
    assert.equal(exit.code, 0, out);
    // The whole cookie string (openconnect_strapkey=...; webvpn=...), as --cookie-on-stdin takes it.
    const cookie = /^COOKIE='([^']+)'/m.exec(out)?.[1];
    assert.ok(cookie, `no cookie printed:\n${out}`);
    const c = connect({ cookie });
    await c.waitTunnel(30_000);
    assert.ok(await bed.pingSoon(gwHost(emp)));
    await bed.stop(c);
  });

  await t.test('auth: [certificate, local]: certificate and password, ping', async () => {
    const c = connect({ authgroup: 'Staff', user: 'alice', password: PW.alice, ...cred(pki.good) });
    const up = await c.waitTunnel(30_000);
    assert.ok(up.address.startsWith(staff.replace(/0\/24$/, '')), up.address);
    assert.ok(await bed.pingSoon(gwHost(staff)));
    await bed.stop(c);
  });

  await t.test('auth: [certificate, local]: each half alone, or another user\'s certificate, is refused', async () => {
    const wrongPw = await refusedRun({ authgroup: 'Staff', user: 'alice', password: `${PW.alice}x`, ...cred(pki.good) });
    assert.notEqual(wrongPw.code, 0);
    assert.match(wrongPw.out, /Login failed/i, wrongPw.out);
    const noCert = await refusedRun({ authgroup: 'Staff', user: 'alice', password: PW.alice });
    assert.notEqual(noCert.code, 0);
    assert.match(noCert.out, /requires a valid client certificate/, noCert.out);
    const bobsCert = await refusedRun({ authgroup: 'Staff', user: 'alice', password: PW.alice, ...cred(pki.bob) });
    assert.notEqual(bobsCert.code, 0);
    assert.match(bobsCert.out, /does not match the certificate/, bobsCert.out);
  });

  await t.test('cert-group OU: bob (OU=Employees only) may not use Staff, and may use Employees', async () => {
    const from = logsFrom();
    const r = await refusedRun({ authgroup: 'Staff', user: 'bob', password: PW.bob, ...cred(pki.bob) });
    assert.notEqual(r.code, 0);
    assert.match(r.out, /Login failed/, r.out);
    const failed = await logSoon(from, 'login failed');
    assert.equal(failed?.['reason'], 'group-not-allowed', JSON.stringify(failed));
    assert.equal(failed?.['user'], 'bob');
    const c = connect({ authgroup: 'Employees', ...cred(pki.bob) });
    await c.waitTunnel(30_000);
    await bed.stop(c);
  });

  const bad: Array<[string, KeyPair, string, RegExp]> = [
    ['another CA', pki.otherCa, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', /not issued by a CA this gateway trusts \(issuer: CN=sslgate unrelated CA\)/],
    ['expired', pki.expired, 'CERT_HAS_EXPIRED', /has expired \(valid until Jan 2 00:00:00 2020 GMT\)/],
    ['not yet valid', pki.notYetValid, 'CERT_NOT_YET_VALID', /not valid yet/],
    ['revoked', pki.revoked, 'CERT_REVOKED', /has been revoked/],
  ];
  for (const [what, k, code, message] of bad) {
    await t.test(`a certificate ${what === 'revoked' || what === 'expired' || what === 'not yet valid' ? `that is ${what}` : `from ${what}`}: refused, and said why`, async () => {
      for (const group of ['Employees', 'Staff']) {
        const from = logsFrom();
        const o = group === 'Staff' ? { user: 'alice', password: PW.alice } : {};
        const r = await refusedRun({ authgroup: group, ...o, ...cred(k) });
        assert.notEqual(r.code, 0, r.out);
        const refusal = await logSoon(from, 'client certificate refused');
        assert.ok(refusal, `no refusal logged:\n${gw.proc.tail()}`);
        assert.equal(refusal['code'], code);
        assert.match(String(refusal['err']), message);
        // openconnect prints the form's error, for the certificate-only group too (its empty form
        // carries the reason, auth-handler.ts).
        assert.match(r.out, message, r.out);
        const failed = await logSoon(from, 'login failed');
        assert.ok(failed, `no failed login logged:\n${gw.proc.tail()}`);
        assert.equal(failed['group'], group);
        assert.equal(failed['reason'], 'no-certificate');
        t.diagnostic(`${what} / ${group}: openconnect said:\n${r.out.split('\n').slice(-4).join('\n')}`);
      }
    });
  }

  await t.test('a CRL renewed on disk applies after a reload: bob, revoked now, is refused; alice still logs in', async () => {
    await pki.ca.revoke(pki.bob.cert);
    await pki.ca.crl(pki.crlFile);
    const r = await ctl(gw, ['reload']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^reloaded; changed: .*tls\.crl/, r.stdout);
    const from = logsFrom();
    const refused = await refusedRun({ authgroup: 'Employees', ...cred(pki.bob) });
    assert.notEqual(refused.code, 0);
    const refusal = await logSoon(from, 'client certificate refused');
    assert.equal(refusal?.['code'], 'CERT_REVOKED', JSON.stringify(logsSince(from)));
    const c = connect({ authgroup: 'Employees', ...cred(pki.good) });
    await c.waitTunnel(30_000);
    await bed.stop(c);
    // A CRL file that is no CRL: the reload is refused and the running one stays.
    fs.writeFileSync(pki.crlFile, 'not a CRL\n');
    const bad = await ctl(gw, ['reload']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout + bad.stderr, /tls\.crl: .* is not a PEM certificate revocation list/);
    const again = connect({ authgroup: 'Employees', ...cred(pki.good) });
    await again.waitTunnel(30_000);
    await bed.stop(again);
  });
});
