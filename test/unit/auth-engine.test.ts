/**
 * The auth engine (src/gateway/auth/engine.ts) with fake methods: chains, challenges, password
 * change, second factor, certificates, group restriction, conversation handles (single use,
 * bound to the address, bounded, expiring) and methods that throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthEngine, MAX_CONVERSATIONS, needsPassword, type SecondFactor } from '../../src/gateway/auth/engine.js';
import { certIdentity } from '../../src/gateway/auth/client-cert.js';
import type { AuthOutcome, MethodResult, PasswordMethod } from '../../src/gateway/auth/types.js';
import { parseConfigText } from '../../src/gateway/config.js';
import { silentLog } from './gateway-glue-helpers.js';

const YAML = `network: {address: 10.0.0.1/24}
tls: {client-ca: /tmp/ca.pem}
auth-servers:
  corp: {type: radius, address: 127.0.0.1:1812, secret: s}
groups:
  - name: Employees
  - name: Radius
    auth: [corp]
    network: {address: 10.1.0.1/24}
  - name: Otp
    second-factor: totp
    network: {address: 10.2.0.1/24}
  - name: Cert
    auth: [certificate]
    network: {address: 10.3.0.1/24}
  - name: CertPw
    auth: [certificate, local]
    network: {address: 10.4.0.1/24}
`;

function local(): PasswordMethod & { changed: string[] } {
  const pw = new Map([['alice', 'a-pw'], ['old', 'old-pw']]);
  const m = {
    name: 'local',
    changed: [] as string[],
    async authenticate(user: string, password: string): Promise<MethodResult> {
      if (pw.get(user) !== password) return { kind: 'reject' };
      if (user === 'old') return { kind: 'expired', message: 'Your password has expired.', canChange: true };
      return user === 'alice' ? { kind: 'accept', groups: ['Employees', 'Otp', 'CertPw'] } : { kind: 'accept' };
    },
    async changePassword(user: string, old: string, next: string): Promise<MethodResult> {
      if (next === old) return { kind: 'expired', message: 'Choose a different password.', canChange: true };
      pw.set(user, next);
      m.changed.push(user);
      return { kind: 'accept' };
    },
  };
  return m;
}

const radius: PasswordMethod = {
  name: 'corp',
  async authenticate(user, password) {
    if (user === 'down') return { kind: 'error', message: 'no RADIUS server answered' };
    if (user === 'boom') throw new Error('socket exploded');
    if (user === 'chal' && password === 'p') return { kind: 'challenge', message: 'Enter PIN', state: 'S1' };
    return password === 'r-pw' ? { kind: 'accept', groups: ['Radius'], attrs: { framedIp: '10.1.0.9', routes: ['10.9.0.0/16'] }, message: 'Welcome' } : { kind: 'reject', message: 'Bad password' };
  },
  async respond(_user, state, answer) {
    return state === 'S1' && answer === '4242' ? { kind: 'accept', groups: ['Radius'] } : { kind: 'reject' };
  },
};

const totp: SecondFactor = {
  name: 'totp',
  async begin(user) {
    return user === 'alice' ? { kind: 'challenge', message: 'Code?', state: 7 } : { kind: 'reject', message: 'No authenticator enrolled' };
  },
  async respond(_user, state, answer) {
    return state === 7 && answer === '123456' ? { kind: 'accept' } : { kind: 'reject', message: 'Wrong code' };
  },
};

function engine(now = () => Date.now()) {
  const cfg = parseConfigText(YAML, 'unit', '/tmp', '/tmp/gw.yaml');
  const l = local();
  const e = new AuthEngine({
    config: () => cfg,
    method: (n) => (n === 'local' ? l : n === 'corp' ? radius : undefined),
    secondFactor: () => totp,
    certificate: (c) => certIdentity(c, 'CN', 'OU'),
    log: silentLog,
    now,
  });
  return { e, l };
}

const R = '192.0.2.1';
const cert = (cn: string, ou?: string) => ({ subject: { CN: [cn], ...(ou ? { OU: [ou] } : {}) }, fingerprint: 'AB', serial: '01' });

function prompt(o: AuthOutcome): Extract<AuthOutcome, { kind: 'prompt' }> {
  assert.equal(o.kind, 'prompt', JSON.stringify(o));
  return o as Extract<AuthOutcome, { kind: 'prompt' }>;
}

test('engine: local password, groups restrict the profile, wrong password fails', async () => {
  const { e } = engine();
  const ok = await e.start({ group: 'Employees', user: 'alice', password: 'a-pw', remote: R });
  assert.equal(ok.kind, 'success');
  assert.deepEqual(ok.kind === 'success' && ok.identity.methods, ['local']);
  assert.deepEqual(await e.start({ group: 'Employees', user: 'alice', password: 'x', remote: R }), { kind: 'failure', reason: 'bad-credentials', message: 'Login failed.', user: 'alice' });
  const radiusGroup = await e.start({ group: 'Radius', user: 'alice', password: 'a-pw', remote: R });
  assert.equal(radiusGroup.kind, 'failure');
});

test('engine: RADIUS accept carries attributes and the reply message; a challenge is answered with the state', async () => {
  const { e } = engine();
  const ok = await e.start({ group: 'Radius', user: 'bob', password: 'r-pw', remote: R });
  assert.ok(ok.kind === 'success');
  assert.deepEqual(ok.identity.attrs, { framedIp: '10.1.0.9', routes: ['10.9.0.0/16'] });
  assert.deepEqual(ok.identity.messages, ['Welcome']);
  assert.deepEqual(ok.identity.groups, ['Radius']);
  const rej = await e.start({ group: 'Radius', user: 'bob', password: 'no', remote: R });
  assert.ok(rej.kind === 'failure' && rej.message === 'Login failed: Bad password');
  const p = prompt(await e.start({ group: 'Radius', user: 'chal', password: 'p', remote: R }));
  assert.equal(p.prompt.authId, 'challenge');
  assert.equal(p.prompt.message, 'Enter PIN');
  assert.deepEqual(p.prompt.inputs.map((i) => i.name), ['password']);
  const done = await e.answer({ handle: p.handle, fields: { password: '4242' }, remote: R });
  assert.equal(done.kind, 'success');
  // single use: the same handle again is unknown
  const again = await e.answer({ handle: p.handle, fields: { password: '4242' }, remote: R });
  assert.ok(again.kind === 'failure' && again.reason === 'conversation-unknown');
});

test('engine: a challenge answer from another address, a wrong answer, an unknown handle all fail', async () => {
  const { e } = engine();
  const p1 = prompt(await e.start({ group: 'Radius', user: 'chal', password: 'p', remote: R }));
  const other = await e.answer({ handle: p1.handle, fields: { password: '4242' }, remote: '198.51.100.7' });
  assert.ok(other.kind === 'failure' && other.reason === 'conversation-unknown');
  const p2 = prompt(await e.start({ group: 'Radius', user: 'chal', password: 'p', remote: R }));
  const wrong = await e.answer({ handle: p2.handle, fields: { answer: '1' }, remote: R });
  assert.ok(wrong.kind === 'failure' && wrong.reason === 'bad-credentials');
  const none = await e.answer({ handle: 'nope', fields: {}, remote: R });
  assert.ok(none.kind === 'failure' && none.reason === 'conversation-unknown');
});

test('engine: a backend that is down or throws is a clean backend-error', async () => {
  const { e } = engine();
  for (const user of ['down', 'boom']) {
    const o = await e.start({ group: 'Radius', user, password: 'x', remote: R });
    assert.ok(o.kind === 'failure' && o.reason === 'backend-error', JSON.stringify(o));
  }
});

test('engine: an expired local password asks for a new one; mismatch and reuse re-ask; then logs in', async () => {
  const { e, l } = engine();
  const p = prompt(await e.start({ group: 'Employees', user: 'old', password: 'old-pw', remote: R }));
  assert.equal(p.prompt.authId, 'passwd-change');
  assert.deepEqual(p.prompt.inputs.map((i) => i.name), ['new_password', 'verify_password']);
  const mismatch = prompt(await e.answer({ handle: p.handle, fields: { new_password: 'n1', verify_password: 'n2' }, remote: R }));
  assert.match(mismatch.prompt.error ?? '', /do not match/);
  const reuse = prompt(await e.answer({ handle: mismatch.handle, fields: { password: 'old-pw' }, remote: R }));
  assert.equal(reuse.prompt.error, 'Choose a different password.');
  // openconnect sends the new password once, as <password> (§2.4)
  const ok = await e.answer({ handle: reuse.handle, fields: { password: 'new-pw' }, remote: R });
  assert.equal(ok.kind, 'success');
  assert.deepEqual(l.changed, ['old']);
  assert.equal((await e.start({ group: 'Employees', user: 'old', password: 'new-pw', remote: R })).kind, 'prompt', 'still expired in this fake, but the new password is the one checked');
});

test('engine: second factor after the password; wrong code fails; not enrolled fails', async () => {
  const { e } = engine();
  const p = prompt(await e.start({ group: 'Otp', user: 'alice', password: 'a-pw', remote: R }));
  assert.equal(p.prompt.authId, 'challenge');
  const ok = await e.answer({ handle: p.handle, fields: { password: ' 123456 ' }, remote: R });
  assert.ok(ok.kind === 'success');
  assert.deepEqual(ok.identity.methods, ['local', 'totp']);
  const p2 = prompt(await e.start({ group: 'Otp', user: 'alice', password: 'a-pw', remote: R }));
  const bad = await e.answer({ handle: p2.handle, fields: { password: '000000' }, remote: R });
  assert.ok(bad.kind === 'failure' && /Wrong code/.test(bad.message));
  // The reply to the challenge names no group: the failure says which login it ended (Otp is
  // not the first group, where the handler would otherwise log it and show the form).
  assert.equal(bad.kind === 'failure' && bad.group, 'Otp');
});

test('engine: certificate only, certificate + password (names must match), no or bad certificate', async () => {
  const { e } = engine();
  const ok = await e.start({ group: 'Cert', user: '', password: '', remote: R, cert: cert('carol', 'Cert') });
  assert.ok(ok.kind === 'success' && ok.identity.user === 'carol');
  const wrongOu = await e.start({ group: 'Cert', user: '', password: '', remote: R, cert: cert('carol', 'Sales') });
  assert.ok(wrongOu.kind === 'failure' && wrongOu.reason === 'group-not-allowed');
  const none = await e.start({ group: 'Cert', user: '', password: '', remote: R });
  assert.ok(none.kind === 'failure' && none.reason === 'no-certificate');
  const noCn = await e.start({ group: 'Cert', user: '', password: '', remote: R, cert: { subject: { O: ['x'] }, fingerprint: 'AB', serial: '1' } });
  assert.ok(noCn.kind === 'failure' && noCn.reason === 'bad-certificate');
  const both = await e.start({ group: 'CertPw', user: 'alice', password: 'a-pw', remote: R, cert: cert('alice', 'CertPw') });
  assert.ok(both.kind === 'success' && both.identity.methods.join() === 'certificate,local');
  const mismatch = await e.start({ group: 'CertPw', user: 'alice', password: 'a-pw', remote: R, cert: cert('mallory', 'CertPw') });
  assert.ok(mismatch.kind === 'failure' && mismatch.reason === 'bad-certificate');
  const certOnlyNoPw = await e.start({ group: 'CertPw', user: 'alice', password: 'wrong', remote: R, cert: cert('alice', 'CertPw') });
  assert.ok(certOnlyNoPw.kind === 'failure' && certOnlyNoPw.reason === 'bad-credentials');
  const groups = parseConfigText(YAML, 'unit', '/tmp', '/tmp/gw.yaml').groups;
  assert.equal(needsPassword(groups.find((g) => g.name === 'Cert')!), false);
  assert.equal(needsPassword(groups.find((g) => g.name === 'CertPw')!), true);
});

test('engine: conversations expire after auth-timeout and are bounded in number', async () => {
  let now = 1_000_000;
  const { e } = engine(() => now);
  const p = prompt(await e.start({ group: 'Radius', user: 'chal', password: 'p', remote: R }));
  now += 61_000; // limits.auth-timeout defaults to 60 s
  const late = await e.answer({ handle: p.handle, fields: { password: '4242' }, remote: R });
  assert.ok(late.kind === 'failure' && late.reason === 'conversation-unknown');
  for (let i = 0; i < MAX_CONVERSATIONS; i++) prompt(await e.start({ group: 'Radius', user: 'chal', password: 'p', remote: R }));
  const busy = await e.start({ group: 'Radius', user: 'chal', password: 'p', remote: R });
  assert.ok(busy.kind === 'failure' && busy.reason === 'busy');
  assert.equal(e.pending, MAX_CONVERSATIONS);
});

test('config: auth-servers, groups[].auth, second-factor and accounting are validated with clear errors', () => {
  const bad: Array<[string, RegExp]> = [
    ['auth-servers: {x: {type: kerberos}}', /auth-servers\.x\.type: expected radius or ldap/],
    ['auth-servers: {x: {type: radius, secret: s}}', /auth-servers\.x\.address: required/],
    ['auth-servers: {x: {type: radius, address: "127.0.0.1:99999", secret: s}}', /auth-servers\.x\.address: expected HOST\[:PORT\]/],
    ['auth-servers: {local: {type: radius, address: h, secret: s}}', /auth-servers\.local/],
    ['auth-servers: {l: {type: ldap, url: "http://x", base: b}}', /auth-servers\.l\.url/],
    ['auth-servers: {l: {type: ldap, url: "ldap://x", base: b, user-filter: "(uid=x)"}}', /must contain \{user\}/],
    ['groups: [{name: a, auth: [nope]}]', /groups\[0\]\.auth\[0\]: unknown method "nope"/],
    ['groups: [{name: a, auth: [certificate]}]', /needs tls\.client-ca/],
    ['groups: [{name: a, second-factor: sms}]', /second-factor: expected totp/],
    ['accounting: {server: nope}', /accounting\.server/],
    ['auth-servers: {r: {type: radius, address: h, secret: s}}\naccounting: {server: r}', /needs type: radius and an accounting: address/],
  ];
  for (const [extra, re] of bad) {
    assert.throws(() => parseConfigText(`network: {address: 10.0.0.1/24}\n${extra}\n`, 'unit', '/tmp', '/tmp/gw.yaml'), re, extra);
  }
  const good = parseConfigText(`network: {address: 10.0.0.1/24}
auth-servers:
  r: {type: radius, address: [127.0.0.1, "127.0.0.2:1645"], secret: testing123, accounting: 127.0.0.1}
accounting: {server: r, interim: 60}
groups: [{name: a, auth: r, second-factor: totp}]
`, 'unit', '/tmp', '/tmp/gw.yaml');
  const r = good.authServers['r'];
  assert.ok(r && r.type === 'radius');
  assert.deepEqual(r.servers, [{ host: '127.0.0.1', port: 1812 }, { host: '127.0.0.2', port: 1645 }]);
  assert.deepEqual(r.accounting, [{ host: '127.0.0.1', port: 1813 }]);
  assert.equal(r.timeout, 3);
  assert.equal(r.retries, 2);
  assert.deepEqual(good.groups[0]!.auth, ['r']);
  assert.equal(good.groups[0]!.secondFactor, 'totp');
  assert.deepEqual(good.accounting, { server: 'r', interim: 60 });
});
