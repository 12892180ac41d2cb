import { test } from 'node:test';
import assert from 'node:assert/strict';
import { balanceLogin, canTakeLogin, redirectLocation, wasRedirected, type BalanceView } from '../../src/gateway/cluster/balance.js';
import type { NodeInfo } from '../../src/gateway/state/cluster-types.js';
import { seeded } from '../helpers/seed.js';

const NOW = 1_000_000;
const node = (name: string, sessions: number, o: Partial<NodeInfo> = {}): NodeInfo => ({ node: name, address: `10.88.0.${name.slice(2)}`, port: 443, sessions, tunnels: sessions, capacity: 100, draining: false, updatedAt: NOW, startedAt: 0, ...o });
const view = (o: Partial<BalanceView>): BalanceView => ({ self: 'gw1', selfSessions: 0, selfCapacity: 100, balance: true, draining: false, nodes: [], now: NOW, staleMs: 15_000, ...o });

test('balance: stays when off, when alone, when no node is less loaded', () => {
  assert.deepEqual(balanceLogin(view({ balance: false, selfSessions: 50, nodes: [node('gw2', 0)] })), { kind: 'stay' });
  assert.deepEqual(balanceLogin(view({ selfSessions: 50 })), { kind: 'stay' });
  assert.deepEqual(balanceLogin(view({ selfSessions: 3, nodes: [node('gw1', 9), node('gw2', 3)] })), { kind: 'stay' }, 'equal: keep it (own stale entry ignored)');
  assert.deepEqual(balanceLogin(view({ selfSessions: 3, nodes: [node('gw2', 4)] })), { kind: 'stay' });
});

test('balance: redirects to the least-loaded fresh, non-draining node with room', () => {
  const d = balanceLogin(view({ selfSessions: 5, nodes: [node('gw2', 4), node('gw3', 1), node('gw4', 0, { draining: true }), node('gw5', 0, { updatedAt: NOW - 60_000 }), node('gw6', 0, { capacity: 0 })] }));
  assert.equal(d.kind === 'redirect' && d.node.node, 'gw3');
  // Capacity counts: 10 of 100 is less loaded than 2 of 10.
  const c = balanceLogin(view({ selfSessions: 50, nodes: [node('gw2', 2, { capacity: 10 }), node('gw3', 10)] }));
  assert.equal(c.kind === 'redirect' && c.node.node, 'gw3');
});

test('balance: a draining node sends every login elsewhere, or refuses when there is nowhere', () => {
  const d = balanceLogin(view({ balance: false, draining: true, selfSessions: 0, nodes: [node('gw2', 80)] }));
  assert.equal(d.kind === 'redirect' && d.node.node, 'gw2');
  assert.deepEqual(balanceLogin(view({ draining: true, nodes: [node('gw2', 1, { draining: true })] })), { kind: 'refuse' });
});

test('balance: simulated logins spread evenly and never bounce (seeded)', () => {
  const rnd = seeded('cluster balance spread');
  const counts = new Map([['gw1', 0], ['gw2', 0], ['gw3', 0]]);
  for (let i = 0; i < 300; i++) {
    const entry = ['gw1', 'gw2', 'gw3'][rnd.int(3)]!;
    const others = [...counts].filter(([n]) => n !== entry).map(([n, s]) => node(n, s));
    const d = balanceLogin(view({ self: entry, selfSessions: counts.get(entry)!, nodes: others }));
    const target = d.kind === 'redirect' ? d.node.node : entry;
    if (d.kind === 'redirect') {
      // At the target, the view is the same registry: it must keep the login.
      const back = balanceLogin(view({ self: target, selfSessions: counts.get(target)!, nodes: [...counts].filter(([n]) => n !== target).map(([n, s]) => node(n, s)) }));
      assert.equal(back.kind, 'stay', 'no ping-pong');
    }
    counts.set(target, counts.get(target)! + 1);
  }
  const v = [...counts.values()];
  assert.ok(Math.max(...v) - Math.min(...v) <= 1, `spread ${JSON.stringify([...counts])}`);
});

test('redirect location keeps the path, adds the mark; the mark is recognised', () => {
  assert.equal(redirectLocation(node('gw2', 0), '/'), 'https://10.88.0.2/?sslgate-lb=1');
  assert.equal(redirectLocation(node('gw2', 0, { port: 8443 }), '/Employees'), 'https://10.88.0.2:8443/Employees?sslgate-lb=1');
  assert.equal(redirectLocation(node('gw2', 0, { address: 'vpn2.example:9443', port: 8443 }), '/a?x=1'), 'https://vpn2.example:9443/a?x=1&sslgate-lb=1');
  assert.ok(wasRedirected('/?sslgate-lb=1'));
  assert.ok(wasRedirected('/Employees?x=1&sslgate-lb'));
  assert.ok(!wasRedirected('/Employees'));
});

test('which nodes can take a login: one rule (not self, not draining, fresh, with room)', () => {
  const now = 1_000_000;
  const n = (over: Partial<NodeInfo>): NodeInfo => ({ node: 'gw2', address: '10.88.0.12', port: 443, sessions: 1, tunnels: 1, capacity: 10, draining: false, updatedAt: now, startedAt: now, ...over });
  assert.equal(canTakeLogin(n({}), 'gw1', now, 5000), true);
  assert.equal(canTakeLogin(n({ node: 'gw1' }), 'gw1', now, 5000), false, 'not this node');
  assert.equal(canTakeLogin(n({ draining: true }), 'gw1', now, 5000), false, 'draining');
  assert.equal(canTakeLogin(n({ updatedAt: now - 5001 }), 'gw1', now, 5000), false, 'stale');
  assert.equal(canTakeLogin(n({ updatedAt: now - 5000 }), 'gw1', now, 5000), true, 'exactly at the limit: fresh');
  assert.equal(canTakeLogin(n({ sessions: 10 }), 'gw1', now, 5000), false, 'full');
  // A draining node redirects exactly when some node can take the login.
  for (const over of [{}, { draining: true }, { sessions: 10 }, { updatedAt: now - 6000 }]) {
    const nodes = [n(over)];
    const d = balanceLogin({ self: 'gw1', selfSessions: 0, selfCapacity: 10, balance: false, draining: true, nodes, now, staleMs: 5000 });
    assert.equal(d.kind === 'redirect', nodes.some((x) => canTakeLogin(x, 'gw1', now, 5000)), JSON.stringify(over));
  }
});
