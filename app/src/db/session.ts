/** Server settings for a whole session, carried in the connection URL (so node-pg-migrate's own connection gets them too). */

/**
 * The URL with `-c name=value` added to its startup options for each setting (options the URL already carries
 * are kept). Values must be plain words: the settings come from validated configuration, never from requests.
 */
export function withSessionSettings(url: string, settings: Record<string, string>): string {
  const entries = Object.entries(settings);
  if (!entries.length) return url;
  const u = new URL(url);
  const extra = entries.map(([name, value]) => `-c ${name}=${value}`).join(' ');
  u.searchParams.set('options', `${u.searchParams.get('options') ?? ''} ${extra}`.trim());
  return u.toString();
}
