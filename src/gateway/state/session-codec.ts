/**
 * SessionRecord <-> JSON for stores that keep records as text (RedisStore). Reading checks the
 * shape: a record another program (or a bug, or an older version) wrote wrongly is reported by
 * its key instead of reaching the gateway as a half-valid session.
 */
import type { SessionRecord } from './types.js';

export class StoreDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreDataError';
  }
}

export function encodeSession(r: SessionRecord): string {
  return JSON.stringify(r);
}

const NUMS = ['id', 'createdAt', 'lastActivity', 'rxBytes', 'txBytes', 'rxPackets', 'txPackets'] as const;
const STRS = ['cookieHash', 'user', 'group', 'remote', 'userAgent', 'node'] as const;

function nullableNumber(v: unknown): boolean {
  return v === null || (typeof v === 'number' && Number.isFinite(v));
}

/** Throws StoreDataError naming `where` (the key) and the first field that is wrong. */
export function decodeSession(text: string, where: string): SessionRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StoreDataError(`${where}: not JSON`);
  }
  const bad = (field: string): never => {
    throw new StoreDataError(`${where}: field ${field} missing or of the wrong type`);
  };
  if (typeof v !== 'object' || v === null) return bad('(record)');
  const o = v as Record<string, unknown>;
  for (const k of NUMS) if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) bad(k);
  for (const k of STRS) if (typeof o[k] !== 'string') bad(k);
  if (!nullableNumber(o['address'])) bad('address');
  if (!nullableNumber(o['disconnectedAt'])) bad('disconnectedAt');
  const lim = o['limits'] as Record<string, unknown> | null;
  if (typeof lim !== 'object' || lim === null || !nullableNumber(lim['idleTimeout']) || !nullableNumber(lim['sessionTimeout'])) bad('limits');
  if (typeof o['attrs'] !== 'object' || o['attrs'] === null || Array.isArray(o['attrs'])) bad('attrs');
  for (const k of ['methods', 'loginMessages'] as const) {
    const a = o[k];
    if (!Array.isArray(a) || a.some((x) => typeof x !== 'string')) bad(k);
  }
  return o as unknown as SessionRecord;
}
