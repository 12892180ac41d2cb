import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DEFAULT_YAML, parseConfigText } from '../../src/gateway/config.js';

const parse = (yaml: string) => parseConfigText(yaml, 'test.yaml', '/etc/sslgate', '/etc/sslgate/test.yaml');

test('the issue example parses, paths resolve relative to the file', () => {
  const c = parse(`
listen: 10.77.0.1:443
tls: { cert: server-cert.pem, key: server-key.pem }
state: ./state
network:
  address: 192.168.77.1/24
  dns: [192.168.77.1]
  routes: [192.168.77.0/24]
groups:
  - name: Employees
  - name: Contractors
    label: External Contractors
    network: { address: 192.168.78.1/24 }
profile: profile.xml
`);
  assert.deepEqual(c.listen, { host: '10.77.0.1', port: 443 });
  assert.equal(c.tls.cert, '/etc/sslgate/server-cert.pem');
  assert.equal(c.state, '/etc/sslgate/state');
  assert.equal(c.profile, '/etc/sslgate/profile.xml');
  assert.equal(c.groups[0]!.label, 'Employees');
  assert.equal(c.groups[1]!.label, 'External Contractors');
  assert.equal(c.groups[1]!.network.address.prefix, 24);
  // per-group network inherits DNS and routes
  assert.deepEqual(c.groups[1]!.network.dns, ['192.168.77.1']);
  assert.equal(c.groups[0]!.network, c.network);
});

test('embedded defaults are valid', () => {
  const c = parseConfigText(DEFAULT_YAML, 'defaults', '/tmp', null);
  assert.equal(c.listen.port, 443);
  assert.equal(c.groups.length, 1);
});

function expectError(yaml: string, key: string): void {
  assert.throws(() => parse(yaml), (e: unknown) => e instanceof ConfigError && e.key === key, `expected an error naming ${key}`);
}

test('errors name the key and the problem', () => {
  expectError('listen: nonsense\nnetwork: {address: 10.0.0.1/24}', 'listen');
  expectError('network: {address: 10.0.0.0/24}', 'network.address');
  expectError('network: {address: 10.0.0.1/33}', 'network.address');
  expectError('network: {}', 'network.address');
  expectError('network: {address: 10.0.0.1/24, dns: [foo]}', 'network.dns[0]');
  expectError('network: {address: 10.0.0.1/24}\ngroups: [{name: A}, {name: a}]', 'groups[1].name');
  expectError('network: {address: 10.0.0.1/24}\ngroups: [{name: A}, {name: B, network: {address: 10.0.0.129/25}}]', 'groups');
  expectError('network: {address: 10.0.0.1/24}\ntls: {cert: a.pem}', 'tls.key');
  expectError('network: {address: 10.0.0.1/24}\nbogus: 1', 'bogus');
  expectError('network: {address: 10.0.0.1/24}\ndpd: -1', 'dpd');
  expectError('network: {address: 10.0.0.1/24}\nlisten: [a', '(syntax)');
  const e = (() => { try { parse('network: {address: 10.0.0.1/24, routes: [10.0.0.0/99]}'); } catch (x) { return x as Error; } return null; })();
  assert.match(e!.message, /^test\.yaml: network\.routes\[0\]: expected an IPv4 CIDR/);
});

test('tun.offload: on by default, false turns it off, anything else is an error; SSLGATE_TUN_OFFLOAD=0 overrides', async () => {
  const { tunOffloadWanted } = await import('../../src/gateway/priv/parent.js');
  const base = parseConfigText(DEFAULT_YAML, 'defaults', '/tmp', null);
  assert.equal(base.tun.offload, true);
  const off = parse(`${DEFAULT_YAML}\ntun: { name: sg%d, offload: false }\n`);
  assert.equal(off.tun.offload, false);
  assert.throws(() => parse(`${DEFAULT_YAML}\ntun: { offload: "yes" }\n`), (e: unknown) => e instanceof ConfigError && /tun\.offload/.test(e.message));
  assert.equal(tunOffloadWanted(base, {}), true);
  assert.equal(tunOffloadWanted(off, {}), false);
  for (const v of ['0', 'false', 'OFF', 'no']) assert.equal(tunOffloadWanted(base, { SSLGATE_TUN_OFFLOAD: v }), false, v);
  assert.equal(tunOffloadWanted(base, { SSLGATE_TUN_OFFLOAD: '1' }), true);
});
