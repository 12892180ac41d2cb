/**
 * Issue 9 §2: user names are validated before they are scored or logged. A login whose
 * username field no user could have (a megabyte, newlines, terminal escapes) is a failed login
 * scored against the address only, and is logged cut short and printable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthHandler, LOGIN_FAILED } from '../../src/gateway/auth-handler.js';
import { BanGuard } from '../../src/gateway/ban-guard.js';
import { parseConfigText } from '../../src/gateway/config.js';
import { IpPool } from '../../src/gateway/ip-pool.js';
import { GatewayEvents, type GatewayEvent } from '../../src/gateway/ops/events.js';
import { SessionStore } from '../../src/gateway/sessions.js';
import { isValidUserName, printableUserName } from '../../src/gateway/user-name.js';
import { createLogger } from '../../src/log.js';
import { engineOver } from './gateway-glue-helpers.js';

test('user names: the user store rule; printable form cut short', () => {
  for (const ok of ['alice', 'bob.smith', 'a_b-c+d@example.org', 'x'.repeat(64)]) assert.ok(isValidUserName(ok), ok);
  for (const bad of ['', 'x'.repeat(65), 'al ice', 'alice\nINFO fake log line', 'é', 'a\x1b[2Jb', 'a/b']) assert.ok(!isValidUserName(bad), JSON.stringify(bad));
  assert.equal(printableUserName('ab\ncd\x1b'), 'ab?cd?');
  assert.equal(printableUserName('y'.repeat(100)), `${'y'.repeat(32)}... (100 characters)`);
});

test('an invalid user name is a failed login scored against the address only, never reaching the per-user map or the log as sent', async () => {
  const cfg = parseConfigText('network: {address: 10.0.0.1/24}\n', 'gw.yaml', '/tmp', '/tmp/gw.yaml');
  const events = new GatewayEvents();
  const guard = new BanGuard(cfg.ban);
  events.subscribe(guard.observe);
  const seen: GatewayEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const lines: string[] = [];
  let verified = 0;
  const auth = new AuthHandler({
    config: () => cfg,
    auth: engineOver(() => cfg, {
      verify: async () => {
        verified++;
        return null;
      },
    }),
    sessions: new SessionStore(),
    guard,
    events,
    pools: new Map([[cfg.groups[0]!.name, new IpPool(cfg.network.address)]]),
    serverCertSha1: '00',
    profile: () => null,
    log: createLogger({ level: 'info', format: 'json', destination: { write: (s: string) => void lines.push(s) } }),
    endSession: () => undefined,
  });
  const name = `mallory\n{"level":30,"msg":"login"}${'A'.repeat(20_000)}`;
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2"><auth><username>${name}</username><password>pw</password></auth></config-auth>`;
  const r = await auth.handlePost(body, { remoteAddr: '10.9.8.7', userAgent: 'test', path: '/' });
  assert.equal(r.status, 200);
  assert.ok(r.body.includes(LOGIN_FAILED), r.body);
  assert.equal(verified, 0, 'the password is not checked for a name no user can have');
  assert.deepEqual(guard.tracked(), { address: 1, user: 0 });
  assert.equal(guard.list(true)[0]!.key, '10.9.8.7');
  const failure = seen.find((e) => e.type === 'auth-failure');
  assert.ok(failure && failure.type === 'auth-failure' && failure.user === undefined && failure.reason === 'bad-credentials');
  const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'login failed');
  assert.ok(logged, lines.join(''));
  assert.equal(logged['user'], 'mallory?{"level":30,"msg":"login... (20034 characters)');
  assert.ok(lines.join('').length < 2000, 'the name is not logged in full');
});
