/**
 * Everything the client derives from the page address: the WebSocket URL, the
 * `Arguments` for the init message, and the removal of a launch token from the
 * address bar.
 */

/** The parts of `window.location` this module reads (a plain object in unit checks). */
export interface PageLocation {
  protocol: string;
  host: string;
  pathname: string;
  search: string;
  hash: string;
}

/**
 * GoTTY builds `ws[s]://` + host + pathname + `ws`. We resolve `ws` against the page's
 * directory instead, which is the same URL whenever the page path ends in `/` (the only
 * case GoTTY handles) and stays right when the index is served at an unmatched path
 * such as `/base/foo`: the page's scripts and CSS are relative links too, so the
 * WebSocket lives next to them.
 */
export function websocketUrl(location: PageLocation, wsQueryArgs: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const directory = location.pathname.endsWith('/')
    ? location.pathname
    : location.pathname.slice(0, location.pathname.lastIndexOf('/') + 1) || '/';
  const query = wsQueryArgs !== '' ? `?${wsQueryArgs}` : '';
  return `${scheme}//${location.host}${directory}ws${query}`;
}

function decodeKey(part: string): string {
  const rawKey = part.split('=', 1)[0] ?? '';
  try {
    return decodeURIComponent(rawKey.replace(/\+/g, ' '));
  } catch {
    return rawKey;
  }
}

/**
 * Returns `search` without its `jwt` parameters, keeping every other pair byte for byte
 * (URLSearchParams would re-encode them), or null when there is no `jwt` to remove.
 */
export function searchWithoutJwt(search: string): string | null {
  if (search.length <= 1) {
    return null;
  }
  const parts = search.slice(1).split('&');
  const kept = parts.filter((part) => decodeKey(part) !== 'jwt');
  if (kept.length === parts.length) {
    return null;
  }
  const rest = kept.filter((part) => part !== '').join('&');
  return rest === '' ? '' : `?${rest}`;
}

/**
 * A launch token in the address bar would end up in bookmarks, history and screenshots.
 * Once the page has read it (the original search string is kept in memory for the init
 * message and every reconnect), replace the address without it. No reload happens.
 */
export function removeJwtFromAddressBar(location: PageLocation, history: History): void {
  const search = searchWithoutJwt(location.search);
  if (search === null) {
    return;
  }
  try {
    history.replaceState(history.state, '', `${location.pathname}${search}${location.hash}`);
  } catch {
    // A sandboxed or opaque-origin page may refuse; the session still works.
  }
}
