import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterText } from '../../src/cli/ctl-cluster-format.js';
import { sessionsTable } from '../../src/cli/ctl-format.js';
import { clusterSessions, recordView } from '../../src/gateway/cluster/session-list.js';
import type { SessionRecord } from '../../src/gateway/state/types.js';

test('ctl status: the cluster section lists every node with its load; draining and Redis down are said', () => {
  const text = clusterText({
    node: 'gw1',
    address: '10.77.0.11',
    balance: true,
    draining: true,
    redis: { url: 'redis://***@10.77.0.2:6379', available: false },
    nodes: [
      { node: 'gw1', address: '10.77.0.11', port: 443, sessions: 3, tunnels: 2, capacity: 100, load: 0.03, draining: true, self: true, lastSeenSeconds: 1, upSeconds: 3700 },
      { node: 'gw2', address: '10.77.0.12', port: 8443, sessions: 40, tunnels: 40, capacity: 100, load: 0.4, draining: false, self: false, lastSeenSeconds: 2, upSeconds: 60 },
    ],
  });
  assert.match(text, /cluster node: +gw1 \(10\.77\.0\.11\), DRAINING/);
  assert.match(text, /UNAVAILABLE: tunnels keep running, new logins fail/);
  assert.match(text, /^gw1 \* +10\.77\.0\.11 +3 +2 +100 +3\.0% +draining +1h1m +1s ago$/m);
  assert.match(text, /^gw2 +10\.77\.0\.12:8443 +40 +40 +100 +40\.0% +active +1m0s +2s ago$/m);
});

test('ctl sessions in a cluster: this node in full, the others from the store, a NODE column', () => {
  const rec = (id: number, node: string, over: Partial<SessionRecord> = {}): SessionRecord => ({
    cookieHash: String(id).padStart(64, '0'), id, user: `u${id}`, group: 'Employees', remote: '192.0.2.1', userAgent: 'oc', createdAt: 0,
    limits: { idleTimeout: null, sessionTimeout: null }, attrs: {}, methods: [], loginMessages: [], address: 0x0a590002 + id, node,
    disconnectedAt: null, lastActivity: 0, rxBytes: 10, txBytes: 20, rxPackets: 1, txPackets: 2, ...over,
  });
  const local = { ...recordView(rec(2, 'gw1')), bytesIn: 999 };
  delete (local as { node?: string }).node;
  const list = clusterSessions([local], [rec(1, 'gw2'), rec(2, 'gw1'), rec(3, 'gw2', { disconnectedAt: 5 })], 'gw1', () => true, 10_000);
  assert.deepEqual(list.map((v) => [v.id, v.node, v.state, v.bytesIn]), [[1, 'gw2', 'connected', 10], [2, 'gw1', 'connected', 999], [3, 'gw2', 'disconnected', 10]]);
  const connectedOnly = clusterSessions([], [rec(1, 'gw2'), rec(3, 'gw2', { disconnectedAt: 5 })], 'gw1', (v) => v.state === 'connected');
  assert.deepEqual(connectedOnly.map((v) => v.id), [1]);
  const table = sessionsTable(list, true, 10_000);
  assert.match(table.split('\n')[0]!, /^ID +NODE +USER/);
  assert.match(table, /^1 +gw2 +u1 +Employees +10\.89\.0\.3 /m);
});
