/**
 * A Redis URL (cluster.redis) fit for logs, messages and `ctl status`: the whole user-info part
 * (user and password) becomes "***", so redis://u:secret@h:1 reads redis://***@h:1. Pure, and
 * without the Redis client, so the network process (cluster/view.ts) can use it too.
 */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '***';
      u.password = '';
    }
    return u.toString();
  } catch {
    // Never echo what may hold a password (config validation parses the URL, so this is rare).
    return '(unparsable URL)';
  }
}
