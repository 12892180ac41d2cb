/**
 * The DTLS listener's live-peer index (src/gateway/dtls-live-peers.ts): found by string key and by
 * integer address, also when two peers collide in the integer index; the one-entry caches never
 * return an association that was removed or replaced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LivePeers, type LivePeer } from '../../src/gateway/dtls-live-peers.js';
import { ipv4ToInt } from '../../src/os/udp-batch.js';

const peer = (address: string, port: number, tag = ''): LivePeer & { tag: string } => ({ key: `${address}:${port}`, addrInt: ipv4ToInt(address), port, tag });

test('live peers: lookups by key and by integer agree; removal and replacement reach the caches', () => {
  const p = new LivePeers<LivePeer & { tag: string }>();
  const a = peer('10.0.0.2', 4000, 'a');
  const b = peer('10.0.0.3', 4000, 'b');
  p.add(a);
  p.add(b);
  assert.equal(p.find('10.0.0.2', 4000), a);
  assert.equal(p.findInt(ipv4ToInt('10.0.0.2'), 4000), a);
  assert.equal(p.findInt(ipv4ToInt('10.0.0.3'), 4000), b);
  assert.equal(p.find('10.0.0.9', 4000), null);
  // a rekey on the same address replaces the association; the cached lookups see the new one
  const a2 = peer('10.0.0.2', 4000, 'a2');
  p.add(a2);
  assert.equal(p.find('10.0.0.2', 4000), a2);
  assert.equal(p.findInt(ipv4ToInt('10.0.0.2'), 4000), a2);
  p.remove(a); // the old one is gone already: nothing happens
  assert.equal(p.get('10.0.0.2:4000'), a2);
  p.remove(a2);
  assert.equal(p.find('10.0.0.2', 4000), null);
  assert.equal(p.findInt(ipv4ToInt('10.0.0.2'), 4000), null);
});

test('live peers: a peer that collides in the integer index is still found (through its key)', () => {
  const p = new LivePeers<LivePeer & { tag: string }>();
  // peerHash = (addr ^ port*0x9e3779b1) & 0x3fffffff: the same port and addresses that differ
  // only above bit 29 collide.
  const a = peer('10.0.0.2', 5000, 'a');
  const c = peer('74.0.0.2', 5000, 'c'); // 10 ^ 74 = 64: bit 30 of the address
  p.add(a);
  p.add(c);
  assert.equal(p.findInt(ipv4ToInt('74.0.0.2'), 5000), c);
  assert.equal(p.findInt(ipv4ToInt('10.0.0.2'), 5000), a);
  p.remove(a);
  assert.equal(p.findInt(ipv4ToInt('74.0.0.2'), 5000), c);
  assert.equal(p.findInt(ipv4ToInt('10.0.0.2'), 5000), null);
  assert.deepEqual([...p.values()].map((x) => x.tag), ['c']);
  p.clear();
  assert.equal(p.find('74.0.0.2', 5000), null);
});
