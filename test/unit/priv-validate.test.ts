/**
 * The one set of checks behind every decoder of the privileged channel (priv/validate.ts), and
 * seeded garbage fed to each decoder: the privileged process treats network processes as hostile,
 * so any input either decodes to a valid message or throws ChannelProtocolError — never another
 * error, never a crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BOUNDS, ChannelProtocolError, Checker } from '../../src/gateway/priv/validate.js';
import { parseNetworkMessage } from '../../src/gateway/priv/messages.js';
import { parseWorkerMessage } from '../../src/gateway/priv/worker-messages.js';
import { parseStateRequest } from '../../src/gateway/priv/state-messages.js';
import { parseClusterReport } from '../../src/gateway/priv/cluster-messages.js';
import { seeded, type SeededRandom } from '../helpers/seed.js';

const check = new Checker('test sent an invalid message');

test('checker: bounds, canonical forms, one error class with the decoder\'s prefix', () => {
  assert.equal(check.str('abc', 's', 3), 'abc');
  assert.throws(() => check.str('abcd', 's', 3), /test sent an invalid message: s longer than 3 bytes/);
  assert.throws(() => check.str('ä', 's', 1), ChannelProtocolError, 'bytes, not characters');
  assert.throws(() => check.str(3, 's', 3), /s must be a string/);
  assert.equal(check.int(0, 'n'), 0);
  assert.equal(check.int(Number.MAX_SAFE_INTEGER, 'n'), Number.MAX_SAFE_INTEGER);
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53, '1', null]) assert.throws(() => check.int(bad, 'n'), ChannelProtocolError, String(bad));
  assert.throws(() => check.int(BOUNDS.liveCount + 1, 'n', 0, BOUNDS.liveCount), /n must be a whole number from 0 to 10000000/);
  assert.equal(check.intOrNull(null, 'n'), null);
  assert.equal(check.oneOf('b', 'k', ['a', 'b'] as const), 'b');
  assert.throws(() => check.oneOf('c', 'k', ['a', 'b'] as const), /k must be one of a, b/);
  assert.equal(check.ipv4('10.0.0.1', 'a'), '10.0.0.1');
  for (const bad of ['10.0.0.01', ' 10.0.0.1', '10.0.0', '256.0.0.1', 'example.com', 167772161]) assert.throws(() => check.ipv4(bad, 'a'), ChannelProtocolError, String(bad));
  assert.equal(check.ipv4Number(0xffffffff, 'a'), 0xffffffff);
  assert.throws(() => check.ipv4Number(2 ** 32, 'a'), /not an IPv4 address/);
  assert.equal(check.ipv4Cidr('10.0.0.1/24', 'c'), '10.0.0.1/24');
  for (const bad of ['10.0.0.1/33', '10.0.0.1/255.255.255.0', '10.0.0.1 /24']) assert.throws(() => check.ipv4Cidr(bad, 'c'), /not an IPv4 CIDR|longer than 18 bytes/);
  assert.equal(check.sha256Hex('ab'.repeat(32), 'h'), 'ab'.repeat(32));
  assert.throws(() => check.sha256Hex('AB'.repeat(32), 'h'), /64 lower-case hex digits/);
  assert.throws(() => check.hexBytes('abc', 'id', 32), /lower-case hex/);
  assert.throws(() => check.hexBytes('ab'.repeat(33), 'id', 32), /lower-case hex/);
  assert.throws(() => check.base64('!!', 'd', 10), /base64 of at most 10 bytes/);
  assert.deepEqual(check.list([1, 2], 'l', 2, (x, w) => check.int(x, w)), [1, 2]);
  assert.throws(() => check.list([1, 2, 3], 'l', 2, (x, w) => check.int(x, w)), /l must be a list of at most 2/);
  assert.throws(() => check.obj([], 'o'), /o must be an object/);
  assert.throws(() => check.onlyKeys({ a: 1, b: 2 }, ['a'], 'o'), /o: unexpected key "b"/);
  const custom = new Checker('store row', (m) => new RangeError(m));
  assert.throws(() => custom.int(-1, 'n'), RangeError);
});

/** A random JSON-ish value, sometimes near the valid shapes (the keys and types the decoders look for). */
function garbage(rnd: SeededRandom, depth: number): unknown {
  const keys = ['t', 'id', 'req', 'record', 'pool', 'holder', 'hint', 'ban', 'kind', 'key', 'addr', 'address', 'port', 'data', 'up', 'cookieHash', 'tunnels', 'connections', 'accepted', 'sessions', 'draining', 'ev', 'cidrs', 'event', 'cause', 'pid', 'error', 'limits', 'attrs', 'user'];
  const strings = ['', 'x', '10.0.0.1', '10.0.0.01', '10.0.0.1/24', 'ab'.repeat(32), 'AB', 'start', 'stop', 'address', 'user', 'x'.repeat(70_000), '\u0000', 'ä'.repeat(300)];
  const numbers = [0, 1, -1, 1.5, 65535, 65536, 2 ** 32, 2 ** 53, NaN, BOUNDS.liveCount + 1];
  switch (rnd.int(depth > 3 ? 5 : 7)) {
    case 0: return null;
    case 1: return rnd.int(2) === 0;
    case 2: return numbers[rnd.int(numbers.length)];
    case 3: return strings[rnd.int(strings.length)];
    case 4: return rnd.bytes(rnd.int(40)).toString('latin1');
    case 5: return Array.from({ length: rnd.int(5) }, () => garbage(rnd, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rnd.int(7); i > 0; i--) o[keys[rnd.int(keys.length)]!] = garbage(rnd, depth + 1);
      return o;
    }
  }
}

const TYPES = ['ready', 'fatal', 'auth-start', 'auth-answer', 'acct', 'restart', 'reload-read', 'reload-subnets', 'reload-commit', 'load', 'route', 'unroute', 'dtls-id', 'dtls-hello', 'dtls-peer-closed', 'ops-event', 'state-next-id', 'state-put', 'state-get', 'state-delete', 'state-list', 'state-lease', 'state-release', 'state-ban', 'state-unban', 'state-bans', 'cluster-load', 'cluster-nope'];

const decoders: Array<[string, (v: Record<string, unknown>) => unknown]> = [
  ['messages', (v) => parseNetworkMessage(v)],
  ['worker-messages', (v) => parseWorkerMessage(v)],
  ['state-messages', (v) => parseStateRequest(v)],
  ['cluster-messages', (v) => parseClusterReport(v)],
];

for (const [name, decode] of decoders) {
  test(`${name}: seeded garbage decodes or throws ChannelProtocolError, nothing else`, () => {
    const rnd = seeded(`priv-validate garbage ${name}`);
    let decoded = 0;
    for (let i = 0; i < 3000; i++) {
      const g = garbage(rnd, 0);
      const v: Record<string, unknown> = typeof g === 'object' && g !== null && !Array.isArray(g) ? (g as Record<string, unknown>) : { x: g };
      // Most inputs name a real type so that the type's own checks are reached.
      if (rnd.int(4) !== 0) v['t'] = TYPES[rnd.int(TYPES.length)];
      try {
        decode(v);
        decoded++;
      } catch (e) {
        assert.ok(e instanceof ChannelProtocolError, `${name} threw ${String(e)} for ${JSON.stringify(v).slice(0, 200)}`);
      }
    }
    // Garbage almost never is a valid message; a decoder that accepted most of it checks nothing.
    assert.ok(decoded < 300, `${name} accepted ${decoded} of 3000 random inputs`);
  });
}
