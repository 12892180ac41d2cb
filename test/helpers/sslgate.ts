/**
 * Runs our gateway (`bin/sslgate serve`) inside a testbed namespace with a generated config,
 * users added through `bin/sslgate user add` (as a person would), and a generated certificate.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execIn, tempDir, type Ns, type NsProcess } from './netns.js';

/** Repository root (this file runs as dist/test/helpers/sslgate.js). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SSLGATE_BIN = path.join(REPO_ROOT, 'bin', 'sslgate');

export interface GatewayUser {
  name: string;
  password: string;
  groups?: string[];
}

export interface StartGatewayOptions {
  listenHost: string;
  port?: number;
  /** YAML text of the whole config except listen/state (network, groups, profile...) */
  yaml: string;
  users: GatewayUser[];
  /** files to write into the config folder (e.g. profile.xml) */
  files?: Record<string, string>;
  /** tun.offload in the config (default: not written, i.e. the gateway's default, on) */
  tunOffload?: boolean;
  /** runs after the config and users are written, before `serve` starts (e.g. `user import`) */
  beforeServe?: (configFile: string, dir: string) => Promise<void>;
}

export interface SslgateGateway {
  proc: NsProcess;
  dir: string;
  configFile: string;
  url: string;
  pin: string;
  stop(): Promise<void>;
  /** JSON log records printed so far */
  logs(): Array<Record<string, unknown>>;
  /** waits for a log record whose msg matches */
  waitLog(msg: RegExp, timeoutMs?: number, from?: number): Promise<Record<string, unknown>>;
}

export async function startGateway(ns: Ns, o: StartGatewayOptions): Promise<SslgateGateway> {
  const dir = tempDir('sg-gw-');
  const port = o.port ?? 443;
  for (const [name, content] of Object.entries(o.files ?? {})) fs.writeFileSync(path.join(dir, name), content);
  const configFile = path.join(dir, 'gateway.yaml');
  // A unique TUN name per gateway: parallel test files run gateways in other namespaces, but a
  // readable name helps when reading logs.
  fs.writeFileSync(configFile, `listen: ${o.listenHost}:${port}\nstate: ./state\ntun: { name: sgw%d${o.tunOffload === undefined ? '' : `, offload: ${o.tunOffload}`} }\n${o.yaml}\n`);
  for (const u of o.users) {
    const args = [SSLGATE_BIN, 'user', 'add', u.name, '--config', configFile];
    if (u.groups) args.push('--groups', u.groups.join(','));
    const r = await execIn(null, process.execPath, args, { input: u.password + '\n', timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`user add ${u.name} failed: ${r.stderr}`);
  }
  await o.beforeServe?.(configFile, dir);
  return launchGateway(ns, { dir, configFile, url: port === 443 ? `https://${o.listenHost}` : `https://${o.listenHost}:${port}` });
}

/**
 * `sslgate serve` on a config already written (startGateway's, or the one of a gateway that was
 * killed: a restart on the same state folder, issue 12). `extraArgs` go after `serve`.
 */
export async function launchGateway(ns: Ns, at: { dir: string; configFile: string; url: string }, extraArgs: string[] = []): Promise<SslgateGateway> {
  const { dir, configFile } = at;
  const proc = ns.spawn(process.execPath, [SSLGATE_BIN, 'serve', '--config', configFile, ...extraArgs], { label: 'sslgate-serve', cwd: dir });
  try {
    await proc.waitForLine(/"msg":"gateway listening"/, 20_000);
  } catch (e) {
    throw new Error(`sslgate serve did not start: ${(e as Error).message}\n${proc.tail()}`);
  }
  const pinLine = proc.lines.find((l) => l.text.includes('--servercert pin-sha256:'));
  const pin = /(pin-sha256:\S+)/.exec(pinLine?.text ?? '')?.[1];
  if (!pin) throw new Error(`no pin printed:\n${proc.tail()}`);
  const logs = (): Array<Record<string, unknown>> =>
    proc.lines
      .filter((l) => l.text.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l.text) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  return {
    proc,
    dir,
    configFile,
    url: at.url,
    pin,
    logs,
    async waitLog(msg: RegExp, timeoutMs = 10_000, from = 0): Promise<Record<string, unknown>> {
      const m = await proc.waitForLine(new RegExp(`"msg":"${msg.source}`), timeoutMs, from);
      return JSON.parse(m.input ?? '{}') as Record<string, unknown>;
    },
    async stop(): Promise<void> {
      await proc.stop('SIGTERM', 5000);
    },
  };
}

/** "10.100.7.0/24" -> "10.100.7.1": the gateway's own address in a testbed pool. */
export function gwHost(net: string): string {
  return net.replace(/\.0\/24$/, '.1');
}

/**
 * The config most interop tests use: Employees on `emp` (the default network, with DNS), the
 * "External Contractors" group on its own pool `con`, both routed, a banner and a profile file.
 */
export function twoGroupYaml(emp: string, con: string): string {
  return `network:
  address: ${gwHost(emp)}/24
  dns: [${gwHost(emp)}]
  routes: [${emp}, ${con}]
banner: Welcome to the sslgate testbed
groups:
  - name: Employees
  - name: Contractors
    label: External Contractors
    network: { address: ${gwHost(con)}/24 }
profile: profile.xml
`;
}
