/**
 * Issue 11, `workers: 2`: `limits.max-sessions-per-user` is admitted atomically for the whole
 * gateway (priv/user-locks.ts): N logins of one user written at the same instant on
 * connections spread over both workers (limits-attacker.ts `logins`), with a limit of 1:
 *   - `session-overflow: refuse-newest`: exactly one login gets a session, the others are refused;
 *   - `session-overflow: end-oldest`: every login wins, each ending the one before, wherever it
 *     lives; exactly one session is left, the newest.
 * And with one worker (`workers: 1`), where logins in flight together took turns neither: the
 * count came before the session was recorded, so several passed (user-turns.ts now).
 * Counted without the lock (the old code: each login asks the other workers for a count), two
 * logins on two workers at the same instant both pass: more than one session results.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { interopSkipReason } from '../helpers/netns.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { gwHost, type SslgateGateway } from '../helpers/sslgate.js';
import { ctlJson } from '../helpers/ctl.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ATTACKER = path.join(HERE, 'limits-attacker.js');
const skip = interopSkipReason(['ip']);

const LOGINS = 8;

interface View {
  id: number;
  user: string;
  worker?: number;
}

/** Waits until `n` log records pass `pred` (the gateway's output is read asynchronously). */
async function records(gw: SslgateGateway, pred: (l: Record<string, unknown>) => boolean, n: number, what: string): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 150; i++) {
    const hits = gw.logs().filter(pred);
    if (hits.length >= n) return hits;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fewer than ${n} log records: ${what}\n${gw.proc.tail(40)}`);
}

for (const [workers, overflow] of [[2, 'refuse-newest'], [2, 'end-oldest'], [1, 'refuse-newest']] as const) {
  test(`workers: ${workers}, max-sessions-per-user 1, ${overflow}: ${LOGINS} logins of one user at once leave exactly one session`, { skip, timeout: 180_000 }, async (t) => {
    const bed = await GatewayBed.open(t, `mcu${workers}${overflow === 'end-oldest' ? 'o' : 'r'}`);
    const net = bed.tb.poolNet(0);
    const gw = await bed.startGateway({
      yaml: `workers: ${workers}\nlimits: { max-sessions-per-user: 1, session-overflow: ${overflow} }\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
      users: [{ name: 'alice', password: 'secret-a' }],
    });
    const port = new URL(gw.url).port || '443';
    const a = bed.tb.cl.spawn(process.execPath, [ATTACKER, 'logins', bed.tb.gwAddr, port, String(LOGINS), 'alice', 'secret-a', 'Employees'], { label: 'logins' });
    t.after(() => a.stop('SIGKILL', 2000).catch(() => undefined));
    const m = await a.waitForLine(/^\{"event":"(logins|error|lifetime-over)"/, 120_000).catch((e: unknown) => assert.fail(`no report: ${(e as Error).message}\n${a.tail()}`));
    const r = JSON.parse(m.input ?? '{}') as { event: string; tokens: number; errors: string[] };
    assert.equal(r.event, 'logins', m.input);
    t.diagnostic(`${overflow}: ${r.tokens} of ${LOGINS} logins got a session; errors: ${JSON.stringify(r.errors)}`);

    // Every login was decided (admitted or refused) and both workers decided some.
    const isLogin = (l: Record<string, unknown>): boolean => l['msg'] === 'login' || l['msg'] === 'login refused: limit reached';
    const decided = await records(gw, isLogin, LOGINS, 'logins decided');
    if (workers > 1) assert.deepEqual([...new Set(decided.map((l) => Number(l['worker'])))].sort(), [0, 1], 'the logins ran on both workers');

    const alice = (await ctlJson<View[]>(gw, ['sessions'])).filter((v) => v.user === 'alice');
    t.diagnostic(`sessions left: ${JSON.stringify(alice)}`);
    assert.equal(alice.length, 1, `exactly one session of alice: ${JSON.stringify(alice)}`);
    const logins = gw.logs().filter((l) => l['msg'] === 'login');
    if (overflow === 'refuse-newest') {
      assert.equal(r.tokens, 1, 'exactly one login admitted');
      assert.equal(r.errors.length, LOGINS - 1, JSON.stringify(r.errors));
      for (const e of r.errors) assert.match(e, /already have 1 session/);
      assert.equal(logins.length, 1);
    } else {
      assert.equal(r.tokens, LOGINS, 'with end-oldest every login wins');
      assert.equal(logins.length, LOGINS);
      // The one left is the newest: the last login ended every older one.
      assert.equal(alice[0]!.id, Math.max(...logins.map((l) => Number(l['session']))));
    }
  });
}
