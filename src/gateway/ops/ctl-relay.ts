/**
 * Worker 0's side of the ctl relay (workers > 1): the admin API asks the other workers through
 * the privileged process (priv/ctl-relay.ts) and merges their answers with its own. Another
 * worker's answer is checked here before use (it is another process parsing the internet): the
 * shape each op answers, else that worker counts as not answering.
 */
import type { Logger } from '../../log.js';
import type { CtlAsk } from '../priv/ctl-messages.js';
import type { DisconnectResult, TerminateResult } from './session-actions.js';
import type { SessionView } from './session-view.js';

/** Asks every other worker; result null for one that did not answer in time. */
export type CtlRelayFn = (ask: CtlAsk) => Promise<Array<{ worker: number; result: string | null }>>;

export interface Relayed<T> {
  answers: Array<{ worker: number; value: T }>;
  /** workers that did not answer (in time, or sensibly) */
  silent: number[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ids = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => Number.isSafeInteger(x));

export function checkViews(v: unknown): SessionView[] | null {
  if (!Array.isArray(v)) return null;
  const ok = v.every((x) => isObj(x) && Number.isSafeInteger(x['id']) && typeof x['user'] === 'string' && (x['state'] === 'connected' || x['state'] === 'disconnected') && typeof x['bytesIn'] === 'number' && typeof x['bytesOut'] === 'number');
  return ok ? (v as SessionView[]) : null;
}

export function checkDisconnect(v: unknown): DisconnectResult | null {
  return isObj(v) && ids(v['disconnected']) && ids(v['notConnected']) ? { disconnected: v['disconnected'], notConnected: v['notConnected'] } : null;
}

export function checkTerminate(v: unknown): TerminateResult | null {
  return isObj(v) && ids(v['terminated']) ? { terminated: v['terminated'] } : null;
}

/** The others' answers to `ask`, each checked with `check`. */
export async function askOthers<T>(relay: CtlRelayFn, ask: CtlAsk, check: (v: unknown) => T | null, log: Logger): Promise<Relayed<T>> {
  const out: Relayed<T> = { answers: [], silent: [] };
  let raw: Array<{ worker: number; result: string | null }>;
  try {
    raw = await relay(ask);
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'ctl: the other workers could not be asked');
    return out;
  }
  for (const { worker, result } of raw) {
    let value: T | null = null;
    try {
      value = result === null ? null : check(JSON.parse(result));
    } catch {
      value = null;
    }
    if (value === null) {
      if (result !== null) log.warn({ worker }, 'ctl: malformed answer from another worker; ignored');
      out.silent.push(worker);
    } else out.answers.push({ worker, value });
  }
  return out;
}
