import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthXmlError, buildAuthComplete, buildAuthRequest, parseClientAuth } from '../../src/protocol/auth-xml.js';
import { parseXml, child, childText } from '../../src/protocol/xml.js';

// Documents openconnect 9.01 sent (transcripts/ocserv-tls-only.txt).
const INIT = '<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="init" aggregate-auth-version="2"><version who="vpn">v9.01-3</version><device-id>linux-64</device-id><capabilities><auth-method>single-sign-on-v2</auth-method><auth-method>single-sign-on-external-browser</auth-method></capabilities><group-access>https://10.77.0.1/auth</group-access><group-select>Employees</group-select></config-auth>\n';
const REPLY = '<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2"><version who="vpn">v9.01-3</version><device-id>linux-64</device-id><capabilities><auth-method>single-sign-on-v2</auth-method><auth-method>single-sign-on-external-browser</auth-method></capabilities><auth><username>alice</username><password>s&lt;cret</password></auth><group-select>Employees</group-select></config-auth>\n';

test('parses openconnect init and auth-reply', () => {
  const init = parseClientAuth(INIT);
  assert.equal(init.type, 'init');
  if (init.type !== 'init') return;
  assert.equal(init.groupSelect, 'Employees');
  assert.equal(init.version, 'v9.01-3');
  assert.equal(init.deviceId, 'linux-64');
  assert.equal(init.groupAccess, 'https://10.77.0.1/auth');
  const reply = parseClientAuth(REPLY);
  assert.equal(reply.type, 'auth-reply');
  if (reply.type !== 'auth-reply') return;
  assert.equal(reply.fields.get('username'), 'alice');
  assert.equal(reply.fields.get('password'), 's<cret');
  assert.equal(reply.groupSelect, 'Employees');
});

test('parses AnyConnect logout and legacy form posts', () => {
  const lo = parseClientAuth('<config-auth client="vpn" type="logout"><session-token>TOK</session-token></config-auth>');
  assert.deepEqual(lo, { type: 'logout', sessionToken: 'TOK' });
  const legacy = parseClientAuth('username=bob&password=p%26w&group%5flist=Contractors');
  assert.equal(legacy.type, 'auth-reply');
  if (legacy.type === 'auth-reply') {
    assert.equal(legacy.fields.get('password'), 'p&w');
    assert.equal(legacy.groupSelect, 'Contractors');
    assert.equal(legacy.legacy, true);
  }
});

test('garbage, bombs and oversize documents are AuthXmlErrors', () => {
  const bomb = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><config-auth type="init"><a>&lol2;</a></config-auth>';
  for (const bad of [bomb, '<config-auth type="init"><unclosed></config-auth>', '<other/>', '<config-auth type="what"/>', '<' + 'a>'.repeat(10), '<config-auth type="init">' + '<a>'.repeat(100) + '</a>'.repeat(100) + '</config-auth>', '<config-auth type="init"><x>' + 'A'.repeat(70000) + '</x></config-auth>']) {
    assert.throws(() => parseClientAuth(bad), AuthXmlError, bad.slice(0, 40));
  }
});

test('auth-request: <?xml at byte 0, one selected option, labels and values', () => {
  const doc = buildAuthRequest({
    authId: 'main',
    message: 'Please enter your username and password.',
    inputs: [{ type: 'text', name: 'username', label: 'Username:' }, { type: 'password', name: 'password', label: 'Password:' }],
    groups: [{ name: 'Employees', label: 'Employees' }, { name: 'Contractors', label: 'External Contractors' }],
    selectedGroup: 'Contractors',
    error: 'Login failed.',
    gatewayVersion: 'sslgate test',
  });
  assert.ok(doc.startsWith('<?xml'), 'openconnect compares the first five bytes');
  const root = parseXml(doc);
  assert.equal(root.attrs['type'], 'auth-request');
  const form = child(child(root, 'auth'), 'form')!;
  const options = child(form, 'select')!.children;
  assert.deepEqual(options.map((o) => [o.attrs['value'], o.text, o.attrs['selected'] ?? null]), [
    ['Employees', 'Employees', null],
    ['Contractors', 'External Contractors', 'true'],
  ]);
  assert.equal(childText(root, 'auth', 'error'), 'Login failed.');
});

test('complete: token, cert hash and the profile manifest where openconnect looks', () => {
  const doc = buildAuthComplete({ sessionId: '7', sessionToken: 'abc_-', serverCertHash: 'AB'.repeat(20), profile: { uri: '/profiles/p.xml', sha1: 'CD'.repeat(20) }, gatewayVersion: 'v', banner: 'Hi <there>' });
  const root = parseXml(doc);
  assert.equal(root.attrs['type'], 'complete');
  assert.equal(childText(root, 'session-token'), 'abc_-');
  assert.equal(child(root, 'auth')!.attrs['id'], 'success');
  assert.equal(childText(root, 'auth', 'banner'), 'Hi <there>');
  assert.equal(childText(root, 'config', 'vpn-base-config', 'server-cert-hash'), 'AB'.repeat(20));
  const file = child(child(child(child(root, 'config'), 'vpn-profile-manifest'), 'vpn'), 'file')!;
  assert.equal(file.attrs['type'], 'profile');
  assert.equal(file.attrs['service-type'], 'user');
  assert.equal(childText(file, 'uri'), '/profiles/p.xml');
  assert.equal(childText(file, 'hash'), 'CD'.repeat(20));
});
