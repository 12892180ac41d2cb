/**
 * Issue 9 §4 as a test: the attack drill's quick mode (`npm run attack -- --quick`,
 * bench/attack/run.ts) against a gateway on its defaults. It passes when the drill does: the
 * legitimate openconnect user logs in and moves its data with the checksum verified, the
 * gateway's memory stays under the stated bound, and every attacker (slowloris, pipelining, DPD
 * flood, brute force, DTLS replay) ends up refused, cut off or banned. The drill makes and
 * removes its own namespaces; on failure the assertion shows its table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { interopSkipReason, tempDir } from '../helpers/netns.js';
import { REPO_ROOT } from '../helpers/sslgate.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);
const RUN_JS = path.join(REPO_ROOT, 'dist', 'bench', 'attack', 'run.js');

interface Check {
  check: string;
  pass: boolean;
  measured: string;
}

test('attack drill --quick: legitimate user succeeds, memory bounded, every attacker stopped', { skip, timeout: 600_000 }, async (t) => {
  const out = path.join(tempDir('attackdrill'), 'attack.json');
  const child = spawn(process.execPath, [RUN_JS, '--quick', '--out', out], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // SIGTERM: the drill removes its namespaces and processes, then exits.
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
    if (!done && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  });
  const code = await exited;
  assert.ok(fs.existsSync(out), `the drill wrote no JSON (exit ${code}):\n${stdout}\n${stderr.slice(-4000)}`);
  const json = JSON.parse(fs.readFileSync(out, 'utf8')) as { checks: Check[]; passed: boolean; broke: string | null };
  assert.equal(json.broke, null, `the drill broke:\n${json.broke}`);
  // Each check names what it measured; the full table is in the message.
  const failed = json.checks.filter((c) => !c.pass).map((c) => `${c.check}: ${c.measured}`);
  assert.deepEqual(failed, [], stdout);
  assert.ok(json.checks.length >= 12, `expected every check of the full drill, got ${json.checks.length}`);
  assert.equal(code, 0, stdout);
});
