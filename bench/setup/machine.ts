/** What the results were measured on: CPU, memory, kernel, OS and peer versions (for the JSON and README). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

export interface Machine {
  cpu: string;
  cpus: number;
  memGiB: number;
  kernel: string;
  os: string;
  node: string;
  versions: Record<string, string>;
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown';
}

function pkgVersion(pkg: string): string {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'not installed';
}

export function describeMachine(): Machine {
  let osName = 'unknown';
  try {
    osName = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
    osName += ` (${readFileSync('/etc/debian_version', 'utf8').trim()})`;
  } catch {
    // not Debian: keep what we have
  }
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown';
  return {
    cpu,
    // os.cpus(), not availableParallelism(): the latter follows this process's CPU affinity.
    cpus: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    os: osName,
    node: process.version,
    versions: {
      ocserv: pkgVersion('ocserv'),
      openconnect: pkgVersion('openconnect'),
      iperf3: pkgVersion('iperf3'),
      openssl: firstLine('openssl', ['version']),
    },
  };
}

export function machineNote(m: Machine): string {
  return `${m.cpus} vCPU ${m.cpu}, ${m.memGiB} GiB, kernel ${m.kernel}, ${m.os}, Node ${m.node}, ocserv ${m.versions['ocserv']}, openconnect ${m.versions['openconnect']}`;
}
