/**
 * Issue 12, bad input and faults of the session store on one machine:
 *   - a corrupted SQLite file at start: `serve` stops with an error that names the file and the
 *     way out (`--reset-state`), never a silent reset; with `--reset-state` it moves the file
 *     aside (kept) and starts empty;
 *   - a full disk (the state folder on a small tmpfs, filled up): store writes fail, the tunnel
 *     that is up keeps working, a new login is refused with a clear message, and once there is
 *     room again logins work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { execIn, interopSkipReason } from '../helpers/netns.js';
import { gwHost, launchGateway, twoGroupYaml } from '../helpers/sslgate.js';
import { ctl } from '../helpers/ctl.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip', 'mount', 'umount']);
const USERS = [{ name: 'alice', password: 'secret' }];
const FILES = { 'profile.xml': '<?xml version="1.0" encoding="UTF-8"?>\n<AnyConnectProfile xmlns="http://schemas.xmlsoap.org/encoding/"></AnyConnectProfile>\n' };

test('a corrupted session database stops serve with the file and the way out; --reset-state moves it aside', { skip, timeout: 180_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'sfc');
  const emp = bed.tb.poolNet(0);
  await bed.startGateway({ yaml: twoGroupYaml(emp, bed.tb.poolNet(1)), users: USERS, files: FILES });
  await bed.gw.stop();
  const db = join(bed.gw.dir, 'state', 'sessions.db');
  for (const f of [`${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true });
  const junk = Buffer.from('this was a session database before a bad disk sector\n'.repeat(200));
  fs.writeFileSync(db, junk);

  const err = await launchGateway(bed.tb.gw, { dir: bed.gw.dir, configFile: bed.gw.configFile, url: bed.gw.url }).then(
    () => assert.fail('serve started on a corrupted session database'),
    (e: Error) => e.message,
  );
  t.diagnostic(err);
  assert.ok(err.includes(db), 'the error names the file');
  assert.match(err, /--reset-state/, 'and the way out');
  assert.deepEqual(fs.readFileSync(db), junk, 'the file is left as it was');

  const gw = await bed.relaunch(['--reset-state']);
  const moved = fs.readdirSync(join(gw.dir, 'state')).filter((f) => f.startsWith('sessions.db.broken-'));
  assert.equal(moved.length, 1, `moved aside: ${moved.join(', ')}`);
  assert.deepEqual(fs.readFileSync(join(gw.dir, 'state', moved[0]!)), junk, 'kept, not deleted');
  const c = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: true });
  await bed.loginAndPing(c, 'after --reset-state', gwHost(emp));
});

test('a full disk: store writes fail and are counted, the tunnel keeps working, new logins are refused until there is room', { skip, timeout: 240_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'sff');
  const emp = bed.tb.poolNet(0);
  const server = gwHost(emp);
  let mounted = '';
  t.after(async () => {
    // Lazy: the gateway may still hold the file open while the clean-up runs.
    if (mounted) await execIn(null, 'umount', ['-l', mounted], { timeoutMs: 10_000 }).catch(() => undefined);
  });
  await bed.startGateway({
    yaml: twoGroupYaml(emp, bed.tb.poolNet(1)),
    users: USERS,
    files: FILES,
    // The state folder (users, certificate, sessions.db) on an 8 MiB tmpfs.
    beforeServe: async (_cfg, dir) => {
      const state = join(dir, 'state');
      const keep = join(dir, 'state.keep');
      fs.renameSync(state, keep);
      fs.mkdirSync(state, { mode: 0o700 });
      const r = await execIn(null, 'mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', state], { timeoutMs: 10_000 });
      assert.equal(r.code, 0, `mount: ${r.stderr}`);
      mounted = state;
      for (const f of fs.readdirSync(keep)) fs.cpSync(join(keep, f), join(state, f), { recursive: true, preserveTimestamps: true });
    },
  });
  const first = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: true });
  await first.waitTunnel(30_000);
  assert.ok(await bed.pingSoon(server), 'ping before the disk fills');

  // Fill the tmpfs to the last byte.
  const filler = join(mounted, 'filler');
  const dd = await execIn(null, 'dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { timeoutMs: 30_000 });
  assert.match(dd.stderr, /No space left on device/, `the disk is full: ${dd.stderr}`);

  const from = bed.gw.proc.lines.length;
  const second = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: true });
  const out = await bed.refused(second, 'login on a full disk', t);
  assert.match(out, /cannot record new sessions right now/, 'the user is told why');
  const rec = await bed.gw.waitLog(/login refused: the session store cannot record the session/, 10_000, from);
  assert.match(String(rec['err']), /full|disk|space/i, `the log says what failed: ${String(rec['err'])}`);
  assert.ok(await bed.pingSoon(server), 'the tunnel that was up keeps working');
  assert.equal(first.proc.running, true);
  // The tunnel's own writes (its record at tunnel down/up, checkpoints) fail too: counted.
  await bed.stop(first);
  let errors = 0;
  for (const until = Date.now() + 15_000; errors === 0 && Date.now() < until; await new Promise((r) => setTimeout(r, 500))) {
    errors = valueOf(parsePrometheus((await ctl(bed.gw, ['metrics'])).stdout), 'sslgate_state_store_errors_total', {});
  }
  assert.ok(errors >= 1, 'store write failures are counted in the metrics');

  fs.rmSync(filler);
  const third = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: true });
  await third.waitTunnel(30_000);
  assert.ok(await bed.pingSoon(server), 'logins work again once there is room');
});
