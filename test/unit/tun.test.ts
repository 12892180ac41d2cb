/**
 * TUN addon + ip(8) wrapper, for real: needs root. Node cannot setns() itself, so this creates a
 * throwaway network namespace, runs tun-child.js inside it with `ip netns exec`, and reports each
 * of the child's steps as a test. The namespace is deleted afterwards, also on failure.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CHILD_ENV } from './tun-child.js';
import { prerequisite } from '../helpers/prerequisites.js';

const skip = prerequisite('the TUN tests', process.getuid?.() !== 0 && 'needs root: creates a network namespace and TUN devices');

interface StepResult { name: string; ok: boolean; error?: string; info?: Record<string, unknown> }

const STEPS = [
  'open: kernel numbers a name pattern; a second non-multiqueue open is refused',
  'ip: address, link up and route lookup; errors carry command and stderr',
  'read: datagrams routed into the TUN arrive as IPv4 packets, in batches, after the headroom',
  'read: stop() holds packets in the kernel queue, start() delivers them',
  'read: an exception in the batch callback reaches uncaughtException and reading goes on',
  'read: a packet longer than slot - headroom is dropped and counted, not cut',
  'write: a crafted IPv4/UDP packet reaches a local socket; junk is refused without throwing',
  'writeBatch: one packet per write; a bad packet drops only itself',
  'multiQueue: the same name opens twice',
  'read: deleting the interface ends reading with one onError, not a busy loop',
  'worker: a thread that exits with its poller still running shuts down cleanly',
  'offload: a vnet-header TUN takes writes (single and batch) and cuts USO super-packets to the MTU',
  'offload on an openTun device (the client TUN): vnetHdr, and setMtu moves the limit super-packets are cut at',
  'close: twice is harmless; start() and writes afterwards are refused',
];

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000, env: env ?? process.env, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('TUN device and ip(8) inside a private network namespace', { skip }, () => {
  const ns = `sgtun-${process.pid}-${randomBytes(3).toString('hex')}`;
  let child: { code: number; stdout: string; stderr: string } | undefined;
  let results = new Map<string, StepResult>();

  before(async () => {
    const add = await run('ip', ['netns', 'add', ns]);
    assert.equal(add.code, 0, `ip netns add ${ns}: ${add.stderr}`);
    const script = fileURLToPath(new URL('./tun-child.js', import.meta.url));
    child = await run('ip', ['netns', 'exec', ns, process.execPath, script], { ...process.env, [CHILD_ENV]: ns });
    const line = child.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (line) results = new Map((JSON.parse(line.slice(7)) as StepResult[]).map((r) => [r.name, r]));
  });

  after(async () => {
    const del = await run('ip', ['netns', 'del', ns]);
    // Not fatal here (the tests already reported), but a leftover namespace must be visible.
    if (del.code !== 0 && !/No such file/.test(del.stderr)) console.error(`ip netns del ${ns}: ${del.stderr}`);
  });

  test('the in-namespace child ran to completion', () => {
    assert.ok(child, 'child did not run');
    assert.equal(child.code, 0, `child exited ${child.code}\n${child.stderr}\n${child.stdout}`);
  });

  for (const name of STEPS) {
    test(name, (t) => {
      const r = results.get(name);
      assert.ok(r, `step did not run\n${child?.stderr ?? ''}`);
      assert.ok(r.ok, r.error);
      if (r.info) t.diagnostic(JSON.stringify(r.info));
    });
  }

  test('every step the child ran is listed here', () => {
    assert.deepEqual([...results.keys()].filter((n) => !STEPS.includes(n)), []);
  });
});
