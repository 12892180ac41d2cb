/**
 * The login flow against a scripted in-process gateway that answers like a Cisco ASA
 * (PROTOCOL.md §2.6.3, §2.6.6, §10.5): group change by a new init, opaque echoed verbatim,
 * challenge round rules, <error> on failure, session-token, helper cookies, one kept-alive
 * connection; and the "no aggregate-auth v2" cases. No root needed (openssl makes the cert).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { authenticate } from '../../src/client/auth-flow.js';
import { AuthFailedError, ClientError } from '../../src/client/errors.js';
import { FormEntries } from '../../src/client/form-entries.js';
import { FormFiller } from '../../src/client/forms.js';
import { TotpSource } from '../../src/client/token-source.js';
import { totpCode } from '../../src/client/totp-code.js';
import { parseGatewayUrl } from '../../src/client/gateway-url.js';
import { Progress } from '../../src/client/progress.js';
import type { Prompter } from '../../src/client/prompts.js';
import { TlsConnector } from '../../src/client/tls-connect.js';
import { pinSha256 } from '../../src/protocol/cert-pin.js';
import type { HttpRequest } from '../../src/protocol/http.js';
import { parseClientAuth } from '../../src/protocol/auth-xml.js';
import { X509Certificate } from 'node:crypto';
import { fakeGateway as startFakeGateway, type FakeGateway, type Reply } from '../helpers/fake-auth-gateway.js';
import { requireOrSkip } from '../helpers/prerequisites.js';

let dir = '';
let key: Buffer;
let cert: Buffer;
let hasOpenssl = true;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sslgate-authflow-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k.pem'),
      '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=asa.test'], { stdio: 'ignore' });
    key = readFileSync(join(dir, 'k.pem'));
    cert = readFileSync(join(dir, 'c.pem'));
  } catch {
    hasOpenssl = false;
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The scripted gateway with this file's certificate. */
const fakeGateway = (script: (req: HttpRequest, i: number) => Reply): Promise<FakeGateway> => startFakeGateway({ key, cert }, script);

function fixedPrompter(lines: string[]): Prompter {
  return {
    interactive: false,
    ask: () => Promise.reject(new Error('not interactive')),
    stdinLine: () => Promise.resolve(lines.shift()),
    close: () => undefined,
  };
}

async function login(url: string, o: { user?: string; lines?: string[]; authgroup?: string; token?: TotpSource; entries?: string[]; out?: string[] }) {
  const out = o.out;
  const progress = new Progress({ verbosity: 0, dumpHttp: false, out: { write: (s: string) => (out?.push(s), true) } as unknown as NodeJS.WritableStream });
  const connector = new TlsConnector({ noSystemTrust: true, pins: [pinSha256(new X509Certificate(cert).raw)], connectTimeoutMs: 5000 }, () => undefined);
  const filler = new FormFiller(
    {
      ...(o.user ? { user: o.user } : {}),
      passwordOnStdin: true,
      prompter: fixedPrompter(o.lines ?? []),
      ...(o.token ? { token: o.token } : {}),
      ...(o.entries ? { formEntries: FormEntries.parse(o.entries) } : {}),
    },
    progress,
  );
  const res = await authenticate({
    url: parseGatewayUrl(url),
    connector,
    userAgent: 'AnyConnect-compatible sslgate VPN Agent vtest',
    identity: { version: 'vtest', deviceId: 'linux-64' },
    filler,
    progress,
    ...(o.authgroup ? { authgroup: o.authgroup } : {}),
  });
  res.conn?.destroy();
  return res;
}

const asaForm = (group: string, tg: string, error = ''): string => `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-request" aggregate-auth-version="2">
<opaque is-for="sg"><tunnel-group>${tg}</tunnel-group><aggauth-handle>864640002</aggauth-handle><group-alias>${group}</group-alias><config-hash>1619719004259</config-hash></opaque>
<auth id="main"><title>Login</title><message>Please enter your username and password.</message>${error}
<form><input type="text" name="username" label="Username:"></input><input type="password" name="password" label="Password:"></input>
<select name="group_list" label="GROUP:"><option${group === 'Employees' ? ' selected="true"' : ''}>Employees</option><option${group === 'Contractors' ? ' selected="true"' : ''}>Contractors</option></select>
</form></auth></config-auth>`;

const CHALLENGE = `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-request" aggregate-auth-version="2">
<opaque is-for="sg"><tunnel-group>TG_CON</tunnel-group><auth-handle>-1075884786</auth-handle><config-hash>1619719004259</config-hash></opaque>
<auth id="challenge"><message id="2" param1="Enter the code from your authenticator" param2="">%s</message>
<form><input type="password" name="answer" label="Response:"></input></form></auth></config-auth>`;

const COMPLETE = `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="complete" aggregate-auth-version="2"><session-id>106496</session-id>
<session-token>61D5E0@106496@2C64@1A03AA09D5B053ED6F58D56ABDF4EA125F12956C</session-token>
<auth id="success"><message id="0" param1="" param2=""></message><banner>Authorised use only</banner></auth>
<config client="vpn" type="private"><vpn-base-config><server-cert-hash>00</server-cert-hash></vpn-base-config></config></config-auth>`;

test('ASA flow: group change by new init, opaque echo, challenge rules, session-token, one connection', { skip: false }, async (t) => {
  if (requireOrSkip(t, 'the TLS auth-flow tests', !hasOpenssl && 'no openssl (needed for a test certificate)')) return;
  const gw = await fakeGateway((req, i) => {
    switch (i) {
      case 0:
        return { body: asaForm('Employees', 'TG_EMP'), headers: [['Set-Cookie', 'webvpnlogin=1; secure']] };
      case 1:
        return { body: asaForm('Contractors', 'TG_CON') };
      case 2:
        return { body: CHALLENGE };
      default:
        return { body: COMPLETE };
    }
  });
  try {
    const res = await login(gw.url, { user: 'alice', lines: ['s3cret', '123456'], authgroup: 'Contractors' });
    assert.equal(res.cookie, '61D5E0@106496@2C64@1A03AA09D5B053ED6F58D56ABDF4EA125F12956C');
    assert.equal(res.sessionToken, res.cookie);
    assert.equal(res.sessionId, '106496');
    assert.equal(res.banner, 'Authorised use only');
    assert.equal(res.group, 'Contractors');
    assert.equal(gw.conns(), 1, 'the whole login on one kept-alive connection');
    const docs = gw.reqs.map((r) => parseClientAuth(r.body.toString('utf8')));
    // 1: plain init; 2: new init with the chosen group (never a reply with only the group)
    assert.deepEqual(docs[0], { type: 'init', version: 'vtest', deviceId: 'linux-64', clientCertFail: false, groupAccess: gw.url + '/' });
    assert.ok(docs[1]!.type === 'init' && docs[1]!.groupSelect === 'Contractors');
    // 3: credentials, group-select, the Contractors opaque verbatim
    const reply = docs[2]!;
    assert.ok(reply.type === 'auth-reply');
    assert.deepEqual([...reply.fields], [['username', 'alice'], ['password', 's3cret']]);
    assert.equal(reply.groupSelect, 'Contractors');
    assert.equal(reply.opaque?.children.find((c) => c.name === 'tunnel-group')?.text, 'TG_CON');
    // 4: challenge: only <password> (renamed from answer), no username, no group-select, its opaque
    const ch = docs[3]!;
    assert.ok(ch.type === 'auth-reply');
    assert.deepEqual([...ch.fields], [['password', '123456']]);
    assert.equal(ch.groupSelect, undefined);
    assert.equal(ch.opaque?.children.find((c) => c.name === 'auth-handle')?.text, '-1075884786');
    // headers an ASA needs (§10.5 item 2), the helper cookie sent back, no X-AnyConnect-Platform
    const h = gw.reqs[1]!.headers;
    assert.equal(h.get('X-Transcend-Version'), '1');
    assert.equal(h.get('X-Aggregate-Auth'), '1');
    assert.match(h.get('User-Agent') ?? '', /^AnyConnect/);
    assert.equal(h.get('Cookie'), 'webvpnlogin=1');
    assert.equal(h.get('X-AnyConnect-Platform'), undefined);
    assert.equal(gw.reqs[1]!.target, '/');
  } finally {
    gw.close();
  }
});

test('ASA wrong password: <error> and the form again -> AuthFailedError with the text', async (t) => {
  if (requireOrSkip(t, 'the TLS auth-flow tests', !hasOpenssl && 'no openssl (needed for a test certificate)')) return;
  const gw = await fakeGateway((_req, i) =>
    i === 0 ? { body: asaForm('Employees', 'TG_EMP') } : { body: asaForm('Employees', 'TG_EMP', '<error id="88" param1="" param2="">Login failed.</error>') },
  );
  try {
    await assert.rejects(login(gw.url, { user: 'alice', lines: ['bad'] }), (e: unknown) => e instanceof AuthFailedError && e.message === 'login failed: Login failed.');
    assert.equal(gw.reqs.length, 2, 'no second attempt with the same credentials');
  } finally {
    gw.close();
  }
});

test('gateways without aggregate-auth v2: same-host redirect, legacy <auth>, HTML', async (t) => {
  if (requireOrSkip(t, 'the TLS auth-flow tests', !hasOpenssl && 'no openssl (needed for a test certificate)')) return;
  for (const [reply, pattern] of [
    [{ status: 302, reason: 'Found', headers: [['Location', '/+webvpn+/index.html']] as Array<[string, string]> }, /redirected the login .* does not support aggregate-auth v2/],
    [{ body: '<auth id="main"><message>Please log in</message><form method="post" action="/+webvpn+/index.html"><input type="text" name="username"/></form></auth>' }, /legacy login form .* aggregate-auth v2/],
    [{ body: '<html><body>SSL VPN portal</body></html>' }, /does not speak aggregate-auth v2/],
  ] as const) {
    const gw = await fakeGateway(() => reply);
    try {
      await assert.rejects(login(gw.url, { user: 'alice', lines: ['x'] }), (e: unknown) => e instanceof ClientError && pattern.test(e.message));
    } finally {
      gw.close();
    }
  }
});

test('<client-cert-request/> without a certificate: a clear error', async (t) => {
  if (requireOrSkip(t, 'the TLS auth-flow tests', !hasOpenssl && 'no openssl (needed for a test certificate)')) return;
  const gw = await fakeGateway(() => ({ body: '<?xml version="1.0"?><config-auth client="vpn" type="auth-request"><client-cert-request/></config-auth>' }));
  try {
    await assert.rejects(login(gw.url, {}), /asks for a client certificate, but none is configured \(use --certificate\/--sslkey\)/);
  } finally {
    gw.close();
  }
});

test('SPNEGO offered with a fallback: asked again without X-Support-HTTP-Auth', async (t) => {
  if (requireOrSkip(t, 'the TLS auth-flow tests', !hasOpenssl && 'no openssl (needed for a test certificate)')) return;
  const gw = await fakeGateway((req, i) => {
    if (i === 0) return { status: 401, reason: 'Unauthorized', headers: [['WWW-Authenticate', 'Negotiate'], ['X-HTTP-Auth-Support', 'fallback']] };
    return req.headers.has('X-Support-HTTP-Auth') ? { status: 500 } : { body: COMPLETE };
  });
  try {
    const res = await login(gw.url, {});
    assert.equal(res.sessionId, '106496');
    assert.equal(gw.reqs[0]!.headers.get('X-Support-HTTP-Auth'), 'true');
    assert.equal(gw.reqs[1]!.headers.get('X-Support-HTTP-Auth'), undefined);
    assert.equal(gw.reqs[1]!.body.toString(), gw.reqs[0]!.body.toString(), 'the same init again');
  } finally {
    gw.close();
  }
});

test('ASA "Certificate Validation Failure" without a certificate: says a client certificate is wanted', async (t) => {
  if (requireOrSkip(t, 'the TLS auth-flow tests', !hasOpenssl && 'no openssl (needed for a test certificate)')) return;
  const gw = await fakeGateway(() => ({ body: asaForm('Employees', 'TG_EMP', '<error id="15" param1="" param2="">Certificate Validation Failure</error>') }));
  try {
    await assert.rejects(login(gw.url, { user: 'alice', lines: ['x'] }), /Certificate Validation Failure: the gateway wants a client certificate \(use --certificate\/--sslkey\)/);
  } finally {
    gw.close();
  }
});

// sslgate's own multi-step forms (issue 10): a "challenge" form with a `password` input for the
// TOTP/RADIUS code and a "passwd-change" form with new_password + verify_password; the
// conversation handle travels in <opaque is-for="sg"><auth-handle> and a webvpncontext cookie.
const sgForm = (authId: string, handle: string, fields: string, extra = ''): string => `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-request" aggregate-auth-version="2">
<opaque is-for="sg"><auth-handle>${handle}</auth-handle><group-alias>Employees</group-alias></opaque>
<auth id="${authId}">${extra}<form method="post" action="/auth">${fields}</form></auth></config-auth>`;
const SG_MAIN = sgForm('main', 'h0', '<input type="text" name="username" label="Username:"/><input type="password" name="password" label="Password:"/>');
const SG_CHALLENGE = (handle: string, error = ''): string =>
  sgForm('challenge', handle, '<input type="password" name="password" label="Verification code:"/>', `<message>Enter the code from your authenticator app</message>${error}`);
const SG_CHANGE = sgForm('passwd-change', 'h2', '<input type="password" name="new_password" label="New password:"/><input type="password" name="verify_password" label="Confirm:"/>', '<message>Your password has expired</message>');
const SG_SUCCESS = `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="complete" aggregate-auth-version="2"><auth id="success"><message>Welcome</message></auth></config-auth>`;

test('sslgate gateway forms: token answers the challenge, opaque and webvpncontext echoed, new password sent once', async (t) => {
  if (requireOrSkip(t, 'the TLS auth-flow tests', !hasOpenssl && 'no openssl (needed for a test certificate)')) return;
  const key = Buffer.from('12345678901234567890');
  const now = 1_700_000_000;
  const gw = await fakeGateway((_req, i) => {
    switch (i) {
      case 0:
        return { body: SG_MAIN };
      case 1:
        return { body: SG_CHALLENGE('h1'), headers: [['Set-Cookie', 'webvpncontext=CTX1; Secure; HttpOnly']] };
      case 2:
        return { body: SG_CHANGE, headers: [['Set-Cookie', 'webvpncontext=CTX2; Secure; HttpOnly']] };
      default:
        return { body: SG_SUCCESS, headers: [['Set-Cookie', 'webvpn=COOKIE; Secure']] };
    }
  });
  try {
    const out: string[] = [];
    const res = await login(gw.url, { user: 'alice', lines: ['old-pw', 'N3w-pw'], token: new TotpSource({ key, algorithm: 'sha1', form: 'raw' }, () => now), out });
    assert.equal(res.cookie, 'COOKIE');
    const docs = gw.reqs.map((r) => parseClientAuth(r.body.toString('utf8')));
    assert.deepEqual([...(docs[1] as { fields: Map<string, string> }).fields], [['username', 'alice'], ['password', 'old-pw']]);
    // the challenge: only the code, the challenge's opaque, the context cookie
    const ch = docs[2]!;
    assert.ok(ch.type === 'auth-reply');
    assert.deepEqual([...ch.fields], [['password', totpCode(key, now)]]);
    assert.equal(ch.groupSelect, undefined);
    assert.equal(ch.opaque?.children.find((c) => c.name === 'auth-handle')?.text, 'h1');
    assert.equal(gw.reqs[2]!.headers.get('Cookie'), 'webvpncontext=CTX1');
    assert.equal(gw.reqs[2]!.target, '/auth');
    // the new password: once, as <password>, from stdin's next line
    const ch2 = docs[3]!;
    assert.ok(ch2.type === 'auth-reply');
    assert.deepEqual([...ch2.fields], [['password', 'N3w-pw']]);
    assert.equal(ch2.opaque?.children.find((c) => c.name === 'auth-handle')?.text, 'h2');
    assert.equal(gw.reqs[3]!.headers.get('Cookie'), 'webvpncontext=CTX2');
    // what the person sees
    const text = out.join('');
    assert.match(text, /Enter the code from your authenticator app/);
    assert.match(text, /Your password has expired/);
    assert.match(text, /Welcome/, 'the success <message>');
  } finally {
    gw.close();
  }
});

test('sslgate challenge refuses a code: one more with the next step, then a clean failure with the gateway\'s words', async (t) => {
  if (requireOrSkip(t, 'the TLS auth-flow tests', !hasOpenssl && 'no openssl (needed for a test certificate)')) return;
  const key = Buffer.from('12345678901234567890');
  const now = 1_700_000_000;
  const refused = '<error id="1">Wrong code</error>';
  const gw = await fakeGateway((_req, i) => (i === 0 ? { body: SG_MAIN } : i === 1 ? { body: SG_CHALLENGE('h1') } : { body: SG_CHALLENGE(`h${i}`, refused) }));
  try {
    const out: string[] = [];
    await assert.rejects(
      login(gw.url, { user: 'alice', lines: ['pw'], token: new TotpSource({ key, algorithm: 'sha1', form: 'raw' }, () => now), out }),
      (e: unknown) => e instanceof AuthFailedError && e.message === 'login failed: Wrong code',
    );
    const docs = gw.reqs.map((r) => parseClientAuth(r.body.toString('utf8')));
    assert.equal(docs.length, 4, 'password, first code, second code; then no guessing');
    assert.deepEqual([...(docs[2] as { fields: Map<string, string> }).fields], [['password', totpCode(key, now)]]);
    assert.deepEqual([...(docs[3] as { fields: Map<string, string> }).fields], [['password', totpCode(key, now + 30)]]);
    assert.equal((docs[3] as { opaque?: { children: Array<{ name: string; text: string }> } }).opaque?.children.find((c) => c.name === 'auth-handle')?.text, 'h2', 'the latest opaque');
    assert.match(out.join(''), /Wrong code/);
  } finally {
    gw.close();
  }
});

test('-F answers a challenge and picks the group (main:group_list)', async (t) => {
  if (requireOrSkip(t, 'the TLS auth-flow tests', !hasOpenssl && 'no openssl (needed for a test certificate)')) return;
  const gw = await fakeGateway((_req, i) => {
    switch (i) {
      case 0:
        return { body: asaForm('Employees', 'TG_EMP') };
      case 1:
        return { body: asaForm('Contractors', 'TG_CON') };
      case 2:
        return { body: CHALLENGE };
      default:
        return { body: COMPLETE };
    }
  });
  try {
    await login(gw.url, { user: 'alice', lines: ['s3cret'], entries: ['main:group_list=Contractors', 'challenge:answer=777111'] });
    const docs = gw.reqs.map((r) => parseClientAuth(r.body.toString('utf8')));
    assert.ok(docs[1]!.type === 'init' && docs[1]!.groupSelect === 'Contractors');
    assert.deepEqual([...(docs[3] as { fields: Map<string, string> }).fields], [['password', '777111']]);
  } finally {
    gw.close();
  }
});
