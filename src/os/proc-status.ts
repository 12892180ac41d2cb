/**
 * A process's identity and capabilities as the kernel reports them in /proc/PID/status: what
 * the gateway checks before starting (what does it lack?) and after giving up root (is it
 * really gone?), and what the tests read for the network process.
 */
import { readFileSync } from 'node:fs';

/** Capability numbers (linux/capability.h) that `sslgate serve` needs, and what for. */
export const CAP = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  NET_BIND_SERVICE: 10,
  NET_ADMIN: 12,
} as const;

export interface ProcStatus {
  /** real, effective, saved, filesystem */
  uid: [number, number, number, number];
  gid: [number, number, number, number];
  groups: number[];
  capEff: bigint;
  capPrm: bigint;
  capInh: bigint;
  capBnd: bigint;
  capAmb: bigint;
  noNewPrivs: boolean;
}

/** Parses the text of /proc/PID/status (pure). Throws on a file without Uid/CapEff lines. */
export function parseProcStatus(text: string): ProcStatus {
  const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
  const ids = (name: string): [number, number, number, number] => {
    const v = (field(name) ?? '').split(/\s+/).map(Number);
    if (v.length !== 4 || v.some((x) => !Number.isInteger(x))) throw new Error(`/proc status: no ${name} line`);
    return v as [number, number, number, number];
  };
  const caps = (name: string): bigint => {
    const v = field(name);
    if (v === undefined || !/^[0-9a-f]{1,16}$/i.test(v)) throw new Error(`/proc status: no ${name} line`);
    return BigInt(`0x${v}`);
  };
  return {
    uid: ids('Uid'),
    gid: ids('Gid'),
    groups: (field('Groups') ?? '').split(/\s+/).filter(Boolean).map(Number),
    capEff: caps('CapEff'),
    capPrm: caps('CapPrm'),
    capInh: caps('CapInh'),
    capBnd: caps('CapBnd'),
    capAmb: caps('CapAmb'),
    noNewPrivs: field('NoNewPrivs') === '1',
  };
}

export function readProcStatus(pid: number | 'self' = 'self'): ProcStatus {
  return parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

export function hasCap(set: bigint, cap: number): boolean {
  return ((set >> BigInt(cap)) & 1n) === 1n;
}
