/**
 * The `ctl-*` messages of the privileged channel (workers > 1): `sslgate ctl` reaches one worker
 * (worker 0 answers the admin socket), but sessions live on every worker. The asking worker sends
 * `ctl-relay`; the privileged process sends `ctl-ask` to every other worker, collects their
 * `ctl-answer`s for a bounded time (ctl-relay.ts) and answers `ctl-relayed`, with null for a
 * worker that did not answer in time (a stuck worker must not hang ctl).
 *
 * An answer is the asked worker's result as JSON text, cut into parts that fit the channel's
 * frame limit (MAX_FRAME_FROM_NETWORK): a list of thousands of sessions is larger. The privileged
 * process does not parse it (it only relays it, bounded: MAX_CTL_ANSWER_CHARS); the asking worker
 * checks it (ops/ctl-relay.ts). As for every message from a network process, the shapes are
 * validated here and anything else ends the channel.
 */
import { USER_NAME_MAX_BYTES } from './limits.js';

/**
 * What one worker is asked: its sessions (all, one id, one user's), to act on them, or its
 * metrics summary (ops/worker-metrics.ts: worker 0 serves the metrics of every worker).
 */
export interface CtlAsk {
  op: 'sessions' | 'disconnect' | 'terminate' | 'metrics';
  id?: number;
  user?: string;
}

/** network process -> privileged process */
export type CtlRequest =
  /** ask every other worker (answered ctl-relayed with the same id) */
  | { t: 'ctl-relay'; id: number; ask: CtlAsk }
  /** a part of this worker's answer to ctl-ask `id`; the last has more: false */
  | { t: 'ctl-answer'; id: number; part: string; more: boolean };

/** privileged process -> network process */
export type CtlReply =
  | { t: 'ctl-ask'; id: number; ask: CtlAsk }
  /** result: the worker's answer (JSON text), or null when it did not answer in time */
  | { t: 'ctl-relayed'; id: number; answers: Array<{ worker: number; result: string | null }> };

export const CTL_REQUEST_TYPES: ReadonlySet<string> = new Set(['ctl-relay', 'ctl-answer']);

/** One part of an answer: well under the 64 KiB frame even when every character is escaped twice over. */
export const CTL_PART_CHARS = 12_000;
/** A whole answer (the session list of a busy worker: ~700 characters per session). */
export const MAX_CTL_ANSWER_CHARS = 16 * 1024 * 1024;

export class CtlMessageError extends Error {
  constructor(message: string) {
    super(`network process sent an invalid ctl message: ${message}`);
    this.name = 'ChannelProtocolError';
  }
}

function fail(why: string): never {
  throw new CtlMessageError(why);
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`unexpected key ${JSON.stringify(k.slice(0, 40))}`);
}

function uint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} must be a non-negative integer`);
  return v;
}

export function parseCtlAsk(v: unknown): CtlAsk {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('ask must be an object');
  const o = v as Record<string, unknown>;
  onlyKeys(o, ['op', 'id', 'user']);
  const op = o['op'];
  if (op !== 'sessions' && op !== 'disconnect' && op !== 'terminate' && op !== 'metrics') fail('op must be sessions, disconnect, terminate or metrics');
  const ask: CtlAsk = { op };
  if (o['id'] !== undefined) ask.id = uint(o['id'], 'ask.id');
  if (o['user'] !== undefined) {
    if (typeof o['user'] !== 'string' || Buffer.byteLength(o['user']) > USER_NAME_MAX_BYTES) fail(`ask.user must be a string of at most ${USER_NAME_MAX_BYTES} bytes`);
    ask.user = o['user'];
  }
  // Acting on every session of every worker is not something ctl asks for.
  if ((op === 'disconnect' || op === 'terminate') && ask.id === undefined && ask.user === undefined) fail(`${op} needs an id or a user`);
  if (op === 'metrics' && (ask.id !== undefined || ask.user !== undefined)) fail('metrics takes no id or user');
  return ask;
}

/** Validates a `ctl-*` frame from a network process. Throws CtlMessageError. */
export function parseCtlRequest(v: Record<string, unknown>): CtlRequest {
  switch (v['t']) {
    case 'ctl-relay':
      onlyKeys(v, ['t', 'id', 'ask']);
      return { t: 'ctl-relay', id: uint(v['id'], 'id'), ask: parseCtlAsk(v['ask']) };
    case 'ctl-answer':
      onlyKeys(v, ['t', 'id', 'part', 'more']);
      if (typeof v['part'] !== 'string' || v['part'].length > CTL_PART_CHARS) fail(`part must be a string of at most ${CTL_PART_CHARS} characters`);
      if (typeof v['more'] !== 'boolean') fail('more must be true or false');
      return { t: 'ctl-answer', id: uint(v['id'], 'id'), part: v['part'], more: v['more'] };
    default:
      fail(`unknown type ${JSON.stringify(String(v['t']).slice(0, 40))}`);
  }
}

/** `text` in parts of at most CTL_PART_CHARS (at least one part, for an empty answer). */
export function ctlAnswerParts(text: string): string[] {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += CTL_PART_CHARS) parts.push(text.slice(i, i + CTL_PART_CHARS));
  return parts.length ? parts : [''];
}
