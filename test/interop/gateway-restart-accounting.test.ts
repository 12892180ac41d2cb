/**
 * Issue 12: RADIUS accounting goes on across `sslgate ctl restart`. openconnect logs in through
 * freeradius (with a Framed-IP-Address), moves 3 MB through the tunnel, the gateway is replaced,
 * the client reconnects with its cookie (same Framed-IP), moves 1 MB more and logs out: freeradius
 * has ONE Start for the session (the new process does not start it again) and a Stop whose
 * octets count both halves (the handover wrote the exact totals to the session store).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ctl, ctlJson } from '../helpers/ctl.js';
import { defaultUsersFile, RADIUS_USERS, startFreeradius, type AccountingRecord, type Freeradius } from '../helpers/freeradius.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { hasCommand, interopSkipReason, tcpTransfer } from '../helpers/netns.js';
import { prerequisite } from '../helpers/prerequisites.js';
import { gwHost } from '../helpers/sslgate.js';

const skip =
  interopSkipReason(['openconnect', 'ping', 'ip']) ||
  prerequisite('gateway RADIUS interop (freeradius)', hasCommand('freeradius') ? false : 'missing program: freeradius (Debian package freeradius)');

const A = RADIUS_USERS.accept;
const MB = 1024 * 1024;
const attr = (r: AccountingRecord, name: string): string | undefined => r.attrs.get(name)?.[0];

test('RADIUS accounting survives ctl restart: one Start, a Stop with the octets of before and after', { skip, timeout: 300_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'rsacct');
  const emp = bed.tb.poolNet(0);
  const server = gwHost(emp);
  const framedIp = server.replace(/\.1$/, '.77');
  let fr: Freeradius | undefined;
  t.after(async () => {
    await fr?.stop();
  });
  // No Acct-Interim-Interval from the server: Start and Stop only (the configured interim is long).
  fr = await startFreeradius({ ns: bed.tb.gw.name, usersFile: defaultUsersFile({ framedIp, acctInterim: null }) });
  const yaml = `network:
  address: ${server}/24
  routes: [${emp}]
groups:
  - name: Employees
    auth: [corp-radius]
auth-servers:
  corp-radius: { type: radius, address: 127.0.0.1:${fr.authPort}, secret: ${fr.secret}, nas-identifier: sslgate-restart, accounting: 127.0.0.1:${fr.acctPort}, timeout: 3, retries: 1 }
accounting: { server: corp-radius, interim: 3600 }
`;
  const gw = await bed.startGateway({ yaml, users: [] });
  const c = bed.connect({ user: A.user, password: A.password, authgroup: 'Employees', noDtls: true });
  const up = await c.waitTunnel(30_000);
  assert.equal(up.address, framedIp);
  const before = await tcpTransfer(bed.tb.cl, bed.tb.gw, server, 3 * MB);
  assert.equal(before.receivedSha256, before.sentSha256);

  const from = gw.proc.lines.length;
  const r = await ctl(gw, ['restart']);
  assert.equal(r.code, 0, `ctl restart: ${r.stderr}${r.stdout}`);
  await gw.waitLog(/gateway listening/, 30_000, from);
  const again = await gw.waitLog(/tunnel up/, 20_000, from);
  assert.equal(again['address'], framedIp, 'the Framed-IP-Address again');
  assert.ok(await bed.pingSoon(server));
  const after = await tcpTransfer(bed.tb.cl, bed.tb.gw, server, 1 * MB);
  assert.equal(after.receivedSha256, after.sentSha256);

  await bed.stop(c);
  const mine = (): AccountingRecord[] => fr!.accountingRecords().filter((x) => attr(x, 'User-Name') === A.user);
  const until = Date.now() + 20_000;
  while (!mine().some((x) => attr(x, 'Acct-Status-Type') === 'Stop') && Date.now() < until) await new Promise((res) => setTimeout(res, 250));
  const rs = mine();
  const kinds = rs.map((x) => attr(x, 'Acct-Status-Type'));
  t.diagnostic(`records: ${kinds.join(', ')}; Stop: ${JSON.stringify(Object.fromEntries(rs.at(-1)?.attrs ?? []))}`);
  assert.deepEqual(kinds, ['Start', 'Stop'], 'one Start (not again after the restart), one Stop');
  const ids = new Set(rs.map((x) => attr(x, 'Acct-Session-Id')));
  assert.equal(ids.size, 1, 'one Acct-Session-Id before and after the restart');
  const stop = rs[1]!;
  assert.equal(attr(stop, 'Acct-Terminate-Cause'), 'User-Request');
  assert.equal(attr(stop, 'Framed-IP-Address'), framedIp);
  const inOctets = Number(attr(stop, 'Acct-Input-Octets')) + 2 ** 32 * Number(attr(stop, 'Acct-Input-Gigawords') ?? 0);
  assert.ok(inOctets >= 4 * MB, `Acct-Input-Octets ${inOctets} counts the 3 MB before and the 1 MB after the restart`);
  // The gateway has no session left.
  assert.deepEqual(await ctlJson<unknown[]>(gw, ['sessions']), []);
});
