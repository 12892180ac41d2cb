/**
 * Client side of <config-auth>: the gateway documents of the ocserv 1.1.6 transcripts
 * (shared/reference/transcripts/ocserv-tls-only.txt, ocserv-cert-auth.txt) and the ASA
 * examples of PROTOCOL.md §2.6, and the documents we send back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildAuthReply,
  buildInit,
  buildLogout,
  GatewayAuthError,
  parseGatewayAuth,
  profileFromWebvpnc,
  replyParts,
  templateText,
  type AuthForm,
} from '../../src/protocol/auth-xml-client.js';
import { parseClientAuth } from '../../src/protocol/auth-xml.js';
import { el, parseXml } from '../../src/protocol/xml.js';

const id = { version: 'v0.1.0', deviceId: 'linux-64' };

// ocserv 1.1.6, first answer (ocserv-tls-only.txt)
const OCSERV_USERNAME = `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-request">
<version who="sg">0.1(1)</version>
<auth id="main">
<message>Please enter your username.</message>
<form method="post" action="/auth">
<input type="text" name="username" label="Username:" />
<select name="group_list" label="Group:">
<option value="Employees">Employees</option>
<option value="Contractors">External Contractors</option>
</select>
</form></auth>
</config-auth>
`;

const OCSERV_PASSWORD = `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-request">
<version who="sg">0.1(1)</version>
<auth id="main">
<message>Please enter your password.</message>
<form method="post" action="/auth">
<input type="password" name="password" label="Password:" />
</form></auth>
</config-auth>
`;

const OCSERV_SUCCESS = `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="complete">
<version who="sg">0.1(1)</version>
<auth id="success">
<title>SSL VPN Service</title><banner>Welcome to the AnyConnect interop lab (ocserv)</banner></auth>
<config client="vpn" type="private"><vpn-profile-manifest><vpn rev="1.0"><file type="profile" service-type="user"><uri>/profiles/profile.xml</uri><hash type="sha1">C0BF1B1DD2BE52B4586AF4984624C3F552FFABCF</hash></file></vpn></vpn-profile-manifest>
</config></config-auth>
`;

// ASA (PROTOCOL.md §2.6.3)
const ASA_FORM = `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-request" aggregate-auth-version="2">
  <opaque is-for="sg">
    <tunnel-group>TG_EMPLOYEES</tunnel-group>
    <aggauth-handle>864640002</aggauth-handle>
    <auth-method>multiple-cert</auth-method>
    <group-alias>Employees</group-alias>
    <config-hash>1619719004259</config-hash>
  </opaque>
  <auth id="main">
    <title>Login</title>
    <message>Please enter your username and password.</message>
    <banner></banner>
    <form>
      <input type="text" name="username" label="Username:"></input>
      <input type="password" name="password" label="Password:"></input>
      <input type="hidden" name="tgcookieset" value="x&amp;y"></input>
      <input type="submit" name="Login" value="Login"></input>
      <select name="group_list" label="GROUP:">
        <option selected="true">Employees</option>
        <option>Contractors</option>
      </select>
    </form>
  </auth>
</config-auth>`;

const ASA_CHALLENGE = `<config-auth client="vpn" type="auth-request" aggregate-auth-version="2">
  <opaque is-for="sg"><tunnel-group>TG_EMPLOYEES</tunnel-group><auth-handle>-1075884786</auth-handle><config-hash>1619719004259</config-hash></opaque>
  <auth id="challenge">
    <message id="2" param1="Enter the code from your authenticator" param2="">%s</message>
    <form><input type="password" name="answer" label="Response:"></input></form>
  </auth>
</config-auth>`;

const ASA_SUCCESS = `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="complete" aggregate-auth-version="2">
<session-id>106496</session-id>
<session-token>61D5E0@106496@2C64@1A03AA09D5B053ED6F58D56ABDF4EA125F12956C</session-token>
<auth id="success"><message id="0" param1="" param2=""></message></auth>
<config client="vpn" type="private">
  <vpn-base-config><server-cert-hash>3F1C00000000000000000000000000000000009A</server-cert-hash></vpn-base-config>
  <vpn-profile-manifest><vpn rev="1.0">
    <file type="profile" service-type="user">
      <uri>/CACHE/stc/profiles/profile_corp.xml</uri>
      <hash type="sha1">A94A8FE5CCB19BA61C4C0873D391E987982FBBD3</hash></file>
  </vpn></vpn-profile-manifest>
</config>
</config-auth>`;

test('ocserv 1.1 username round: message, action, text input and the group list without selection', () => {
  const d = parseGatewayAuth(OCSERV_USERNAME);
  assert.equal(d.type, 'auth-request');
  assert.equal(d.legacy, false);
  assert.equal(d.success, false);
  assert.equal(d.gatewayVersion, '0.1(1)');
  const f = d.form!;
  assert.equal(f.authId, 'main');
  assert.equal(f.message, 'Please enter your username.');
  assert.equal(f.action, '/auth');
  assert.deepEqual(f.fields[0], { kind: 'input', type: 'text', name: 'username', label: 'Username:' });
  assert.deepEqual(f.fields[1], {
    kind: 'select',
    name: 'group_list',
    label: 'Group:',
    options: [
      { value: 'Employees', label: 'Employees', selected: false },
      { value: 'Contractors', label: 'External Contractors', selected: false },
    ],
  });
});

test('ocserv success: banner, no session-token, profile manifest', () => {
  const d = parseGatewayAuth(OCSERV_SUCCESS);
  assert.equal(d.success, true);
  assert.equal(d.type, 'complete');
  assert.equal(d.banner, 'Welcome to the AnyConnect interop lab (ocserv)');
  assert.equal(d.sessionToken, undefined);
  assert.deepEqual(d.profile, { uri: '/profiles/profile.xml', sha1: 'C0BF1B1DD2BE52B4586AF4984624C3F552FFABCF' });
  assert.equal(d.form, undefined);
});

test('ASA form: opaque kept, selected option, option text as value, submit dropped, entities decoded', () => {
  const d = parseGatewayAuth(ASA_FORM);
  assert.equal(d.opaque?.name, 'opaque');
  assert.equal(d.opaque?.attrs['is-for'], 'sg');
  const f = d.form!;
  assert.equal(f.action, undefined);
  assert.equal(f.banner, undefined, 'empty banner is no banner');
  assert.deepEqual(
    f.fields.map((x) => x.name),
    ['username', 'password', 'tgcookieset', 'group_list'],
  );
  const hidden = f.fields[2];
  assert.ok(hidden?.kind === 'input' && hidden.value === 'x&y');
  const sel = f.fields[3];
  assert.ok(sel?.kind === 'select');
  assert.deepEqual(sel.options[0], { value: 'Employees', label: 'Employees', selected: true });
});

test('ASA challenge: %s template filled from param1', () => {
  const d = parseGatewayAuth(ASA_CHALLENGE);
  assert.equal(d.form?.authId, 'challenge');
  assert.equal(d.form?.message, 'Enter the code from your authenticator');
});

test('ASA success: session token, id, server-cert-hash, profile', () => {
  const d = parseGatewayAuth(ASA_SUCCESS);
  assert.equal(d.success, true);
  assert.equal(d.sessionId, '106496');
  assert.equal(d.sessionToken, '61D5E0@106496@2C64@1A03AA09D5B053ED6F58D56ABDF4EA125F12956C');
  assert.equal(d.serverCertHash, '3F1C00000000000000000000000000000000009A');
  assert.equal(d.profile?.uri, '/CACHE/stc/profiles/profile_corp.xml');
});

test('failure shapes: <error> inside auth, type=complete without success (Cisco SSE), client-cert-request', () => {
  const failed = parseGatewayAuth(
    `<config-auth client="vpn" type="auth-request"><auth id="main"><error id="88" param1="" param2="">Login failed.</error><form><input type="password" name="password" label="Password:"/></form></auth></config-auth>`,
  );
  assert.equal(failed.error, 'Login failed.');
  assert.equal(failed.form?.error, 'Login failed.');
  const sse = parseGatewayAuth(`<config-auth client="vpn" type="complete"><error id="24">Authentication failed.</error></config-auth>`);
  assert.equal(sse.success, false);
  assert.equal(sse.error, 'Authentication failed.');
  const cert = parseGatewayAuth(`<?xml version="1.0"?><config-auth client="vpn" type="auth-request"><client-cert-request/></config-auth>`);
  assert.equal(cert.clientCertRequest, true);
});

test('legacy bare <auth> document is recognised; non-XML is an error', () => {
  const d = parseGatewayAuth(
    `<auth id="main"><title>Login</title><message>Please enter your username and password.</message><form method="post" action="/+webvpn+/index.html"><input type="text" name="username" label="Username:"/></form></auth>`,
  );
  assert.equal(d.legacy, true);
  assert.equal(d.form?.action, '/+webvpn+/index.html');
  assert.throws(() => parseGatewayAuth('<html><body>hello</body></html>'), GatewayAuthError);
  assert.throws(() => parseGatewayAuth('Login page'), GatewayAuthError);
  assert.throws(() => parseGatewayAuth(`<config-auth><auth id="main"><form method="get" action="/x"></form></auth></config-auth>`), /method get/);
});

test('templateText replaces only %s, at most twice', () => {
  const e = el('message', { param1: 'a', param2: 'b' }, ['x %s y %s z %s %d']);
  assert.equal(templateText(e), 'x a y b z %s %d');
  assert.equal(templateText(el('message', {}, ['  '])), undefined);
});

test('init: declaration first, version, device-id, group-access, group-select; readable by our gateway', () => {
  const doc = buildInit({ identity: id, groupAccess: 'https://10.77.0.1/', groupSelect: 'Employees' });
  assert.ok(doc.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="init" aggregate-auth-version="2">'));
  assert.match(doc, /<version who="vpn">v0\.1\.0<\/version><device-id>linux-64<\/device-id><group-access>https:\/\/10\.77\.0\.1\/<\/group-access><group-select>Employees<\/group-select>/);
  assert.doesNotMatch(doc, /single-sign-on/, 'no SSO methods advertised');
  const parsed = parseClientAuth(doc);
  assert.equal(parsed.type, 'init');
  assert.ok(parsed.type === 'init' && parsed.groupAccess === 'https://10.77.0.1/' && parsed.groupSelect === 'Employees');
  assert.match(buildInit({ identity: id, groupAccess: 'https://h/', clientCertFail: true }), /<client-cert-fail><\/client-cert-fail>|<client-cert-fail\/>/);
  assert.throws(() => buildInit({ identity: { version: 'v', deviceId: '' }, groupAccess: 'https://h/' }), /device-id/);
});

test('auth-reply for ocserv round 1: username under <auth>, group-select after it (transcript order)', () => {
  const form = parseGatewayAuth(OCSERV_USERNAME).form!;
  const parts = replyParts(form, new Map([['username', 'alice'], ['group_list', 'Employees']]));
  const doc = buildAuthReply({ identity: id, parts });
  assert.match(doc, /<device-id>linux-64<\/device-id><auth><username>alice<\/username><\/auth><group-select>Employees<\/group-select><\/config-auth>/);
});

test('auth-reply for ASA: opaque echoed verbatim before <auth>, hidden value echoed, escaping', () => {
  const d = parseGatewayAuth(ASA_FORM);
  const values = new Map([['username', 'al<ice'], ['password', 's3&cret'], ['group_list', 'Employees']]);
  const parts = replyParts(d.form!, values);
  const doc = buildAuthReply({ identity: id, parts, opaque: d.opaque! });
  const root = parseXml(doc.slice(doc.indexOf('\n') + 1));
  assert.deepEqual(
    root.children.map((c) => c.name),
    ['version', 'device-id', 'opaque', 'auth', 'group-select'],
  );
  const opaque = root.children[2]!;
  assert.equal(opaque.attrs['is-for'], 'sg');
  assert.deepEqual(
    opaque.children.map((c) => [c.name, c.text]),
    [
      ['tunnel-group', 'TG_EMPLOYEES'],
      ['aggauth-handle', '864640002'],
      ['auth-method', 'multiple-cert'],
      ['group-alias', 'Employees'],
      ['config-hash', '1619719004259'],
    ],
  );
  const auth = root.children[3]!;
  assert.deepEqual(
    auth.children.map((c) => [c.name, c.text]),
    [
      ['username', 'al<ice'],
      ['password', 's3&cret'],
      ['tgcookieset', 'x&y'],
    ],
  );
  // our own gateway reads it back
  const back = parseClientAuth(doc);
  assert.ok(back.type === 'auth-reply' && back.fields.get('password') === 's3&cret' && back.groupSelect === 'Employees');
});

test('challenge round (ASA rules): answer renamed to password, no group-select, the challenge opaque', () => {
  const d = parseGatewayAuth(ASA_CHALLENGE);
  const form: AuthForm = { ...d.form!, fields: [...d.form!.fields, { kind: 'select', name: 'group_list', label: 'G', options: [] }] };
  const parts = replyParts(form, new Map([['answer', '123456'], ['group_list', 'Employees']]));
  assert.deepEqual(parts, { auth: [{ name: 'password', value: '123456', secret: true }] });
  const doc = buildAuthReply({ identity: id, parts, opaque: d.opaque! });
  assert.match(doc, /<auth-handle>-1075884786<\/auth-handle>/);
  assert.match(doc, /<auth><password>123456<\/password><\/auth><\/config-auth>/);
  assert.doesNotMatch(doc, /username|group-select/);
});

test('renames and drops of §2.4: whichpin/new_password -> password, verify_* not sent', () => {
  const form: AuthForm = {
    authId: 'main',
    authenticationComplete: false,
    fields: ['new_password', 'verify_password', 'whichpin', 'verify_pin'].map((name) => ({ kind: 'input', type: 'password', name, label: name })),
  };
  const parts = replyParts(form, new Map([['new_password', 'n'], ['verify_password', 'n'], ['whichpin', 'p'], ['verify_pin', 'p']]));
  assert.deepEqual(parts.auth.map((a) => [a.name, a.value]), [['password', 'n'], ['password', 'p']]);
});

test('ocserv substring rule: an opaque holding a password-like element goes after <auth>', () => {
  const opaque = el('opaque', { 'is-for': 'sg' }, [el('old_password', {}, ['x'])]);
  const doc = buildAuthReply({ identity: id, parts: { auth: [{ name: 'password', value: 'real', secret: true }] }, opaque });
  assert.ok(doc.indexOf('<password>real</password>') < doc.indexOf('<old_password>'));
});

test('redacted reply hides password inputs for --dump-http-traffic', () => {
  const doc = buildAuthReply({
    identity: id,
    parts: { auth: [{ name: 'username', value: 'alice', secret: false }, { name: 'passcode', value: '999', secret: true }] },
    redact: true,
  });
  assert.match(doc, /<username>alice<\/username><passcode>\*\*\*\*\*\*\*\*<\/passcode>/);
});

test('logout document (§2.6.13) is read by the gateway side', () => {
  const doc = buildLogout('TOKEN@1');
  const parsed = parseClientAuth(doc);
  assert.deepEqual(parsed, { type: 'logout', sessionToken: 'TOKEN@1' });
});

test('webvpnc cookie: profile location bu+fu and hash fh (ocserv transcript)', () => {
  const v =
    'bu:/&p:t&iu:1/&sh:597A46D80BEB86C5DEE58796986C65E1D0C00C2C&lu:/+CSCOT+/translation-table?textdomain%3DAnyConnect%26type%3Dmanifest&fu:profiles%2Fprofile.xml&fh:C0BF1B1DD2BE52B4586AF4984624C3F552FFABCF';
  assert.deepEqual(profileFromWebvpnc(v), { uri: '/profiles/profile.xml', sha1: 'C0BF1B1DD2BE52B4586AF4984624C3F552FFABCF' });
  assert.equal(profileFromWebvpnc('bu:/&p:t&iu:1/&sh:597A46D80BEB86C5DEE58796986C65E1D0C00C2C'), undefined);
});

test('auth-reply for ocserv round 2: only the password, no group-select (transcript)', () => {
  const form = parseGatewayAuth(OCSERV_PASSWORD).form!;
  assert.equal(form.message, 'Please enter your password.');
  const doc = buildAuthReply({ identity: id, parts: replyParts(form, new Map([['password', 'secret']])) });
  assert.match(doc, /<device-id>linux-64<\/device-id><auth><password>secret<\/password><\/auth><\/config-auth>\n$/);
});
