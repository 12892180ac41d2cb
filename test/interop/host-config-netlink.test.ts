/**
 * The client's host configuration over rtnetlink (os/netlink-config.ts, native/netlink.c) must
 * leave the kernel exactly as the ip(8) path does (SSLGATE_NETLINK=0): same addresses, MTU, link
 * state and routes, for split tunnels, a full tunnel (0/1 + 128/1 and the gateway's host route via
 * its present path) and split-excludes. And a request the kernel refuses falls back to ip(8),
 * which then says what failed. Each case runs HostConfig.apply in a child process inside the
 * client namespace of a fresh testbed, on a persistent TUN device (ip tuntap) standing in for the client's.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { createTestbed, interopSkipReason, tempDir, type Testbed } from '../helpers/netns.js';
import { REPO_ROOT } from '../helpers/sslgate.js';

const skip = interopSkipReason(['ip']);

/** The child: apply `params` to device `dev` with HostConfig, print the progress lines. */
const CHILD = `
import { HostConfig } from ${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'client', 'host-config.js'))};
const [dev, gateway, mtu, json] = process.argv.slice(2);
const lines = [];
const progress = { info: (m) => lines.push('info ' + m), warn: (m) => lines.push('warn ' + m) };
const hc = new HostConfig(dev, progress);
try {
  await hc.apply(JSON.parse(json), gateway, Number(mtu));
} finally {
  process.stdout.write(lines.join('\\n') + '\\n');
}
`;

function params(over: Record<string, unknown>): Record<string, unknown> {
  return { address: '10.123.4.5', netmask: '255.255.255.0', splitInclude: [], splitIncludeIp6: [], splitExclude: [], splitExcludeIp6: [], ...over };
}

interface Snapshot {
  link: string;
  addrs: string;
  routes: string;
}

async function snapshot(tb: Testbed, dev: string): Promise<Snapshot> {
  const link = await tb.cl.exec('ip', ['-o', 'link', 'show', 'dev', dev]);
  const addrs = await tb.cl.exec('ip', ['-o', '-4', 'addr', 'show', 'dev', dev]);
  const routes = await tb.cl.exec('ip', ['-4', 'route', 'show', 'table', 'main']);
  // Interface indexes and MACs differ between runs: compare the rest.
  const norm = (s: string): string => s.replace(new RegExp(`\\b${dev}\\b`, 'g'), 'DEV').replace(/^\d+: /gm, '').replace(/link\/ether \S+ brd \S+/, 'link/ether X').replace(/valid_lft.*$/gm, '').trim();
  return { link: norm(link.stdout), addrs: norm(addrs.stdout), routes: norm(routes.stdout).split('\n').sort().join('\n') };
}

test('host configuration: rtnetlink and ip(8) leave the same kernel state', { skip, timeout: 120_000 }, async (t) => {
  let tb: Testbed | undefined;
  t.after(async () => {
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'hcnl' });
  const dir = tempDir('hcnl');
  const child = path.join(dir, 'apply.mjs');
  fs.writeFileSync(child, CHILD);
  let n = 0;

  const apply = async (p: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<{ snap: Snapshot; out: string }> => {
    const dev = `hcnl${n++}`;
    const add = await tb!.cl.exec('ip', ['tuntap', 'add', 'dev', dev, 'mode', 'tun']);
    assert.equal(add.code, 0, add.stderr);
    try {
      const r = await tb!.cl.exec(process.execPath, [child, dev, tb!.gwAddr, '1399', JSON.stringify(p)], { env: { ...process.env, ...env } });
      assert.equal(r.code, 0, `HostConfig.apply failed: ${r.stderr}`);
      return { snap: await snapshot(tb!, dev), out: r.stdout };
    } finally {
      await tb!.cl.exec('ip', ['link', 'del', dev]);
      // The full-tunnel host route to the gateway is outside the device: remove it too.
      await tb!.cl.exec('ip', ['route', 'del', `${tb!.gwAddr}/32`]);
    }
  };

  const cases: Array<[string, Record<string, unknown>]> = [
    ['split tunnel', params({ splitInclude: ['10.200.0.0/255.255.0.0', '172.16.1.0/24'] })],
    ['full tunnel: 0/1 + 128/1 and the gateway kept on its path', params({})],
    ['split-exclude via the present path, /32 netmask address', params({ netmask: '255.255.255.255', splitInclude: ['10.201.0.0/16'], splitExclude: ['192.0.2.0/24', '0.0.0.0/255.255.255.255'] })],
  ];
  for (const [name, p] of cases) {
    await t.test(name, async () => {
      const nl = await apply(p, {});
      const ipb = await apply(p, { SSLGATE_NETLINK: '0' });
      assert.doesNotMatch(nl.out, /netlink:/, `the netlink path fell back:\n${nl.out}`);
      assert.match(nl.out, /configured over rtnetlink/, `the netlink path did not run:\n${nl.out}`);
      assert.doesNotMatch(ipb.out, /configured over rtnetlink/, 'SSLGATE_NETLINK=0 still used netlink');
      assert.deepEqual(nl.snap, ipb.snap, `netlink:\n${nl.out}\nip(8):\n${ipb.out}`);
      assert.match(nl.snap.link, /mtu 1399/);
      assert.match(nl.snap.link, /[<,]UP[,>]/);
      assert.match(nl.snap.addrs, new RegExp(`inet ${String(p['address']).replace(/\./g, '\\.')}/`));
    });
  }

  await t.test('a request the kernel refuses falls back to ip(8), which says what failed', async () => {
    // No such device: netlink's lookup fails first (logged), then ip(8) fails and names it.
    const bad = await tb!.cl.exec(process.execPath, [child, 'hcnl-none', tb!.gwAddr, '1399', JSON.stringify(params({ splitInclude: ['10.202.0.0/16'] }))]);
    assert.notEqual(bad.code, 0, 'a missing device must fail');
    assert.match(bad.stdout, /^info netlink: no device hcnl-none; configuring with ip\(8\)$/m);
    assert.match(bad.stdout, /^info ip -batch failed/m);
    assert.match(bad.stderr, /hcnl-none/);
  });
});
