/**
 * Issue 9 §1 acceptance: privilege separation, with real openconnect clients. While sessions run
 * over TLS and over DTLS, the process that reads from the network has a uid that is not 0 and
 * no capabilities at all (/proc/PID/status), never opened users.json (its open files), and
 * cannot read it; the privileged process still checks passwords, and a reload still adds a pool
 * (its subnet appears on the TUN device and a client of the new group gets an address there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseProcStatus } from '../../src/os/proc-status.js';
import { ctl, ctlJson } from '../helpers/ctl.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { execIn, interopSkipReason, tcpTransfer } from '../helpers/netns.js';
import { gwHost, SSLGATE_BIN as REPO_BIN } from '../helpers/sslgate.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip', 'setpriv']);
const MB5 = 5 * 1024 * 1024;

function statusOf(pid: number): ReturnType<typeof parseProcStatus> {
  return parseProcStatus(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** Every file the process has open, as the kernel names them. */
function openFiles(pid: number): string[] {
  return fs.readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return '';
    }
  });
}

test('privilege separation: the network process runs without root or capabilities', { skip, timeout: 240_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'privsep');
  const tb = bed.tb;
  const net = tb.poolNet(0);
  const net2 = tb.poolNet(3);
  const base = `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}, ${net2}]\ngroups:\n  - name: Employees\n`;
  const gw = await bed.startGateway({ yaml: base, users: [{ name: 'alice', password: 'pw-a' }] });
  const listening = await gw.waitLog(/gateway listening/);
  const netPid = Number(listening['networkPid']);
  const privPid = Number(listening['privilegedPid']);
  assert.ok(netPid > 0 && privPid > 0 && netPid !== privPid, `pids in the log: ${JSON.stringify(listening)}`);
  const usersFile = path.join(gw.dir, 'state', 'users.json');

  const checkNetworkProcess = (when: string): void => {
    const st = statusOf(netPid);
    assert.ok(st.uid.every((u) => u !== 0), `${when}: network process uids ${st.uid.join('/')}`);
    assert.ok(st.gid.every((g) => g !== 0), `${when}: network process gids ${st.gid.join('/')}`);
    assert.equal(st.capEff, 0n, `${when}: CapEff ${st.capEff.toString(16)}`);
    assert.equal(st.capPrm, 0n, `${when}: CapPrm ${st.capPrm.toString(16)}`);
    assert.equal(st.capBnd, 0n, `${when}: CapBnd ${st.capBnd.toString(16)}`);
    assert.equal(st.noNewPrivs, true, `${when}: NoNewPrivs`);
    assert.ok(!openFiles(netPid).some((f) => f.includes('users.json')), `${when}: the network process has users.json open`);
    // the privileged process keeps root: it owns the TUN set-up and the password hashes
    assert.equal(statusOf(privPid).uid[1], 0);
  };

  await t.test('TLS session: uid not 0, CapEff 0, no users.json', async () => {
    const c = bed.connect({ user: 'alice', password: 'pw-a', noDtls: true });
    await c.waitTunnel(20_000);
    assert.ok(await bed.pingSoon(gwHost(net)), 'no ping over TLS');
    checkNetworkProcess('TLS session');
    // ctl status reports the same, from the network process's own /proc/self/status
    const st = await ctlJson<{ processes: { network: { pid: number; uid: number; capEff: string }; privileged: { pid: number } } }>(gw, ['status']);
    assert.deepEqual([st.processes.network.pid, st.processes.privileged.pid], [netPid, privPid]);
    assert.notEqual(st.processes.network.uid, 0);
    assert.equal(st.processes.network.capEff, '0000000000000000');
    const text = await ctl(gw, ['status']);
    assert.match(text.stdout, new RegExp(`processes: +network ${netPid} \\(uid \\d+, gid \\d+, no capabilities\\), privileged ${privPid}`));
    await bed.stop(c);
  });

  await t.test('DTLS session: uid not 0, CapEff 0; data moves over DTLS', async () => {
    const c = bed.connect({ user: 'alice', password: 'pw-a' });
    await c.waitTunnel(20_000);
    await c.proc.waitForLine(/Established DTLS connection/, 15_000);
    const up = await tcpTransfer(tb.cl, tb.gw, gwHost(net), MB5);
    assert.equal(up.receivedSha256, up.sentSha256);
    checkNetworkProcess('DTLS session');
    const mark = gw.proc.lines.length;
    await bed.stop(c);
    const closed = await gw.waitLog(/client disconnected/, 5000, mark);
    assert.ok(Number(closed['dtlsRxPackets']) > 1000, `DTLS rx packets: ${closed['dtlsRxPackets']}`);
  });

  await t.test('the network uid cannot read users.json', async () => {
    const st = statusOf(netPid);
    const r = await execIn(null, 'setpriv', [`--reuid=${st.uid[0]}`, `--regid=${st.gid[0]}`, '--clear-groups', 'cat', usersFile]);
    assert.notEqual(r.code, 0, 'the run-as-user could read users.json');
    assert.match(r.stderr, /Permission denied/);
    assert.equal(fs.statSync(usersFile).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(gw.dir, 'state')).mode & 0o777, 0o700);
  });

  await t.test('a reload adds a pool: its subnet goes on the TUN, a client of the new group gets an address there', async () => {
    fs.appendFileSync(gw.configFile, `  - name: Contractors\n    network: { address: ${gwHost(net2)}/24 }\n`);
    const r = await ctl(gw, ['reload']);
    assert.equal(r.code, 0, r.stderr);
    const addrs = (await tb.gw.exec('ip', ['-4', '-o', 'addr', 'show'])).stdout;
    assert.ok(addrs.includes(`${gwHost(net2)}/24`), `new pool subnet not on the TUN:\n${addrs}`);
    const c = bed.connect({ user: 'alice', password: 'pw-a', authgroup: 'Contractors', noDtls: true });
    const tun = await c.waitTunnel(20_000);
    assert.equal(tun.address.split('.').slice(0, 3).join('.'), net2.split('.').slice(0, 3).join('.'), `address ${tun.address} not in ${net2}`);
    assert.ok(await bed.pingSoon(gwHost(net2)), 'no ping in the new pool');
    checkNetworkProcess('after reload');
  });

  await t.test('a wrong password is still refused (checked by the privileged process)', async () => {
    const c = bed.connect({ user: 'alice', password: 'wrong', authgroup: 'Employees', noDtls: true });
    const ex = await c.proc.waitExit(20_000);
    assert.notEqual(ex.code, 0);
    assert.ok(c.lines.some((l) => /Login failed/.test(l.text)), `no "Login failed." shown:\n${c.proc.tail()}`);
  });
});

test('started without a privilege it needs, serve says exactly which and why', { skip: interopSkipReason(['setpriv']), timeout: 60_000 }, async () => {
  // Root, but without CAP_NET_ADMIN in the bounding set (as in a container that dropped it).
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'sg-privsep-'));
  try {
    fs.writeFileSync(path.join(dir, 'gw.yaml'), `listen: 127.0.0.1:443\nstate: ./state\nnetwork: { address: 10.251.0.1/24 }\n`);
    const r = await execIn(null, 'setpriv', ['--bounding-set=-net_admin', '--inh-caps=-net_admin', process.execPath, REPO_BIN, 'serve', '--config', path.join(dir, 'gw.yaml')], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /must be started as root; it lacks:/);
    assert.match(r.stderr, /CAP_NET_ADMIN: to create the TUN device/);
    assert.doesNotMatch(r.stderr, /CAP_SETUID|CAP_NET_BIND_SERVICE/, 'it has those: only what is missing is listed');
    assert.ok(!fs.existsSync(path.join(dir, 'state')), 'nothing was created before the check');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
