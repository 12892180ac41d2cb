/**
 * The pure parts of the multi-worker gateway (config `workers`, issue 11): the config key, how
 * many workers 'auto' means, worker TUN names, the connection balancer, which addresses may be
 * routed to a worker, and the validation of the workers' channel messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfigText } from '../../src/gateway/config.js';
import { resolveWorkers, workerTunName } from '../../src/gateway/priv/parent.js';
import { pickWorker, type WorkerLoad } from '../../src/gateway/priv/balance.js';
import { poolOf } from '../../src/gateway/priv/lease-routes.js';
import { parseNetworkMessage } from '../../src/gateway/priv/messages.js';
import { parseIpv4, parseIpv4Cidr } from '../../src/protocol/ipv4.js';
import { relayedEvent } from '../../src/gateway/ops/relayed-event.js';

const parse = (yaml: string) => parseConfigText(`network: {address: 10.0.0.1/24}\n${yaml}`, 'test.yaml', '/etc/sslgate', '/etc/sslgate/test.yaml');

test('config workers: auto by default (every core, as ocserv uses), a number from 1 to 64, or auto; anything else names the key', () => {
  assert.equal(parse('').workers, 'auto');
  assert.equal(parse('workers: 1').workers, 1);
  assert.equal(parse('workers: 3').workers, 3);
  assert.equal(parse('workers: auto').workers, 'auto');
  for (const bad of ['workers: 0', 'workers: 65', 'workers: 1.5', 'workers: many', 'workers: [2]']) {
    assert.throws(() => parse(bad), (e: unknown) => e instanceof ConfigError && e.key === 'workers', bad);
  }
});

test('auto is one worker per CPU this process may use; a number stays', () => {
  assert.equal(resolveWorkers('auto', 1), 1);
  assert.equal(resolveWorkers('auto', 8), 8);
  assert.equal(resolveWorkers('auto', 500), 64);
  assert.equal(resolveWorkers(2, 8), 2);
});

test('worker TUN names: the same pattern, or the name with -i within 15 bytes', () => {
  assert.equal(workerTunName('sslgate%d', 1), 'sslgate%d');
  assert.equal(workerTunName('vpn0', 1), 'vpn0-1');
  assert.equal(workerTunName('abcdefghijklmno', 12), 'abcdefghijkl-12');
  assert.ok(workerTunName('abcdefghijklmno', 3).length <= 15);
});

test('the balancer picks the least-loaded live worker, ties to the lowest index', () => {
  const w = (connections: number, inFlight = 0, up = true, tunnels = 0): WorkerLoad => ({ tunnels, connections, handed: 10 + inFlight, accepted: 10, up });
  assert.equal(pickWorker([w(0), w(0)]), 0);
  assert.equal(pickWorker([w(1), w(0)]), 1);
  assert.equal(pickWorker([w(1), w(0, 2)]), 0, 'connections handed but not yet received count');
  assert.equal(pickWorker([w(0, 0, false), w(5)]), 1, 'a worker that is not up is never picked');
  assert.equal(pickWorker([w(0, 0, false)]), -1);
});

test('only client addresses of a configured pool may be routed to a worker', () => {
  const pools = [parseIpv4Cidr('10.1.0.1/24')!, parseIpv4Cidr('10.2.0.1/16')!];
  const at = (a: string) => poolOf(parseIpv4(a)!, pools);
  assert.equal(at('10.1.0.7'), pools[0]);
  assert.equal(at('10.2.200.9'), pools[1]);
  for (const bad of ['10.1.0.1', '10.1.0.0', '10.1.0.255', '10.3.0.5', '127.0.0.1']) assert.equal(at(bad), null, bad);
});

test('worker messages: exact shapes pass, anything else ends the channel', () => {
  const ok = [
    { t: 'load', tunnels: 2, connections: 3, accepted: 7 },
    { t: 'route', id: 1, addr: '10.1.0.7', cookie: 'Ab_-'.repeat(10) + 'xyz' },
    { t: 'unroute', addr: '10.1.0.7' },
    { t: 'dtls-id', id: 'ab'.repeat(32), up: true },
    { t: 'dtls-hello', id: '0f'.repeat(32), address: '192.0.2.1', port: 40000, data: Buffer.alloc(300, 1).toString('base64') },
    { t: 'dtls-hello', id: '0f'.repeat(32), address: '192.0.2.1', port: 40000, data: 'AA==', local: '10.77.0.10' },
    { t: 'dtls-peer-closed', address: '192.0.2.1', port: 40000 },
  ];
  for (const m of ok) assert.deepEqual(parseNetworkMessage(m), m);
  const bad: unknown[] = [
    { t: 'load', tunnels: -1, connections: 0, accepted: 0 },
    { t: 'load', tunnels: 1, connections: 0, accepted: 0, extra: 1 },
    { t: 'load', tunnels: 1, connections: 0 },
    { t: 'route', id: 1, addr: '10.1.0.07', cookie: 'Ab_-'.repeat(10) + 'xyz' },
    { t: 'route', id: 1, addr: '10.1.0.7', cookie: 'a b'.repeat(10) },
    { t: 'route', id: 1, addr: '10.1.0.7', cookie: 'short' },
    { t: 'route', id: 1, addr: '10.1.0.7', cookie: 'a'.repeat(129) },
    { t: 'route', id: 1, addr: '10.1.0.7' },
    // the old shape: a hash is not proof of holding the session (worker-routes.ts)
    { t: 'route', id: 1, addr: '10.1.0.7', cookieHash: 'a1'.repeat(32) },
    { t: 'route', id: 1, addr: 'example.com', cookie: 'Ab_-'.repeat(10) + 'xyz' },
    { t: 'dtls-id', id: 'AB', up: true },
    { t: 'dtls-id', id: 'ab'.repeat(33), up: true },
    { t: 'dtls-id', id: 'abc', up: true },
    { t: 'dtls-hello', id: 'ab', address: '192.0.2.1', port: 0, data: '' },
    { t: 'dtls-hello', id: 'ab', address: '192.0.2.1', port: 1, data: 'not base64!' },
    { t: 'dtls-hello', id: 'ab', address: '192.0.2.1', port: 1, data: Buffer.alloc(5000).toString('base64') },
    // local: the address the peer socket binds to: a unicast IPv4 address only
    { t: 'dtls-hello', id: 'ab', address: '192.0.2.1', port: 1, data: 'AA==', local: '0.0.0.0' },
    { t: 'dtls-hello', id: 'ab', address: '192.0.2.1', port: 1, data: 'AA==', local: '224.0.0.1' },
    { t: 'dtls-hello', id: 'ab', address: '192.0.2.1', port: 1, data: 'AA==', local: '255.255.255.255' },
    { t: 'dtls-hello', id: 'ab', address: '192.0.2.1', port: 1, data: 'AA==', local: '::1' },
    { t: 'dtls-hello', id: 'ab', address: '192.0.2.1', port: 1, data: 'AA==', local: 167772170 },
    { t: 'dtls-peer-closed', address: '192.0.2.1', port: 70000 },
  ];
  for (const m of bad) assert.throws(() => parseNetworkMessage(m), /invalid message/, JSON.stringify(m).slice(0, 80));
});

test('another worker\'s event reaches worker 0 checked and marked with its worker', () => {
  const c = { rxPackets: 1, rxBytes: 2, txPackets: 3, txBytes: 4, txDrops: 0 };
  const disc = { type: 'disconnect', session: 7, user: 'u', channel: 'TLS', reason: 'x', sessionKept: true, counters: c, time: '2026-01-01T00:00:00.000Z' };
  assert.deepEqual(relayedEvent(JSON.stringify(disc), 1), { ...disc, worker: 1 });
  assert.equal(relayedEvent(JSON.stringify({ ...disc, counters: { ...c, rxBytes: 'lots' } }), 1), null);
  assert.equal(relayedEvent(JSON.stringify({ ...disc, type: 'nonsense' }), 1), null);
  assert.equal(relayedEvent(JSON.stringify({ ...disc, time: undefined }), 1), null);
  assert.equal(relayedEvent('{not json', 1), null);
  assert.equal(relayedEvent('[1]', 1), null);
  const ok = parseNetworkMessage({ t: 'ops-event', ev: JSON.stringify(disc) });
  assert.equal(ok.t, 'ops-event');
  assert.throws(() => parseNetworkMessage({ t: 'ops-event', ev: 'x'.repeat(9000) }), /invalid message/);
});
