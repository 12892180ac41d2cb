/**
 * Login brute force from one address: wrong passwords for the legitimate user's name and for
 * other names, a few logins in parallel, each on a new TLS connection (init, then the filled-in
 * form), until the attempts or the window run out.
 *
 * Outcome per attempt, from this side: refused (closed before TLS: banned), login-failed (the
 * form again with an error, or an HTTP error), success (a wrong password let in: never), timeout.
 */
import { login, msLeft, windowOpen, type Target } from './net.js';

export interface BruteForceOptions extends Target {
  names: string[];
  attempts: number;
  parallel: number;
  endAt: number;
}

export interface BruteForceReport {
  attempts: number;
  outcomes: Record<'refused' | 'login-failed' | 'success' | 'timeout' | 'error', number>;
  /** the gateway's error messages of failed logins, with counts */
  messages: Record<string, number>;
  /** attempt number (1-based, in completion order) of the first refusal before TLS */
  firstRefusedAt: number | null;
  /** failed logins that got an answer after the first refusal (the ban not holding) */
  answeredAfterBan: number;
  /** the outcome of the last few attempts */
  last: string[];
  successes: Array<{ user: string; password: string }>;
}

export async function bruteForce(o: BruteForceOptions, progress: (msg: string) => void): Promise<BruteForceReport> {
  const rep: BruteForceReport = {
    attempts: 0,
    outcomes: { refused: 0, 'login-failed': 0, success: 0, timeout: 0, error: 0 },
    messages: {},
    firstRefusedAt: null,
    answeredAfterBan: 0,
    last: [],
    successes: [],
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < o.attempts && windowOpen()) {
      const i = next++;
      const user = o.names[i % o.names.length]!;
      const password = `guess-${i}-${Math.random().toString(36).slice(2, 8)}`;
      const r = await login(o, user, password, Math.min(20_000, Math.max(1000, msLeft())));
      rep.attempts++;
      rep.outcomes[r.kind]++;
      if (r.kind === 'success') {
        rep.successes.push({ user, password });
        r.link.sock.destroy();
      }
      if (r.kind === 'refused' && rep.firstRefusedAt === null) rep.firstRefusedAt = rep.attempts;
      if (r.kind === 'login-failed') {
        rep.messages[r.message] = (rep.messages[r.message] ?? 0) + 1;
        if (rep.firstRefusedAt !== null) rep.answeredAfterBan++;
      }
      rep.last.push(r.kind);
      if (rep.last.length > 10) rep.last.shift();
      // A refused attacker waits a little, then tries again (the ban may lapse).
      if (r.kind === 'refused') await new Promise((res) => setTimeout(res, 200));
    }
  };
  const tick = setInterval(() => progress(`${rep.attempts} attempts: ${JSON.stringify(rep.outcomes)}`), 5000);
  try {
    await Promise.all(Array.from({ length: o.parallel }, worker));
  } finally {
    clearInterval(tick);
  }
  return rep;
}
