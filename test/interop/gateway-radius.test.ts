/**
 * Issue 10 acceptance for RADIUS, end to end: Debian's openconnect logs in through our gateway
 * (`sslgate serve`, groups with `auth: [<radius server>]`) against Debian's freeradius 3.2 started
 * by this test in the gateway's namespace (listening on that namespace's 127.0.0.1, where the
 * gateway's privileged process sends from), and each successful login ends with a ping through
 * the tunnel:
 *  - accept: the session gets the Framed-IP-Address, the Framed-Routes, the MS DNS servers, the
 *    Session-Timeout and the Reply-Message (in the banner openconnect prints); a group the user's
 *    Class does not name is refused;
 *  - reject: openconnect fails with the server's Reply-Message, the gateway logs it and keeps
 *    serving;
 *  - Access-Challenge: openconnect answers the challenge form (second line on stdin);
 *  - failover past a server that does not answer, and every server down (a clean failure and a
 *    log line naming each server; no timing assertion);
 *  - accounting: Start, Interim-Update (the server's Acct-Interim-Interval of 2 s wins over the
 *    configured 600) and Stop with non-zero octets and User-Request in freeradius's detail log;
 *    `sslgate ctl terminate` gives Admin-Reset, a client killed without a goodbye Lost-Carrier
 *    once cookie-timeout passed;
 *  - bad input: a relay that answers each request first with an oversized attribute and a forged
 *    Access-Accept (wrong authenticator) and only then with freeradius's answer: the forgeries
 *    are dropped and logged, a wrong password stays refused, a right one logs in.
 * The RadiusMethod-level versions of the hostile replies are in test/unit/radius-client.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ctl, ctlJson } from '../helpers/ctl.js';
import { defaultUsersFile, RADIUS_USERS, startFreeradius, type AccountingRecord, type Freeradius } from '../helpers/freeradius.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { hasCommand, interopSkipReason, type NsProcess } from '../helpers/netns.js';
import type { OpenconnectClient } from '../helpers/openconnect.js';
import { prerequisite } from '../helpers/prerequisites.js';
import { gwHost } from '../helpers/sslgate.js';
import type { SessionView } from '../../src/gateway/ops/session-view.js';
import { eventually } from '../helpers/poll.js';

const skip =
  interopSkipReason(['openconnect', 'ping', 'ip']) ||
  prerequisite('gateway RADIUS interop (freeradius)', hasCommand('freeradius') ? false : 'missing program: freeradius (Debian package freeradius)');

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RELAY = path.join(HERE, 'radius-forging-relay.js');

const A = RADIUS_USERS.accept;
const B = RADIUS_USERS.reject;
const C = RADIUS_USERS.challenge;
/** A user for the relayed server, in a group of its own (the Class decides the groups). */
const RELAYED = { user: 'erin', password: 'erin-pw', group: 'Relayed' };
/** The server's Acct-Interim-Interval for alice: short, so that an Interim-Update comes soon. */
const SERVER_INTERIM = 2;


const attr = (r: AccountingRecord, name: string): string | undefined => r.attrs.get(name)?.[0];

test('RADIUS end to end: openconnect through sslgate against freeradius', { skip, timeout: 420_000 }, async (t: TestContext) => {
  const bed = await GatewayBed.open(t, 'gwradius');
  const tb = bed.tb;
  const emp = tb.poolNet(0);
  const con = tb.poolNet(1);
  // alice's Framed-IP-Address: one in the Employees pool
  const framedIp = gwHost(emp).replace(/\.1$/, '.77');

  let relay: NsProcess | undefined;
  let fr: Freeradius | undefined;
  t.after(async () => {
    await relay?.stop('SIGKILL', 2000).catch(() => undefined);
    await fr?.stop();
  });
  fr = await startFreeradius({
    ns: tb.gw.name,
    usersFile:
      defaultUsersFile({ framedIp, acctInterim: SERVER_INTERIM }) +
      `${RELAYED.user} Cleartext-Password := "${RELAYED.password}"\n\tClass := "OU=${RELAYED.group}"\n`,
  });
  // Ports nothing listens on in the gateway's namespace (freeradius took authPort and acctPort).
  const silent1 = fr.authPort + 2;
  const silent2 = fr.authPort + 3;
  const relayPort = fr.authPort + 4;
  relay = tb.gw.spawn(process.execPath, [RELAY, String(relayPort), String(fr.authPort)], { label: 'radius-relay' });
  await relay.waitForLine(/"event":"ready"/, 10_000);

  const server = (address: string, extra = ''): string => `{ type: radius, address: ${address}, secret: ${fr!.secret}, nas-identifier: sslgate-e2e${extra} }`;
  const yaml = `network:
  address: ${gwHost(emp)}/24
  routes: [${emp}, ${con}]
groups:
  - name: Employees
    auth: [corp-radius]
  - name: Contractors
    auth: [corp-radius]
    network: { address: ${gwHost(con)}/24 }
  - name: Admins
    auth: [radius-failover]
  - name: Unreachable
    auth: [radius-down]
  - name: ${RELAYED.group}
    auth: [radius-relayed]
auth-servers:
  corp-radius: ${server(`127.0.0.1:${fr.authPort}`, `, accounting: 127.0.0.1:${fr.acctPort}, timeout: 3, retries: 1`)}
  radius-failover: ${server(`[127.0.0.1:${silent1}, 127.0.0.1:${fr.authPort}]`, ', timeout: 1, retries: 1')}
  radius-down: ${server(`[127.0.0.1:${silent1}, 127.0.0.1:${silent2}]`, ', timeout: 1, retries: 1')}
  radius-relayed: ${server(`127.0.0.1:${relayPort}`, ', timeout: 3, retries: 0')}
accounting: { server: corp-radius, interim: 600 }
# the lost-carrier case waits this long (the minimum) for a killed client's session to end
cookie-timeout: 10
# failed logins are part of the test: no ban, no growing delay
ban: { points: { password: 0 } }
`;
  const gw = await bed.startGateway({ yaml, users: [] });
  t.diagnostic(`freeradius in ${tb.gw.name} on 127.0.0.1:${fr.authPort}/${fr.acctPort}; relay on ${relayPort}`);

  const connect = (user: string, password: string, authgroup: string): OpenconnectClient => bed.connect({ user, password, authgroup, noDtls: true });
  const sessions = (): Promise<SessionView[]> => ctlJson<SessionView[]>(gw, ['sessions']);
  /** openconnect exits without a tunnel; returns its output */
  const refused = async (c: OpenconnectClient): Promise<string> => {
    const st = await c.proc.waitExit(60_000);
    await bed.stop(c);
    assert.notEqual(st.code, 0, `openconnect should have failed:\n${c.proc.tail()}`);
    assert.ok(!c.lines.some((l) => l.text.startsWith('Configured as')), 'no tunnel may come up');
    return c.lines.map((l) => l.text).join('\n');
  };
  const logMsgs = (from: number): string[] => gw.logs().slice(from).map((l) => `${String(l['msg'])} ${JSON.stringify(l)}`);
  /**
   * The gateway's log lines since `from` named `msg`, once there are `n` of them: its stdout is
   * read asynchronously, so openconnect may have exited before the line reached the test.
   */
  const logged = (from: number, msg: string, n = 1): Promise<Array<Record<string, unknown>>> =>
    eventually(() => `${n} "${msg}" log line(s):\n${logMsgs(from).join('\n')}`, 15_000, () => {
      const found = gw.logs().slice(from).filter((l) => l['msg'] === msg);
      return found.length >= n ? found : undefined;
    });
  /** ends a client with SIGINT (openconnect logs out) and waits until the gateway forgot the session */
  const logout = async (c: OpenconnectClient, user: string): Promise<void> => {
    await bed.stop(c);
    await eventually(() => `${user}'s session to end`, 15_000, async () => ((await sessions()).some((s) => s.user === user) ? undefined : true));
  };

  /** a subtest whose clients are stopped when it ends, also when it fails (the next one starts clean) */
  const sub = (name: string, fn: (st: TestContext) => Promise<void>): Promise<void> =>
    t.test(name, async (st) => {
      st.after(async () => {
        for (const c of [...bed.clients]) await bed.stop(c).catch(() => undefined);
      });
      await fn(st);
    });

  await sub('accept: Framed-IP-Address, Framed-Routes, MS DNS, Session-Timeout, Reply-Message in the banner; ping', async () => {
    const c = connect(A.user, A.password, 'Employees');
    const info = await c.waitTunnel(30_000);
    assert.equal(info.address, framedIp, 'the address is the Framed-IP-Address');
    const s = (await sessions()).find((x) => x.user === A.user);
    assert.ok(s, 'ctl sessions shows alice');
    assert.equal(s.address, framedIp);
    assert.equal(s.group, 'Employees');
    assert.equal(s.sessionTimeout, A.sessionTimeout, 'Session-Timeout applies to the session');
    for (const r of A.routes) assert.ok(s.routes.includes(r), `route ${r} from Framed-Route missing in ctl sessions: ${s.routes.join(', ')}`);
    // ... and vpnc-script installed them through the tunnel
    const routes = (await tb.cl.exec('ip', ['-4', 'route', 'show', 'dev', c.iface])).stdout;
    for (const r of A.routes) assert.match(routes, new RegExp(`^${r.replace(/\./g, '\\.')}\\b`, 'm'), `route ${r} not on ${c.iface}:\n${routes}`);
    assert.ok(c.lines.some((l) => l.text.includes(A.message)), `Reply-Message "${A.message}" not shown:\n${c.proc.tail()}`);
    // MS-Primary/Secondary-DNS-Server: vpnc-script wrote them into the client namespace's resolv.conf
    const resolv = (await tb.cl.exec('cat', ['/etc/resolv.conf'], { check: true })).stdout;
    for (const d of A.dns) assert.match(resolv, new RegExp(`^nameserver ${d.replace(/\./g, '\\.')}$`, 'm'), resolv);
    assert.ok(await bed.pingSoon(gwHost(emp)), 'no ping answer through the tunnel');
    const login = gw.logs().find((l) => l['msg'] === 'login' && l['user'] === A.user);
    assert.deepEqual(login?.['methods'], ['corp-radius']);
    await logout(c, A.user);
  });

  await sub('a group the Class does not name is refused', async () => {
    const mark = gw.logs().length;
    await refused(connect(A.user, A.password, 'Contractors'));
    const line = (await logged(mark, 'login failed')).find((l) => l['user'] === A.user);
    assert.equal(line?.['reason'], 'group-not-allowed', logMsgs(mark).join('\n'));
  });

  await sub('reject: openconnect fails with the Reply-Message, the gateway logs it and keeps serving', async () => {
    const mark = gw.logs().length;
    const out = await refused(connect(B.user, B.password, 'Employees'));
    assert.match(out, new RegExp(`Login failed: ${B.message}`));
    const wrong = await refused(connect(A.user, 'not-the-password', 'Employees'));
    assert.match(wrong, /Login failed\./);
    const failures = await logged(mark, 'login failed', 2);
    assert.deepEqual(
      failures.map((l) => [l['user'], l['reason']]),
      [
        [B.user, 'bad-credentials'],
        [A.user, 'bad-credentials'],
      ],
    );
    assert.match(fr!.output(), new RegExp(`Login incorrect.*\\[${B.user}\\]`));
    // the gateway still serves: a good login right after
    const c = connect(A.user, A.password, 'Employees');
    await c.waitTunnel(30_000);
    assert.ok(await bed.pingSoon(gwHost(emp)));
    await logout(c, A.user);
  });

  await sub('Access-Challenge: openconnect answers the challenge form; the State is echoed; ping', async () => {
    const mark = gw.logs().length;
    // --passwd-on-stdin: the password for the login form, then the code for the challenge form
    const c = connect(C.user, `${C.password}\n${C.code}`, 'Contractors');
    const info = await c.waitTunnel(30_000);
    assert.ok(info.address.startsWith(con.replace(/\.0\/24$/, '.')), `carol got ${info.address}, expected one in ${con}`);
    assert.ok(c.lines.some((l) => l.text.includes(C.message)), `the challenge text was not shown:\n${c.proc.tail()}`);
    assert.ok(await bed.pingSoon(gwHost(con)), 'no ping answer through the tunnel');
    assert.ok(gw.logs().slice(mark).some((l) => l['msg'] === 'login' && l['user'] === C.user && l['group'] === 'Contractors'));
    await logout(c, C.user);
    // a wrong code: refused
    const bad = connect(C.user, `${C.password}\n000000`, 'Contractors');
    await refused(bad);
    assert.ok(bad.lines.some((l) => l.text.includes(C.message)), 'the challenge came before the refusal');
  });

  await sub('failover: the first server does not answer, the second logs alice in; the log names the silent one', async () => {
    const mark = gw.logs().length;
    const c = connect(A.user, A.password, 'Admins');
    await c.waitTunnel(60_000);
    assert.ok(await bed.pingSoon(gwHost(emp)));
    assert.ok(
      logMsgs(mark).some((l) => l.includes(`RADIUS server 127.0.0.1:${silent1} did not answer the Access-Request`)),
      `no log line names 127.0.0.1:${silent1}:\n${logMsgs(mark).join('\n')}`,
    );
    await logout(c, A.user);
  });

  await sub('every server down: the login fails cleanly, the log names each server', async () => {
    const mark = gw.logs().length;
    const out = await refused(connect(A.user, A.password, 'Unreachable'));
    assert.match(out, /The authentication service is not available/);
    // the privileged process logs the servers before the network process logs the failure
    const [failed] = await logged(mark, 'login failed');
    const lines = logMsgs(mark);
    assert.ok(
      lines.some((l) => l.includes(`no RADIUS server answered the Access-Request for ${A.user}: 127.0.0.1:${silent1} (no answer), 127.0.0.1:${silent2} (no answer)`)),
      lines.join('\n'),
    );
    assert.equal(failed?.['reason'], 'backend-error');
  });

  await sub('forged replies (oversized attribute, wrong authenticator) are dropped and logged; the gateway keeps serving', async () => {
    const relayMark = relay!.lines.length;
    const mark = gw.logs().length;
    // a wrong password: the forged Access-Accept must not let it in
    await refused(connect(RELAYED.user, 'wrong-password', RELAYED.group));
    // the right one: freeradius's real answer, relayed after the forgeries, counts
    const c = connect(RELAYED.user, RELAYED.password, RELAYED.group);
    await c.waitTunnel(30_000);
    assert.ok(await bed.pingSoon(gwHost(emp)));
    await logout(c, RELAYED.user);
    const relayed = relay!.lines.slice(relayMark).filter((l) => l.text.startsWith("{")).map((l) => JSON.parse(l.text) as { event: string; code?: number });
    assert.equal(relayed.filter((e) => e.event === 'forged').length, 2, 'the relay forged an answer to each of the two requests');
    assert.deepEqual(relayed.filter((e) => e.event === 'relayed').map((e) => e.code), [3, 2], 'freeradius rejected, then accepted');
    const lines = logMsgs(mark);
    const dropped = (why: RegExp): number => lines.filter((l) => l.startsWith(`RADIUS: dropped a reply from 127.0.0.1:${relayPort}`) && why.test(l)).length;
    assert.equal(dropped(/wrong Response Authenticator/), 2, lines.join('\n'));
    assert.equal(dropped(/attribute|length|truncated|exceeds/i), 2, lines.join('\n'));
    const [failed] = await logged(mark, 'login failed');
    assert.equal(failed?.['user'], RELAYED.user);
    assert.equal(failed?.['reason'], 'bad-credentials');
  });

  await sub('accounting: Start, Interim-Update and Stop with octets and User-Request; ctl terminate gives Admin-Reset; a vanished client Lost-Carrier', async (tc) => {
    const records = (prefix: string): AccountingRecord[] => fr!.accountingRecords().filter((r) => attr(r, 'Acct-Session-Id')?.startsWith(prefix));
    const sessionPrefix = (id: number): string => `${id.toString(16).padStart(8, '0')}-`;
    const status = (rs: AccountingRecord[]): string[] => rs.map((r) => attr(r, 'Acct-Status-Type') ?? '?');

    const c = connect(A.user, A.password, 'Employees');
    await c.waitTunnel(30_000);
    const id = (await sessions()).find((s) => s.user === A.user)!.id;
    const prefix = sessionPrefix(id);
    assert.ok(await tb.cl.ping(gwHost(emp), { count: 5, timeoutMs: 10_000 }), 'five pings through the tunnel');
    // the server's Acct-Interim-Interval (2 s) wins over the configured 600 s
    await eventually(() => `an Interim-Update for ${prefix}: ${status(records(prefix)).join(', ')}`, 20_000, () =>
      status(records(prefix)).includes('Interim-Update') ? true : undefined,
    );
    await logout(c, A.user);
    const rs = await eventually(() => `a Stop for ${prefix}: ${status(records(prefix)).join(', ')}`, 20_000, () => {
      const r = records(prefix);
      return status(r).includes('Stop') ? r : undefined;
    });
    const st = status(rs);
    assert.equal(st[0], 'Start');
    assert.equal(st.at(-1), 'Stop');
    for (const r of rs) assert.equal(attr(r, 'Framed-IP-Address'), framedIp, `${attr(r, 'Acct-Status-Type')} carries the Framed-IP-Address`);
    assert.ok(st.slice(1, -1).length >= 1 && st.slice(1, -1).every((s) => s === 'Interim-Update'), st.join(', '));
    const stop = rs.at(-1)!;
    tc.diagnostic(`Stop record: ${JSON.stringify(Object.fromEntries(stop.attrs))}`);
    assert.equal(attr(stop, 'User-Name'), A.user);
    assert.equal(attr(stop, 'Acct-Terminate-Cause'), 'User-Request');
    assert.equal(attr(stop, 'Framed-IP-Address'), framedIp);
    assert.equal(attr(stop, 'Calling-Station-Id'), tb.clAddr);
    assert.equal(attr(stop, 'NAS-Identifier'), 'sslgate-e2e');
    assert.equal(attr(stop, 'Class'), '0x' + Buffer.from(A.classText).toString('hex'), 'the Class of the Access-Accept is echoed');
    // five pings each way: at least 5 x 84 bytes (IP + ICMP) in and out
    for (const k of ['Acct-Input-Octets', 'Acct-Output-Octets', 'Acct-Input-Packets', 'Acct-Output-Packets']) {
      assert.ok(Number(attr(stop, k)) > 0, `${k} = ${attr(stop, k)}`);
    }
    assert.ok(Number(attr(stop, 'Acct-Input-Octets')) >= 5 * 84, `Acct-Input-Octets = ${attr(stop, 'Acct-Input-Octets')}`);
    assert.ok(Number(attr(stop, 'Acct-Output-Octets')) >= 5 * 84, `Acct-Output-Octets = ${attr(stop, 'Acct-Output-Octets')}`);
    assert.ok(Number(attr(stop, 'Acct-Session-Time')) >= 1);

    // ended by the administrator
    const c2 = connect(A.user, A.password, 'Employees');
    await c2.waitTunnel(30_000);
    assert.ok(await bed.pingSoon(gwHost(emp)));
    const id2 = (await sessions()).find((s) => s.user === A.user)!.id;
    const r = await ctl(gw, ['terminate', String(id2)]);
    assert.equal(r.code, 0, r.stderr);
    await c2.proc.waitExit(15_000);
    await bed.stop(c2);
    const rs2 = await eventually(() => `a Stop for session ${id2}`, 20_000, () => {
      const r2 = records(sessionPrefix(id2));
      return status(r2).includes('Stop') ? r2 : undefined;
    });
    assert.equal(attr(rs2.at(-1)!, 'Acct-Terminate-Cause'), 'Admin-Reset');
    assert.equal(status(rs2)[0], 'Start');

    // the client vanishes (SIGKILL: no BYE, no logout): after cookie-timeout the session ends
    const c3 = connect(A.user, A.password, 'Employees');
    await c3.waitTunnel(30_000);
    assert.ok(await bed.pingSoon(gwHost(emp)));
    const id3 = (await sessions()).find((s) => s.user === A.user)!.id;
    c3.proc.kill('SIGKILL');
    await c3.proc.waitExit(10_000);
    await bed.stop(c3);
    const rs3 = await eventually(() => `a Stop for session ${id3}`, 60_000, () => {
      const r3 = records(sessionPrefix(id3));
      return status(r3).includes('Stop') ? r3 : undefined;
    });
    const stop3 = rs3.at(-1)!;
    assert.equal(attr(stop3, 'Acct-Terminate-Cause'), 'Lost-Carrier');
    assert.ok(Number(attr(stop3, 'Acct-Input-Octets')) > 0 && Number(attr(stop3, 'Acct-Input-Packets')) > 0, 'the ended tunnel\'s traffic is counted');
  });
});
