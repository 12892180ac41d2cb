/**
 * The test bed of the cluster acceptance tests (issue 12 §2): one Ethernet segment (a bridge in a
 * "switch" namespace) joining a client namespace and two gateway namespaces, Redis on the switch,
 * optionally keepalived on both gateways sharing a virtual IP.
 *
 *   cl  10.88.0.100 ─┐
 *   gwA 10.88.0.11  ─┼─ br0 (namespace sw, 10.88.0.2: redis-server)     VIP 10.88.0.10
 *   gwB 10.88.0.12  ─┘
 *
 * The namespaces are private, so fixed addresses are safe with test files running in parallel;
 * names carry the test process's pid, and leftovers of a SIGKILLed run are swept by the next one.
 * Both gateways serve one tunnel pool (10.89.0.1/24) and one TLS certificate (a client that moves
 * from one node to the other must see the same server), as a real cluster would.
 */
import type { TestContext } from 'node:test';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Ns, registerCleanup, tempDir } from './netns.js';
import { openssl, spkiSha256 } from './pki.js';
import { startRedis, type RedisServer } from './redis.js';
import { startKeepalived, type Keepalived } from './keepalived.js';
import { startGateway, type GatewayUser, type SslgateGateway } from './sslgate.js';

export const LAN = '10.88.0';
export const VIP = `${LAN}.10`;
export const NODE_ADDR = [`${LAN}.11`, `${LAN}.12`] as const;
export const CLIENT_ADDR = `${LAN}.100`;
export const SWITCH_ADDR = `${LAN}.2`;
export const POOL = '10.89.0.1/24';
export const POOL_GW = '10.89.0.1';

/** The cluster tests' poll (test/helpers/poll.ts). */
export { until } from './poll.js';
const NS_RE = /^sgc-[a-z0-9]+-(\d+)-[a-z0-9]+-(sw|cl|ga|gb)$/;

function ip(args: string[], allowFail = false): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (!allowFail && r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout ?? '';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeNs(name: string): void {
  new Ns(name).killAllSync();
  ip(['netns', 'del', name], true);
  fs.rmSync(path.join('/etc/netns', name), { recursive: true, force: true });
}

/** Namespaces of cluster beds whose test process is gone (SIGKILL). */
function sweep(): void {
  for (const line of ip(['netns', 'list'], true).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = NS_RE.exec(name);
    if (m && !alive(Number(m[1]))) removeNs(name);
  }
}

let counter = 0;

export interface ClusterNode {
  name: string;
  ns: Ns;
  address: string;
  gw: SslgateGateway | null;
  keepalived: Keepalived | null;
}

export interface ClusterNodeOptions {
  balance?: boolean;
  /** more YAML (limits, ban, cookie-timeout ...) */
  extraYaml?: string;
  users: GatewayUser[];
}

export class ClusterBed {
  readonly nodes: ClusterNode[];
  redis!: RedisServer;
  certFile = '';
  keyFile = '';
  pin = '';
  private cleaned = false;

  private constructor(
    readonly id: string,
    readonly sw: Ns,
    readonly cl: Ns,
    ga: Ns,
    gb: Ns,
    readonly dir: string,
  ) {
    this.nodes = [
      { name: 'gw1', ns: ga, address: NODE_ADDR[0], gw: null, keepalived: null },
      { name: 'gw2', ns: gb, address: NODE_ADDR[1], gw: null, keepalived: null },
    ];
  }

  /** Namespaces, the segment and Redis; everything is removed when `t` ends (also on failure). */
  static async open(t: TestContext, tag: string): Promise<ClusterBed> {
    sweep();
    const safe = tag.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8) || 't';
    const id = `${safe}-${process.pid}-${(counter++).toString(36)}${Math.random().toString(36).slice(2, 5)}`;
    const names = ['sw', 'cl', 'ga', 'gb'].map((s) => `sgc-${id}-${s}`);
    const unregister = registerCleanup(() => names.forEach(removeNs));
    let bed: ClusterBed | undefined;
    t.after(async () => {
      await bed?.cleanup();
      names.forEach(removeNs);
      unregister();
    });
    for (const n of names) {
      fs.mkdirSync(path.join('/etc/netns', n), { recursive: true });
      fs.writeFileSync(path.join('/etc/netns', n, 'resolv.conf'), 'nameserver 127.0.0.1\n');
      ip(['netns', 'add', n]);
      ip(['-n', n, 'link', 'set', 'lo', 'up']);
    }
    const [sw, cl, ga, gb] = names as [string, string, string, string];
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', sw, 'addr', 'add', `${SWITCH_ADDR}/24`, 'dev', 'br0']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    const attach = (ns: string, port: string, addr: string): void => {
      ip(['link', 'add', port, 'netns', sw, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', ns]);
      ip(['-n', sw, 'link', 'set', port, 'master', 'br0']);
      ip(['-n', sw, 'link', 'set', port, 'up']);
      ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'lan0']);
      ip(['-n', ns, 'link', 'set', 'lan0', 'up']);
    };
    attach(cl, 'pcl', CLIENT_ADDR);
    attach(ga, 'pga', NODE_ADDR[0]);
    attach(gb, 'pgb', NODE_ADDR[1]);
    bed = new ClusterBed(id, new Ns(sw), new Ns(cl), new Ns(ga), new Ns(gb), tempDir('cluster'));
    for (const a of [SWITCH_ADDR, ...NODE_ADDR]) {
      if (!(await bed.cl.ping(a, { timeoutMs: 5000 }))) throw new Error(`cluster bed: ${a} does not answer ping from the client`);
    }
    bed.redis = await startRedis({ ns: bed.sw, host: SWITCH_ADDR });
    await bed.makeCertificate();
    return bed;
  }

  /** One certificate for every node (and the VIP): a client moving between nodes sees one server. */
  private async makeCertificate(): Promise<void> {
    this.certFile = path.join(this.dir, 'server-cert.pem');
    this.keyFile = path.join(this.dir, 'server-key.pem');
    await openssl(
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', this.keyFile, '-out', this.certFile, '-days', '30',
        '-subj', '/CN=vpn.cluster.test', '-addext', `subjectAltName=IP:${VIP},IP:${NODE_ADDR[0]},IP:${NODE_ADDR[1]}`],
      this.dir,
    );
    fs.chmodSync(this.keyFile, 0o600);
    this.pin = `pin-sha256:${spkiSha256(fs.readFileSync(this.certFile))}`;
  }

  /** The YAML of node `i` (listen on every address: its own and the VIP). */
  yaml(i: number, o: ClusterNodeOptions): string {
    const n = this.nodes[i]!;
    return `tls: { cert: ${this.certFile}, key: ${this.keyFile} }
network:
  address: ${POOL}
  routes: [${POOL.replace(/\.1\/24$/, '.0/24')}]
groups:
  - name: Employees
cluster:
  redis: ${this.redis.url}
  node: ${n.name}
  address: ${n.address}
  balance: ${o.balance === true}
${o.extraYaml ?? ''}`;
  }

  async startNode(i: number, o: ClusterNodeOptions): Promise<SslgateGateway> {
    const n = this.nodes[i]!;
    n.gw = await startGateway(n.ns, { listenHost: '0.0.0.0', yaml: this.yaml(i, o), users: o.users });
    return n.gw;
  }

  /** keepalived on both nodes: node 0 preferred (priority 150 vs 100), checks its gateway. */
  startVrrp(): void {
    this.nodes.forEach((n, i) => {
      const state = n.gw ? path.join(n.gw.dir, 'state') : undefined;
      n.keepalived = startKeepalived(
        n.ns,
        {
          iface: 'lan0',
          self: n.address,
          peer: this.nodes[1 - i]!.address,
          vip: `${VIP}/24`,
          priority: i === 0 ? 150 : 100,
          vrid: 51,
          ...(state ? { check: { host: n.address, port: 443, state } } : {}),
        },
        n.name,
      );
    });
  }

  url(host: string): string {
    return `https://${host}`;
  }

  /** A node dies: its link goes down and every process in it is killed (no goodbye). */
  async killNode(i: number): Promise<void> {
    const n = this.nodes[i]!;
    ip(['-n', n.ns.name, 'link', 'set', 'lan0', 'down'], true);
    n.ns.killAllSync();
    await n.gw?.proc.waitExit(10_000).catch(() => undefined);
    await n.keepalived?.proc.waitExit(10_000).catch(() => undefined);
  }

  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const n of this.nodes) {
      await n.gw?.stop().catch(() => undefined);
      await n.keepalived?.stop().catch(() => undefined);
    }
    await this.redis?.stop('SIGKILL').catch(() => undefined);
  }
}

/** test/interop/cluster-client.ts in a namespace: many sessions (login + CONNECT) without TUN. */
export class LightClient {
  private seen = 0;

  private constructor(readonly proc: import('./netns.js').NsProcess) {}

  static async start(ns: Ns, host: string, user: string, password: string): Promise<LightClient> {
    const script = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'interop', 'cluster-client.js');
    const proc = ns.spawn(process.execPath, [script, host, user, password, 'Employees', POOL_GW], { label: `light-client@${host}` });
    const c = new LightClient(proc);
    await c.answer('ready', 15_000);
    return c;
  }

  private async answer<T>(ev: string, ms: number): Promise<T> {
    const m = await this.proc.waitForLine(new RegExp(`^CC (\\{"ev":"${ev}".*)$`), ms, this.seen);
    this.seen = this.proc.lines.findIndex((l, i) => i >= this.seen && l.text === m.input) + 1;
    return JSON.parse(m[1]!) as T;
  }

  async open(count: number, concurrency = 8): Promise<{ ok: number; failed: number; addresses: string[]; errors: Record<string, number> }> {
    this.proc.write(JSON.stringify({ op: 'open', count, concurrency }) + '\n');
    return this.answer('open', 30_000 + count * 2000);
  }

  async ping(): Promise<{ ok: number; failed: number }> {
    this.proc.write('{"op":"ping"}\n');
    return this.answer('ping', 120_000);
  }

  async close(): Promise<void> {
    this.proc.write('{"op":"close"}\n');
    await this.answer('close', 30_000);
  }

  async stop(): Promise<void> {
    await this.proc.stop('SIGKILL', 2000);
  }
}
