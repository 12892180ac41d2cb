/**
 * The gateway under attack: `bin/sslgate serve` in the gateway namespace with a config that holds
 * only what the testbed needs (listen address, state folder, network with a split route, two
 * users added with `sslgate user add`) and nothing else: every limit is the gateway's default.
 * It logs at debug level, the only place today's gateway shows a session's DTLS id to an
 * operator (`DTLS id offered`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execIn, tempDir, type Ns, type NsProcess } from '../../test/helpers/netns.js';
import { SSLGATE_BIN } from '../../test/helpers/sslgate.js';
import { loadConfig, type GatewayConfig } from '../../src/gateway/config.js';
import { call, locateAdmin, type AdminEndpoint } from '../../src/cli/ctl-client.js';
import { spawnServe } from '../peers/sslgate.js';

export interface DrillUser {
  name: string;
  password: string;
}

export interface DrillGateway {
  proc: NsProcess;
  configFile: string;
  /** the config as the gateway reads it: the defaults it runs on, for the report */
  config: GatewayConfig;
  url: string;
  host: string;
  port: number;
  pin: string;
  /** the gateway's tunnel address (target of the legitimate user's ping and transfer) */
  tunAddr: string;
  admin: AdminEndpoint;
  /** the configuration text, printed in the report */
  yaml: string;
  stop(): Promise<void>;
}

export async function startDrillGateway(ns: Ns, o: { listenHost: string; pool: string; users: DrillUser[] }): Promise<DrillGateway> {
  const dir = tempDir('sgattack');
  const configFile = path.join(dir, 'gateway.yaml');
  const tunAddr = o.pool.replace(/\.0\/24$/, '.1');
  const yaml = [
    `listen: ${o.listenHost}:443`,
    'state: ./state',
    // Two network processes whatever the machine's CPUs (`workers: auto` is one per CPU, each
    // about 90 MiB at idle): the memory bound then means the same on every machine, and the drill
    // still crosses workers (attackers and the legitimate user spread over both).
    'workers: 2',
    'network:',
    `  address: ${tunAddr}/24`,
    // Split-include the pool only: the veth to the gateway stays outside the tunnel.
    `  routes: [${o.pool}]`,
    '',
  ].join('\n');
  fs.writeFileSync(configFile, yaml);
  for (const u of o.users) {
    const r = await execIn(null, process.execPath, [SSLGATE_BIN, 'user', 'add', u.name, '--config', configFile], { input: `${u.password}\n`, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`sslgate user add ${u.name} failed: ${r.stderr}`);
  }
  const config = loadConfig(configFile);
  const { proc, pin } = await spawnServe(ns, process.execPath, [SSLGATE_BIN, 'serve', '--config', configFile, '--log-level', 'debug', '--log-format', 'json'], 'sslgate-serve', dir);
  return {
    proc,
    configFile,
    config,
    url: `https://${o.listenHost}`,
    host: o.listenHost,
    port: 443,
    pin,
    tunAddr,
    admin: locateAdmin({ config: configFile }),
    yaml,
    async stop(): Promise<void> {
      await proc.stop('SIGTERM', 5000);
    },
  };
}

/** A 64-hex-digit value under a key that names a DTLS/session/app id, anywhere in `v`. */
function findDtlsId(v: unknown, depth = 0): string | null {
  if (depth > 4 || v === null || typeof v !== 'object') return null;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x === 'string' && /^[0-9a-f]{64}$/i.test(x) && /(dtls|app|session).*id/i.test(k)) return x.toLowerCase();
    const inner = findDtlsId(x, depth + 1);
    if (inner) return inner;
  }
  return null;
}

/**
 * The DTLS id of `user`'s live session, as an operator sees it: the control API's session view
 * (`ctl session ID --json`) when it shows one, else the newest `DTLS id offered` debug log line.
 */
export async function dtlsIdOf(gw: DrillGateway, user: string): Promise<{ id: string; mode: string | null; source: string; session: number } | null> {
  const sessions = (await call(gw.admin, 'GET', `/v1/sessions?user=${encodeURIComponent(user)}`)) as Array<{ id: number; state: string; channel?: { dtls?: { mode?: string } | null } | null }>;
  const live = sessions.filter((s) => s.state === 'connected').sort((a, b) => b.id - a.id)[0];
  if (!live) return null;
  const view = await call(gw.admin, 'GET', `/v1/sessions/${live.id}`);
  const mode = live.channel?.dtls?.mode ?? null;
  const fromApi = findDtlsId(view);
  if (fromApi) return { id: fromApi, mode, source: 'ctl session --json', session: live.id };
  for (let i = gw.proc.lines.length - 1; i >= 0; i--) {
    const t = gw.proc.lines[i]!.text;
    if (!t.includes('"DTLS id offered"')) continue;
    try {
      const rec = JSON.parse(t) as { session?: number; dtlsId?: string; dtls?: string };
      if (rec.session === live.id && typeof rec.dtlsId === 'string') return { id: rec.dtlsId, mode: rec.dtls ?? mode, source: 'gateway debug log', session: live.id };
    } catch {
      // not JSON: skip
    }
  }
  return null;
}

/** The session view of `user`'s newest connected session, or null. */
export async function liveSessionView(gw: DrillGateway, user: string): Promise<{ id: number; channel: { type: string; dtls: { established: boolean } | null } | null } | null> {
  const sessions = (await call(gw.admin, 'GET', `/v1/sessions?user=${encodeURIComponent(user)}`, 5000)) as Array<{
    id: number;
    state: string;
    channel: { type: string; dtls: { established: boolean } | null } | null;
  }>;
  return sessions.filter((s) => s.state === 'connected').sort((a, b) => b.id - a.id)[0] ?? null;
}
