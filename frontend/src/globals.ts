/**
 * Reads the configuration the server hands the page through plain scripts.
 *
 * `auth_token.js` defines `var gotty_auth_token`, `config.js` defines `var gotty_term`
 * and (sorenisanerd's fork, gotty-py) `var gotty_ws_query_args` and
 * `var gotty_enable_webgl`. A custom index page may
 * leave any of them out, and a future server may add more, so every read is defensive:
 * a missing or mistyped global falls back to the default instead of throwing.
 */

export type RendererChoice = 'webgl' | 'dom';

export interface ServerGlobals {
  /** Sent back as `AuthToken` in the init message. */
  authToken: string;
  /** `xterm` or `hterm` in GoTTY; this client always renders with xterm.js. */
  term: string;
  /** Appended as `?<args>` to the WebSocket URL when not empty. */
  wsQueryArgs: string;
  /**
   * `var gotty_enable_webgl` (gotty-py's config.js, after sorenisanerd's --enable-webgl):
   * false asks for the DOM renderer. Preferences (`enable-webgl`) can still change it.
   */
  enableWebgl: boolean;
  /** Renderer forced by a test hook; it wins over the server's settings. */
  rendererOverride: RendererChoice | null;
}

function readGlobalString(name: string): string | null {
  const value = (globalThis as unknown as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : null;
}

/**
 * The renderer can be forced with `#renderer=dom` (or `webgl`) in the address, or with a
 * global `gotty_renderer` set before the bundle runs (tests use Playwright's init script).
 */
function readGlobalBoolean(name: string): boolean | null {
  const value = (globalThis as unknown as Record<string, unknown>)[name];
  return typeof value === 'boolean' ? value : null;
}

function readRendererOverride(hash: string): RendererChoice | null {
  const fromHash = /(?:^#|[#&;,])renderer=(dom|webgl)\b/.exec(hash);
  if (fromHash) {
    return fromHash[1] as RendererChoice;
  }
  const fromGlobal = readGlobalString('gotty_renderer');
  return fromGlobal === 'dom' || fromGlobal === 'webgl' ? fromGlobal : null;
}

export function readServerGlobals(hash: string): ServerGlobals {
  return {
    authToken: readGlobalString('gotty_auth_token') ?? '',
    term: readGlobalString('gotty_term') ?? 'xterm',
    wsQueryArgs: readGlobalString('gotty_ws_query_args') ?? '',
    enableWebgl: readGlobalBoolean('gotty_enable_webgl') ?? true,
    rendererOverride: readRendererOverride(hash),
  };
}
