/**
 * Issue 10, client: `sslgate connect` against our own gateway (`sslgate serve`) whose group logs
 * in through a RADIUS auth-server: a real freeradius 3.2 in the gateway's namespace
 * (test/helpers/freeradius.ts). The challenge user gets sslgate's follow-up form
 * (`<auth id="challenge">`, input `password`, the handle in `<opaque><auth-handle>` and a
 * webvpncontext cookie), which --token-mode=totp answers by itself (openconnect's rule) and -F
 * answers by name; freeradius accepts the fixed code and the TOTP codes around now, computed by
 * oathtool. A reject and a "password expired" answer show freeradius's Reply-Message.
 *
 * Needs the gateway's auth engine and RADIUS method (issue 10, gateway side).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RADIUS_SECRET, RADIUS_USERS, defaultUsersFile, oathtoolWindow, startFreeradius, type Freeradius } from '../helpers/freeradius.js';
import { createTestbed, interopSkipReason, tempDir, type Testbed } from '../helpers/netns.js';
import { gwHost, startGateway, type SslgateGateway } from '../helpers/sslgate.js';
import { runClient, startClient, type SslgateClient } from './client-harness.js';

const skip = interopSkipReason(['freeradius', 'oathtool', 'ping', 'ip']);
const C = RADIUS_USERS.challenge;

test('sslgate connect -> sslgate serve with a RADIUS auth-server: challenge by token and by -F, reject and expired messages', { skip, timeout: 180_000 }, async (t) => {
  let tb: Testbed | undefined;
  let gw: SslgateGateway | undefined;
  let radius: Freeradius | undefined;
  const running = new Set<SslgateClient>();
  t.after(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await radius?.stop().catch(() => undefined);
    await tb?.cleanup();
  });

  const { hex, codes } = oathtoolWindow('gateway radius totp');

  tb = await createTestbed({ tag: 'clgwr' });
  radius = await startFreeradius({ ns: tb.gw.name, address: '127.0.0.1', usersFile: defaultUsersFile({ framedIp: null }), challengeCodes: [C.code, ...codes] });
  const pool = tb.poolNet(0);
  gw = await startGateway(tb.gw, {
    listenHost: tb.gwAddr,
    yaml: `network:
  address: ${gwHost(pool)}/24
auth-servers:
  corp-radius:
    type: radius
    address: 127.0.0.1:${radius.authPort}
    secret: ${RADIUS_SECRET}
groups:
  - name: Contractors
    auth: [corp-radius]
`,
    users: [],
  });
  const base = { url: gw.url, prefsDir: tempDir('clgwr-prefs'), servercert: [gw.pin] };
  const diag = (): string => `\n--- gateway ---\n${gw!.proc.tail()}\n--- freeradius ---\n${radius!.output().split('\n').slice(-30).join('\n')}`;

  const loginAndPing = async (c: SslgateClient): Promise<void> => {
    running.add(c);
    try {
      await c.waitTunnel();
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${c.proc.tail()}${diag()}`);
    }
    assert.match(c.output(), new RegExp(C.message), 'the challenge\'s Reply-Message');
    assert.ok(await tb!.cl.ping(gwHost(pool), { count: 2, timeoutMs: 10_000 }), 'ping through the tunnel');
    const st = await c.stop();
    running.delete(c);
    assert.equal(st.code, 0, c.proc.tail());
  };

  await t.test('the challenge answered by --token-mode=totp', async () => {
    const c = startClient(tb!.cl, { ...base, user: C.user, passwords: [C.password], extraArgs: ['--token-mode=totp', `--token-secret=0x${hex}`], iface: 'sgcr0' });
    await loginAndPing(c);
    assert.match(c.output(), /generated a TOTP code/);
  });

  await t.test('the challenge answered by -F challenge:password=CODE', async () => {
    await loginAndPing(startClient(tb!.cl, { ...base, user: C.user, passwords: [C.password], extraArgs: ['-F', `challenge:password=${C.code}`], iface: 'sgcr1' }));
  });

  await t.test('reject and expired: exit 2 with freeradius\'s Reply-Message', async () => {
    const rej = await runClient(tb!.cl, { ...base, user: RADIUS_USERS.reject.user, passwords: [RADIUS_USERS.reject.password] });
    assert.equal(rej.code, 2, rej.stderr + diag());
    assert.match(rej.stderr, new RegExp(`login failed: .*${RADIUS_USERS.reject.message}`));
    const exp = await runClient(tb!.cl, { ...base, user: RADIUS_USERS.expired.user, passwords: [RADIUS_USERS.expired.password] });
    assert.equal(exp.code, 2, exp.stderr + diag());
    assert.match(exp.stderr, new RegExp(RADIUS_USERS.expired.message));
  });
});
