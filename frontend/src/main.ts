/**
 * Entry point of gotty-bundle.js: reads the page's configuration, builds the terminal
 * and starts the session. Loaded last by index.html, after auth_token.js and config.js.
 */
import { removeJwtFromAddressBar, websocketUrl } from './address';
import { GottyClient } from './client';
import type { Connection } from './connection';
import { readServerGlobals } from './globals';
import { Overlays } from './overlay';
import { RecordedBanner } from './recorded';
import { SharingPanel, SharingState, hashWithoutJoin, joinFromHash } from './sharing';
import { TerminalView } from './terminal';

declare global {
  interface Window {
    /** Test hooks: the xterm.js Terminal, the current connection, the session controller. */
    gottyTerm?: TerminalView['term'];
    readonly gottyConnection?: Connection | null;
    gotty?: {
      term: TerminalView['term'];
      view: TerminalView;
      client: GottyClient;
      sharing: SharingState;
    };
  }
}

function main(): void {
  const container = document.getElementById('terminal');
  if (!container) {
    throw new Error('gotty: the page has no element with id "terminal"');
  }
  const globals = readServerGlobals(window.location.hash);

  // Read the search string once: the init message of every (re)connect carries it, even
  // after a launch token has been removed from the address bar.
  const args = window.location.search;
  removeJwtFromAddressBar(window.location, window.history);

  // A join link's credential is in the fragment (never sent to a server): read it once and
  // take it out of the address bar, so a reload or a copied address does not carry it.
  const join = joinFromHash(window.location.hash);
  if (join !== null) {
    window.history.replaceState(window.history.state, '',
      window.location.pathname + window.location.search + hashWithoutJoin(window.location.hash));
  }

  const view = new TerminalView(container, globals.rendererOverride, globals.enableWebgl);
  const overlays = new Overlays(container);
  const sharingState = new SharingState();
  let requestSharing: (body: Record<string, unknown>) => void = () => undefined;
  const panel = new SharingPanel(container, sharingState, (body) => requestSharing(body));
  const client = new GottyClient(
    view,
    overlays,
    {
      url: websocketUrl(window.location, globals.wsQueryArgs),
      args,
      authToken: globals.authToken,
    },
    new RecordedBanner(container),
    { state: sharingState, render: () => panel.render() },
    join,
  );
  requestSharing = (body) => client.requestSharing(body);

  window.gottyTerm = view.term;
  window.gotty = { term: view.term, view, client, sharing: sharingState };
  Object.defineProperty(window, 'gottyConnection', { get: () => client.connection });
  client.start();
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', main, { once: true });
} else {
  main();
}
