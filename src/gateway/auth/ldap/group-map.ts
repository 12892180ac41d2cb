/**
 * `group-map`: directory group DN -> gateway group (connection profile). Pure: no I/O.
 *
 * The map restricts which profiles a user may pick, like ocpasswd/`sslgate user --groups` for
 * local users: the accept result carries the gateway groups the user's directory groups map
 * to. A user in none of the mapped groups gets `groups: []`: authenticated, but allowed no
 * profile (the engine refuses the login as group-not-allowed, which says more in the log than
 * a wrong-password reject). Without a map (absent or empty) the method does not restrict:
 * `groups` is undefined.
 */
import { normalizeDn } from './dn.js';

export class GroupMap {
  /** canonical directory DN -> gateway groups (a DN may be listed twice in different spellings) */
  private readonly byDn = new Map<string, string[]>();
  /** gateway groups in the order the map names them: results come out in this order */
  private readonly order: string[] = [];

  /** Throws with a message naming the entry when a key is not a DN or a value is empty. */
  constructor(map: Record<string, string> | undefined) {
    for (const [dn, group] of Object.entries(map ?? {})) {
      const key = normalizeDn(dn);
      if (key === null || key === '') throw new Error(`group-map: ${JSON.stringify(dn)} is not a distinguished name`);
      if (typeof group !== 'string' || group.trim() === '') throw new Error(`group-map: ${JSON.stringify(dn)} maps to an empty group name`);
      const list = this.byDn.get(key) ?? [];
      if (!list.includes(group)) list.push(group);
      this.byDn.set(key, list);
      if (!this.order.includes(group)) this.order.push(group);
    }
  }

  /** False when the map is absent or empty: the method then does not restrict groups. */
  get restricts(): boolean {
    return this.byDn.size > 0;
  }

  /**
   * The gateway groups `directoryGroups` (DN strings as the directory returned them) map to,
   * each once, in map order; undefined when the map does not restrict. Values that are not
   * DNs are skipped (and counted in `ignored`, for the log).
   */
  map(directoryGroups: Iterable<string>): { groups: string[] | undefined; ignored: number } {
    if (!this.restricts) return { groups: undefined, ignored: 0 };
    const found = new Set<string>();
    let ignored = 0;
    for (const dn of directoryGroups) {
      const key = normalizeDn(dn);
      if (key === null) {
        ignored++;
        continue;
      }
      for (const g of this.byDn.get(key) ?? []) found.add(g);
    }
    return { groups: this.order.filter((g) => found.has(g)), ignored };
  }
}
