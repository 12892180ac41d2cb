/**
 * AuthHandler's follow-up forms (issue 10): a challenge round renders ASA's shape (PROTOCOL.md
 * §2.6.6: `<auth id="challenge">`, `<opaque is-for="sg"><auth-handle>`, a webvpncontext cookie),
 * the answer is found by the echoed opaque or by the cookie, the new-password form carries
 * new_password + verify_password, a certificate-only profile logs in at init, and a failed
 * round falls back to the main form with the message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthHandler, type RequestContext } from '../../src/gateway/auth-handler.js';
import { AuthEngine } from '../../src/gateway/auth/engine.js';
import { certIdentity } from '../../src/gateway/auth/client-cert.js';
import type { MethodResult, PasswordMethod } from '../../src/gateway/auth/types.js';
import { glue, initBody, replyBody, silentLog } from './gateway-glue-helpers.js';

const YAML = `network: {address: 10.60.0.1/24}
tls: {client-ca: /tmp/ca.pem}
groups:
  - name: Employees
  - name: Certs
    auth: [certificate]
    network: {address: 10.61.0.1/24}
`;

const ctx = (extra: Partial<RequestContext> = {}): RequestContext => ({ remoteAddr: '10.9.0.2', userAgent: 'Open AnyConnect VPN Agent v9.01', path: '/', ...extra });

const local: PasswordMethod = {
  name: 'local',
  async authenticate(user, password): Promise<MethodResult> {
    if (user === 'chal' && password === 'pw') return { kind: 'challenge', message: 'Enter the code', state: 1 };
    if (user === 'old' && password === 'pw') return { kind: 'expired', message: 'Your password has expired.', canChange: true };
    return { kind: 'reject' };
  },
  async respond(_u, _s, answer) {
    return answer === '4242' ? { kind: 'accept', message: 'Welcome back' } : { kind: 'reject' };
  },
  async changePassword() {
    return { kind: 'accept' };
  },
};

function handler() {
  const g = glue(YAML);
  const auth = new AuthEngine({
    config: () => g.config,
    method: (n) => (n === 'local' ? local : undefined),
    secondFactor: () => undefined,
    certificate: (c) => certIdentity(c, 'CN'),
    log: silentLog,
  });
  return { g, h: new AuthHandler({ ...g.authDeps, auth }) };
}

function answerBody(fields: Record<string, string>, opaque?: string): string {
  const inner = Object.entries(fields).map(([k, v]) => `<${k}>${v}</${k}>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><config-auth client="vpn" type="auth-reply" aggregate-auth-version="2"><version who="vpn">v9.01</version>${opaque ?? ''}<auth>${inner}</auth></config-auth>`;
}

test('challenge: ASA-shaped form with a handle in opaque and cookie; the echoed opaque answers it', async () => {
  const { g, h } = handler();
  const r = await h.handlePost(replyBody('chal', 'pw'), ctx());
  assert.equal(r.status, 200);
  assert.match(r.body, /<auth id="challenge">/);
  assert.match(r.body, /<message>Enter the code<\/message>/);
  assert.match(r.body, /<input type="password" name="password" label="Response:"/);
  assert.doesNotMatch(r.body, /group_list/, 'no group choice in a challenge round');
  const opaque = /<opaque is-for="sg">.*?<\/opaque>/s.exec(r.body)?.[0];
  const handle = /<auth-handle>([^<]+)<\/auth-handle>/.exec(r.body)?.[1];
  assert.ok(opaque && handle, r.body);
  assert.ok(r.headers.some(([k, v]) => k === 'Set-Cookie' && v === `webvpncontext=${handle}; Secure; HttpOnly`));
  const done = await h.handlePost(answerBody({ password: '4242' }, opaque), ctx());
  assert.match(done.body, /type="complete"/);
  assert.match(done.body, /Welcome back/, 'the backend message reaches the user');
  assert.equal(g.sessions.size, 1);
});

test('challenge: the webvpncontext cookie alone finds the login (clients that drop opaque)', async () => {
  const { g, h } = handler();
  const r = await h.handlePost(replyBody('chal', 'pw'), ctx());
  const handle = /<auth-handle>([^<]+)<\/auth-handle>/.exec(r.body)![1]!;
  const done = await h.handlePost(answerBody({ answer: '4242' }), ctx({ contextCookie: handle }));
  assert.match(done.body, /type="complete"/);
  assert.equal(g.sessions.size, 1);
});

test('challenge: a wrong answer goes back to the main form with an error, and is a scored failure', async () => {
  const { g, h } = handler();
  const r = await h.handlePost(replyBody('chal', 'pw'), ctx());
  const opaque = /<opaque is-for="sg">.*?<\/opaque>/s.exec(r.body)![0];
  const bad = await h.handlePost(answerBody({ password: '1' }, opaque), ctx());
  assert.match(bad.body, /<auth id="main">/);
  assert.match(bad.body, /<error[^>]*>Login failed.<\/error>/);
  assert.ok(g.seen.some((e) => e.type === 'auth-failure' && e.reason === 'bad-credentials' && e.user === 'chal'));
  // a forged handle
  const forged = await h.handlePost(answerBody({ password: '4242' }, '<opaque is-for="sg"><auth-handle>AAAAAAAAAAAAAAAAAAAAAA</auth-handle></opaque>'), ctx());
  assert.match(forged.body, /<auth id="main">/);
  assert.equal(g.sessions.size, 0);
});

test('password change: new_password + verify_password form, then complete', async () => {
  const { g, h } = handler();
  const r = await h.handlePost(replyBody('old', 'pw'), ctx());
  assert.match(r.body, /<auth id="passwd-change">/);
  assert.match(r.body, /name="new_password"/);
  assert.match(r.body, /name="verify_password"/);
  const opaque = /<opaque is-for="sg">.*?<\/opaque>/s.exec(r.body)![0];
  const done = await h.handlePost(answerBody({ password: 'brand-new' }, opaque), ctx());
  assert.match(done.body, /type="complete"/);
  assert.equal(g.sessions.size, 1);
});

test('certificate-only profile: an init naming it completes at once with a certificate; without one the reason is shown', async () => {
  const { g, h } = handler();
  const cert = { subject: { CN: ['carol'] }, fingerprint: 'AB', serial: '01' };
  const ok = await h.handlePost(initBody('Certs'), ctx({ cert }));
  assert.match(ok.body, /type="complete"/);
  assert.equal([...g.sessions.all()][0]?.user, 'carol');
  const none = await h.handlePost(initBody('Certs'), ctx({ certError: 'certificate has expired' }));
  assert.equal(none.status, 200);
  assert.match(none.body, /Your certificate was refused: certificate has expired/);
  assert.doesNotMatch(none.body, /name="password"/, 'nothing to type for a certificate-only profile');
  // An init that names no group gets the form (openconnect then re-inits with its --authgroup).
  const unnamed = await h.handlePost(initBody(), ctx({ cert }));
  assert.match(unnamed.body, /<auth id="main">/);
  assert.ok(g.seen.some((e) => e.type === 'auth-failure' && e.reason === 'bad-certificate'));
});
