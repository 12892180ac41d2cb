import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DEFAULT_YAML, parseConfigText } from '../../src/gateway/config.js';

const parse = (yaml: string) => parseConfigText(yaml, 'test.yaml', '/etc/sslgate', '/etc/sslgate/test.yaml');
const withCluster = (cluster: string) => parse(`${DEFAULT_YAML}\ncluster: ${cluster}\n`);

test('cluster: the issue example parses; balance defaults to false', () => {
  const c = withCluster('{ redis: redis://127.0.0.1:6379, node: gw1, address: 10.77.0.11 }');
  assert.deepEqual(c.cluster, { redis: 'redis://127.0.0.1:6379', node: 'gw1', address: '10.77.0.11', balance: false });
  assert.equal(withCluster('{ redis: "rediss://u:p@redis.example:6380/2", node: gw-2.a, address: vpn2.example.com:8443, balance: true }').cluster?.balance, true);
});

test('cluster: absent means no cluster', () => {
  assert.equal(parse(DEFAULT_YAML).cluster, undefined);
});

test('cluster: errors name the key', () => {
  const bad: Array<[string, RegExp]> = [
    ['{ node: gw1, address: 10.77.0.11 }', /cluster\.redis: required/],
    ['{ redis: http://x:1, node: gw1, address: 10.77.0.11 }', /cluster\.redis: expected a redis:\/\/ or rediss:\/\/ URL/],
    ['{ redis: "not a url", node: gw1, address: 10.77.0.11 }', /cluster\.redis: expected a URL/],
    ['{ redis: redis://127.0.0.1, address: 10.77.0.11 }', /cluster\.node: required/],
    ['{ redis: redis://127.0.0.1, node: "gw 1", address: 10.77.0.11 }', /cluster\.node: expected 1-64 letters/],
    ['{ redis: redis://127.0.0.1, node: gw1 }', /cluster\.address: required/],
    ['{ redis: redis://127.0.0.1, node: gw1, address: "10.0.0.1/24" }', /cluster\.address: expected an IPv4 address or host name/],
    ['{ redis: redis://127.0.0.1, node: gw1, address: "h:99999" }', /cluster\.address: expected an IPv4 address or host name/],
    ['{ redis: redis://127.0.0.1, node: gw1, address: 10.0.0.1, balance: yes-please }', /cluster\.balance: expected true or false/],
    ['{ redis: redis://127.0.0.1, node: gw1, address: 10.0.0.1, nodes: 3 }', /cluster\.nodes: unknown key/],
    ['redis://127.0.0.1', /cluster: expected a mapping/],
  ];
  for (const [yaml, re] of bad) {
    assert.throws(() => withCluster(yaml), (e: unknown) => e instanceof ConfigError && re.test(e.message), yaml);
  }
});
