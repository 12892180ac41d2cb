// The privileged process's reload coordinator (src/gateway/priv/reload-coordinator.ts) with
// several workers: one reload at a time, and worker 0's reload (`ctl reload`) answered only when
// the other workers have followed it, so the next login gets the new configuration on any worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type GatewayConfig } from '../../src/gateway/config.js';
import { ReloadCoordinator, type ReloadWorker } from '../../src/gateway/priv/reload-coordinator.js';
import type { PrivilegedMessage } from '../../src/gateway/priv/messages.js';
import { createLogger } from '../../src/log.js';

interface FakeWorker extends ReloadWorker {
  sent: PrivilegedMessage[];
  alive: boolean;
}

function bed(workers: number, followTimeoutMs = 10_000) {
  const dir = mkdtempSync(join(tmpdir(), 'sg-reloadc-'));
  const file = join(dir, 'gw.yaml');
  writeFileSync(file, 'listen: 10.0.0.1:443\nstate: st\nnetwork: {address: 10.50.0.1/24, routes: [10.50.0.0/24]}\n');
  let running: GatewayConfig = loadConfig(file);
  const ws: FakeWorker[] = [];
  for (let i = 0; i < workers; i++) {
    const w: FakeWorker = {
      index: i,
      sent: [],
      alive: true,
      channel: {
        send: (m) => {
          if (!w.alive) return false;
          w.sent.push(m);
          return true;
        },
      },
    };
    ws.push(w);
  }
  // The coordinator's warnings, as the JSON lines its logger writes.
  const warnings: string[] = [];
  const log = createLogger({ level: 'warn', destination: { write: (line: string) => void warnings.push(line) } });
  const c = new ReloadCoordinator(
    {
      config: () => running,
      tunName: () => 'unused0',
      readClientCa: () => null,
      adopt: (p) => void (running = p.config),
      followers: () => ws.slice(1),
      log,
    },
    followTimeoutMs,
  );
  const last = (w: FakeWorker) => w.sent[w.sent.length - 1];
  return { c, ws, file, warnings, last, running: () => running, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test("worker 0's reload is answered when every other worker has followed it", (t) => {
  const b = bed(3);
  t.after(b.cleanup);
  const [w0, w1, w2] = b.ws as [FakeWorker, FakeWorker, FakeWorker];
  writeFileSync(b.file, 'listen: 10.0.0.1:443\nstate: st\nnetwork: {address: 10.50.0.1/24, routes: [10.50.0.0/24, 10.60.0.0/16]}\nbanner: two\n');
  b.c.read(1, w0);
  assert.equal(b.last(w0)?.t, 'reload-config');
  b.c.commit(1, w0);
  assert.equal(b.running().banner, 'two', 'the privileged process adopted it');
  // The followers are told; worker 0 is not answered yet.
  assert.deepEqual([b.last(w1), b.last(w2)], [{ t: 'reload' }, { t: 'reload' }]);
  assert.equal(b.last(w0)?.t, 'reload-config', 'worker 0 answered before the others followed');
  // Follower 1 reloads; follower 2 waits for its turn (one reload at a time).
  b.c.read(7, w1);
  b.c.read(9, w2);
  assert.equal(b.last(w1)?.t, 'reload-config');
  assert.deepEqual(b.last(w2), { t: 'reload' }, 'two reloads at once');
  b.c.commit(7, w1);
  assert.deepEqual(b.last(w1), { t: 'reload-done', id: 7, ok: true });
  assert.equal(b.last(w2)?.t, 'reload-config', "worker 2's turn came");
  assert.equal(b.last(w0)?.t, 'reload-config', 'worker 0 answered while worker 2 had not followed');
  b.c.commit(9, w2);
  assert.deepEqual(b.last(w0), { t: 'reload-done', id: 1, ok: true });
  assert.deepEqual(b.warnings, []);
});

test("a follower's failed reload also ends the wait (its failure is its own event)", (t) => {
  const b = bed(2);
  t.after(b.cleanup);
  const [w0, w1] = b.ws as [FakeWorker, FakeWorker];
  b.c.read(1, w0);
  b.c.commit(1, w0);
  // The file is broken between worker 0's reload and worker 1's.
  writeFileSync(b.file, 'listen: [nope\n');
  b.c.read(2, w1);
  assert.equal(b.last(w1)?.t, 'reload-failed');
  assert.deepEqual(b.last(w0), { t: 'reload-done', id: 1, ok: true });
  // And the next reload is not blocked.
  b.c.read(3, w0);
  assert.equal(b.last(w0)?.t, 'reload-failed');
});

test('a follower that exits, or never answers, does not hold worker 0 forever', async (t) => {
  const b = bed(3, 50);
  t.after(b.cleanup);
  const [w0, w1, w2] = b.ws as [FakeWorker, FakeWorker, FakeWorker];
  b.c.read(1, w0);
  b.c.commit(1, w0);
  // Worker 1 starts its reload and exits in the middle: the reload lock is released.
  b.c.read(5, w1);
  w1.alive = false;
  b.c.workerGone(1);
  // Worker 2 never answers: the timeout answers worker 0.
  assert.equal(b.last(w0)?.t, 'reload-config');
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(b.last(w0), { t: 'reload-done', id: 1, ok: true });
  assert.match(b.warnings.join('\n'), /"workers":\[2\].*did not follow the reload/);
  // The lock is free: worker 2's late reload runs.
  b.c.read(6, w2);
  assert.equal(b.last(w2)?.t, 'reload-config');
});

test('with one worker, or followers already gone, worker 0 is answered at once', (t) => {
  const one = bed(1);
  t.after(one.cleanup);
  const [w0] = one.ws as [FakeWorker];
  one.c.read(1, w0);
  one.c.commit(1, w0);
  assert.deepEqual(one.last(w0), { t: 'reload-done', id: 1, ok: true });

  const two = bed(2);
  t.after(two.cleanup);
  const [v0, v1] = two.ws as [FakeWorker, FakeWorker];
  v1.alive = false;
  two.c.read(1, v0);
  two.c.commit(1, v0);
  assert.deepEqual(two.last(v0), { t: 'reload-done', id: 1, ok: true });
});
