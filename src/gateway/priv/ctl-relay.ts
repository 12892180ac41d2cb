/**
 * The privileged process's side of the ctl relay (ctl-messages.ts): a worker asks every other
 * worker something about their sessions (worker 0 answers `sslgate ctl`, but the sessions live
 * on every worker). This collects the answers for at most `timeoutMs` and then answers the asker
 * with what came, null for a worker that stayed silent: `ctl` never hangs on a stuck worker.
 *
 * Answers are relayed as text, not parsed here (this process reads nothing it does not need);
 * their size is bounded (MAX_CTL_ANSWER_CHARS) and an answer to an id this process did not ask
 * that worker is dropped.
 */
import { MAX_CTL_ANSWER_CHARS, type CtlAsk, type CtlReply } from './ctl-messages.js';

/** How long the others get to answer; `ctl` waits this long at worst. */
export const CTL_RELAY_TIMEOUT_MS = 3000;
/** Relays in flight at once (each asks every worker); more are answered at once, empty. */
const MAX_RELAYS = 64;

interface Pending {
  from: number;
  askerId: number;
  /** every worker asked: each gets an entry in the answer */
  asked: number[];
  /** worker -> text so far; complete ones are in `done` */
  parts: Map<number, string>;
  done: Map<number, string>;
  waiting: Set<number>;
  timer: NodeJS.Timeout;
}

export class CtlRelay {
  private next = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly send: (worker: number, m: CtlReply) => boolean,
    private readonly warn: (fields: Record<string, unknown>, msg: string) => void,
    private readonly timeoutMs = CTL_RELAY_TIMEOUT_MS,
  ) {}

  /** Worker `from` asked (its request id `askerId`); `workers` are the indexes of the live workers. */
  relay(from: number, askerId: number, ask: CtlAsk, workers: readonly number[]): void {
    const others = workers.filter((w) => w !== from);
    if (others.length === 0 || this.pending.size >= MAX_RELAYS) {
      this.send(from, { t: 'ctl-relayed', id: askerId, answers: others.map((worker) => ({ worker, result: null })) });
      return;
    }
    const id = this.next++;
    const p: Pending = { from, askerId, asked: others, parts: new Map(), done: new Map(), waiting: new Set(), timer: setTimeout(() => this.finish(id), this.timeoutMs) };
    this.pending.set(id, p);
    for (const w of others) if (this.send(w, { t: 'ctl-ask', id, ask })) p.waiting.add(w);
    // A worker whose channel is closed was not asked: it counts as unanswered at once.
    if (p.waiting.size === 0) this.finish(id);
  }

  /** A part of worker `w`'s answer to ctl-ask `id`. */
  answer(w: number, id: number, part: string, more: boolean): void {
    const p = this.pending.get(id);
    if (!p || !p.waiting.has(w)) {
      this.warn({ worker: w, id }, 'ctl answer for nothing asked of that worker; dropped');
      return;
    }
    const text = (p.parts.get(w) ?? '') + part;
    if (text.length > MAX_CTL_ANSWER_CHARS) {
      this.warn({ worker: w, chars: text.length }, 'ctl answer too large; that worker counts as not answering');
      p.waiting.delete(w);
      p.parts.delete(w);
    } else if (more) {
      p.parts.set(w, text);
      return;
    } else {
      p.waiting.delete(w);
      p.parts.delete(w);
      p.done.set(w, text);
    }
    if (p.waiting.size === 0) this.finish(id);
  }

  /** Everything in flight is answered now (a worker gone, the gateway stopping). */
  flush(): void {
    for (const id of [...this.pending.keys()]) this.finish(id);
  }

  private finish(id: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (p.waiting.size) this.warn({ workers: [...p.waiting] }, 'worker(s) did not answer a ctl request in time');
    this.send(p.from, { t: 'ctl-relayed', id: p.askerId, answers: p.asked.map((worker) => ({ worker, result: p.done.get(worker) ?? null })) });
  }
}
