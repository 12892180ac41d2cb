/**
 * Counts by key what happens during one event-loop turn and hands the counts on once, at the
 * end of the turn (setImmediate), or earlier when `maxKeys` keys have piled up (a message to
 * another process stays bounded). The privileged process tells worker 0 this way what it did
 * at accept: refusals by reason, admitted connections by address (connection-acceptor.ts).
 */
export class TurnTally<K> {
  private counts: Map<K, number> | null = null;

  constructor(private readonly flush: (counts: Map<K, number>) => void, private readonly maxKeys = Infinity) {}

  add(key: K): void {
    const first = this.counts === null;
    const by = (this.counts ??= new Map());
    by.set(key, (by.get(key) ?? 0) + 1);
    if (by.size >= this.maxKeys) {
      this.counts = null;
      this.flush(by);
      return;
    }
    if (first) setImmediate(this.endOfTurn);
  }

  private readonly endOfTurn = (): void => {
    const by = this.counts;
    this.counts = null;
    if (by?.size) this.flush(by);
  };
}
