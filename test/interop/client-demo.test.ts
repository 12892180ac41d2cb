/**
 * `sslgate demo` (issue 3): gateway and client in two throw-away namespaces, a ping through the
 * tunnel, and nothing left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execIn, interopSkipReason } from '../helpers/netns.js';
import { SSLGATE_BIN } from './client-harness.js';

const skip = interopSkipReason(['ping', 'ip']);

test('sslgate demo: gateway + client + ping, then a clean slate', { skip, timeout: 120_000 }, async () => {
  const r = await execIn(null, process.execPath, [SSLGATE_BIN, 'demo'], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /Tunnel up: 198\.19\.0\.\d+/);
  assert.match(r.stdout, /3 received, 0% packet loss/);
  assert.match(r.stdout, /done: gateway, client, tunnel and ping all worked/);
  const id = /(sg-demo-\d+-\d+)-gw/.exec(r.stdout)?.[1];
  assert.ok(id, r.stdout);
  const ns = await execIn(null, 'ip', ['netns', 'list'], { check: true });
  assert.ok(!ns.stdout.includes(id), 'namespaces removed');
});
