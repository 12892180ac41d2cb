/**
 * LDAP search filters built from a configured template and a value the user typed (RFC 4515).
 * Pure: no I/O.
 *
 * Only the characters RFC 4515 §3 requires are escaped: NUL, '*', '(', ')' and '\' become \XX.
 * Everything else stays as it is, UTF-8 included: ldapts decodes each \XX to one UTF-16 code
 * unit (FilterParser._unescapeHexValues), so escaping the UTF-8 bytes of "é" as \c3\a9 would
 * search for "Ã©". Control characters never reach here: the method refuses such names first.
 */

const FILTER_SPECIALS = /[\0*()\\]/g;

/** The RFC 4515 assertion-value form of `value`: `a*b` -> `a\2ab`, so it matches literally. */
export function escapeFilterValue(value: string): string {
  return value.replace(FILTER_SPECIALS, (c) => '\\' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

/**
 * `template` with each `{name}` replaced by the escaped `vars[name]`. A placeholder with no
 * variable is an error (a typo in the configuration must not become a literal "{usr}" search).
 */
export function fillFilter(template: string, vars: Record<string, string>): string {
  return template.replace(/\{([a-z]+)\}/gi, (whole, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`unknown placeholder ${whole} in LDAP filter ${template}`);
    return escapeFilterValue(v);
  });
}

/**
 * A configuration check: the template is one parenthesised filter with balanced parentheses
 * (counting only unescaped ones) and uses `{placeholder}`. Returns an error text, or null.
 */
export function checkFilterTemplate(template: string, placeholder: string): string | null {
  if (template.length === 0 || template.length > 1024) return 'must be 1-1024 characters';
  if (!template.startsWith('(') || !template.endsWith(')')) return 'must be a filter in parentheses, e.g. (uid={user})';
  if (!template.includes(`{${placeholder}}`)) return `must contain {${placeholder}}`;
  if (/[\0-\x1f\x7f]/.test(template)) return 'must not contain control characters';
  let depth = 0;
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c === '\\') {
      if (!/^[0-9a-f]{2}$/i.test(template.slice(i + 1, i + 3))) return `bad escape at offset ${i} (use \\XX)`;
      i += 2;
    } else if (c === '(') {
      depth++;
    } else if (c === ')') {
      depth--;
      if (depth < 0) return `unbalanced ')' at offset ${i}`;
      if (depth === 0 && i !== template.length - 1) return 'must be a single filter (wrap several in (&...))';
    }
  }
  if (depth !== 0) return 'unbalanced parentheses';
  return null;
}
