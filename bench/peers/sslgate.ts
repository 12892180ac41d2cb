/**
 * Our gateway (`bin/sslgate serve`) in a namespace, set up for benchmarking: the shared
 * certificate (same key type as ocserv's), a pool as large as asked, max-clients high, pinned to
 * the gateway CPU. Like test/helpers/sslgate.ts, but with the knobs a benchmark needs.
 *
 * `kdf: 'light'` replaces the bench user's scrypt hash (N=16384, ~55 ms per login here) by one
 * with N=1024 (~3.4 ms, about what ocserv's SHA-512 crypt costs: ~2.6 ms). The gateway reads the
 * parameters from the stored hash, so it verifies it as any other. Used where the item measures
 * something else than the KDF (memory per session), and for an informational handshake row.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execIn, tempDir, type Ns, type NsProcess } from '../../test/helpers/netns.js';
import { SSLGATE_BIN } from '../../test/helpers/sslgate.js';
import { formatIpv4, networkOf, parseIpv4Cidr } from '../../src/protocol/ipv4.js';
import { pinnedArgv } from '../lib/pinning.js';
import type { BenchPki } from './pki.js';

export interface SslgateOptions {
  listenHost: string;
  /** the gateway's tunnel address with the pool's prefix, e.g. 10.100.7.1/24 */
  network: string;
  user: string;
  password: string;
  pki: BenchPki;
  cpus: string | null;
  maxClients?: number;
  kdf?: 'default' | 'light';
  /**
   * false: `auth.cache-seconds: 0`, every login runs the KDF (as ocserv runs crypt on every
   * login). Default: the gateway's credential cache, which lets a user who logged in within the
   * last minutes skip the KDF; the benchmark logs in as one user over and over, so with the cache
   * every login after the first is a cache hit.
   */
  credentialCache?: boolean;
  logLevel?: string;
  /** extra YAML (per-mode settings such as DTLS, once the gateway has them) */
  yaml?: string;
}

export interface SslgateUnderTest {
  proc: NsProcess;
  url: string;
  pin: string;
  /** the gateway's address inside the tunnel (echo/iperf3 target) */
  tunAddr: string;
  stop(): Promise<void>;
}

const LIGHT_SCRYPT = { N: 1024, r: 8, p: 1 };

/** Rewrites `user`'s hash in STATE/users.json with the light scrypt parameters. */
function lightenHash(stateDir: string, user: string, password: string): void {
  const file = path.join(stateDir, 'users.json');
  const store = JSON.parse(fs.readFileSync(file, 'utf8')) as { users?: Record<string, { hash?: unknown }> };
  const rec = store.users?.[user];
  if (!rec || typeof rec.hash !== 'string' || !rec.hash.startsWith('scrypt$')) {
    throw new Error(`${file}: user ${user} has no scrypt hash in the expected format; update bench/peers/sslgate.ts`);
  }
  const { N, r, p } = LIGHT_SCRYPT;
  const salt = randomBytes(16);
  // Same derivation as src/gateway/user-store.ts: NFKC-normalised password, 32-byte key.
  const key = scryptSync(password.normalize('NFKC'), salt, 32, { N, r, p });
  rec.hash = `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
  fs.writeFileSync(file, JSON.stringify(store, null, 2) + '\n', { mode: 0o600 });
}

/**
 * Spawns `sslgate serve` (cmd/args: maybe wrapped for CPU pinning) in `ns` and waits for its
 * start-up banner; returns the process and the certificate pin it printed. Killed if it fails.
 */
export async function spawnServe(ns: Ns, cmd: string, args: string[], label: string, cwd: string): Promise<{ proc: NsProcess; pin: string }> {
  const proc = ns.spawn(cmd, args, { label, cwd });
  try {
    await proc.waitForLine(/sslgate gateway listening on/, 30_000);
  } catch (e) {
    await proc.stop('SIGKILL', 2000);
    throw new Error(`sslgate serve did not start: ${(e as Error).message}`);
  }
  const pin = proc.lines.map((l) => /--servercert (pin-sha256:\S+)/.exec(l.text)?.[1]).find((x) => x !== undefined);
  if (!pin) {
    await proc.stop('SIGKILL', 2000);
    throw new Error(`sslgate serve printed no pin:\n${proc.tail()}`);
  }
  return { proc, pin };
}

export async function startSslgate(ns: Ns, o: SslgateOptions): Promise<SslgateUnderTest> {
  const dir = tempDir('sgbench');
  const configFile = path.join(dir, 'gateway.yaml');
  const net = parseIpv4Cidr(o.network);
  if (!net) throw new Error(`startSslgate: bad network ${o.network}`);
  const tunAddr = formatIpv4(net.address);
  // Split-include the pool only: the veth between the namespaces stays outside the tunnel.
  const route = `${formatIpv4(networkOf(net))}/${net.prefix}`;
  fs.writeFileSync(
    configFile,
    [
      `listen: ${o.listenHost}:443`,
      'state: ./state',
      `tls: { cert: ${o.pki.certFile}, key: ${o.pki.keyFile} }`,
      'tun: { name: sgb%d }',
      'network:',
      `  address: ${o.network}`,
      `  dns: [${tunAddr}]`,
      `  routes: [${route}]`,
      'groups:',
      '  - name: Employees',
      '  - name: Contractors',
      '    label: External Contractors',
      'limits:',
      `  max-clients: ${o.maxClients ?? 1000}`,
      '  auth-timeout: 120',
      // No per-address connection rate limit: every load-generator session comes from one
      // address (the ocserv helper sets rate-limit-ms = 0 likewise).
      '  connection-rate: 0',
      // ... and all as one user, 32 logins in flight at once: no per-user session limit and no
      // cap on unauthenticated connections per address (like ocserv's max-same-clients = 0).
      '  max-sessions-per-user: none',
      '  max-unauth-per-address: 0',
      ...(o.credentialCache === false ? ['auth:', '  cache-seconds: 0'] : []),
      o.yaml ?? '',
      '',
    ].join('\n'),
  );
  const add = await execIn(null, process.execPath, [SSLGATE_BIN, 'user', 'add', o.user, '--config', configFile], { input: `${o.password}\n`, timeoutMs: 30_000 });
  if (add.code !== 0) throw new Error(`sslgate user add failed: ${add.stderr}`);
  if (o.kdf === 'light') lightenHash(path.join(dir, 'state'), o.user, o.password);
  const [cmd, args] = pinnedArgv(o.cpus, process.execPath, [SSLGATE_BIN, 'serve', '--config', configFile, '--log-level', o.logLevel ?? 'info']);
  const { proc, pin } = await spawnServe(ns, cmd, args, `sslgate@${ns.name}`, dir);
  return {
    proc,
    url: `https://${o.listenHost}`,
    pin,
    tunAddr,
    async stop(): Promise<void> {
      await proc.stop('SIGTERM', 5000);
    },
  };
}
