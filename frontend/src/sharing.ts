/**
 * Resume and shared sessions on the page (gotty-py servers only, message `7` fields).
 *
 * Resume: the server hands the owner's page a single-use resume ticket (`resume_ticket`)
 * in message 7, never in an address. When the connection is lost (not closed), the page
 * reconnects at once and then every second, for the server's grace period, presenting the
 * ticket in the init message (`Resume`); the server reattaches it to the same process,
 * replays the screen and hands over the next ticket.
 *
 * Sharing: the owner asks for a join link (`8{"join":"observer"}`); the server answers
 * with `join_ticket`, and the link carries it in the fragment (`#join=...`), which the
 * browser never sends to a server. The joining page presents it in the init (`Join`).
 * Everyone attached sees who watches (`watchers`) and whether a moderated session's input
 * is held (`input_held`); a moderator has a button that ends the session.
 */
import type { JsonObject } from './protocol';

export type Role = 'owner' | 'observer' | 'moderator';

export interface Watcher {
  who: string;
  role: string;
}

/** A sharing request of the page (client message `8`, a gotty-py extension). */
export const SHARING_REQUEST = '8';

/** The join credential in the page's fragment (`#join=TICKET-OR-TOKEN`), if any. */
export function joinFromHash(hash: string): string | null {
  const found = /(?:^#|[#&])join=([^&]+)/.exec(hash);
  return found ? decodeURIComponent(found[1]) : null;
}

/** The page's address without a join credential in its fragment. */
export function hashWithoutJoin(hash: string): string {
  const rest = hash.replace(/^#/, '').split('&').filter((part) => !part.startsWith('join='));
  return rest.length > 0 && rest.join('&') !== '' ? `#${rest.join('&')}` : '';
}

/** A join link for `ticket`: this page's address with the ticket in the fragment. */
export function joinLink(origin: string, pathname: string, ticket: string): string {
  return `${origin}${pathname}#join=${encodeURIComponent(ticket)}`;
}

function isWatcher(value: unknown): value is Watcher {
  const item = value as Record<string, unknown> | null;
  return typeof item === 'object' && item !== null && typeof item['who'] === 'string'
    && typeof item['role'] === 'string';
}

/** Who watches, as the page says it: `Watching: bob (observer), eve (moderator)`. */
export function describeWatchers(watchers: readonly Watcher[]): string {
  if (watchers.length === 0) {
    return '';
  }
  return `Watching: ${watchers.map((w) => `${w.who} (${w.role})`).join(', ')}`;
}

/** What the page knows of its session's sharing; fed with each message 7's fields. */
export class SharingState {
  role: Role = 'owner';
  resumeTicket: string | null = null;
  detachGrace = 0;
  canJoin = false;
  moderated = false;
  inputHeld = false;
  watchers: Watcher[] = [];
  joinTicket: { ticket: string; role: string } | null = null;

  /** Takes the fields it knows; returns whether anything shown changed. */
  update(fields: JsonObject): boolean {
    let changed = false;
    const role = fields['role'];
    if (role === 'owner' || role === 'observer' || role === 'moderator') {
      this.role = role;
      changed = true;
    }
    if (typeof fields['resume_ticket'] === 'string') {
      this.resumeTicket = fields['resume_ticket'];
    }
    const sharing = fields['sharing'] as Record<string, unknown> | undefined;
    if (typeof sharing === 'object' && sharing !== null) {
      this.detachGrace = typeof sharing['detach_grace'] === 'number' && sharing['resume'] === true
        ? sharing['detach_grace'] : 0;
      this.canJoin = sharing['join'] === true;
      this.moderated = sharing['moderated'] === true;
      changed = true;
    }
    if (Array.isArray(fields['watchers'])) {
      this.watchers = fields['watchers'].filter(isWatcher);
      changed = true;
    }
    if (typeof fields['input_held'] === 'boolean') {
      this.inputHeld = fields['input_held'];
      changed = true;
    }
    if (typeof fields['join_ticket'] === 'string' && typeof fields['join_role'] === 'string') {
      this.joinTicket = { ticket: fields['join_ticket'], role: fields['join_role'] };
      changed = true;
    }
    return changed;
  }
}

/** The sharing bar: who watches, held input, the owner's share and a moderator's end. */
export class SharingPanel {
  private readonly bar: HTMLDivElement;
  private readonly status: HTMLSpanElement;
  private readonly link: HTMLInputElement;

  constructor(
    parent: HTMLElement,
    private readonly state: SharingState,
    private readonly request: (body: JsonObject) => void,
  ) {
    this.bar = document.createElement('div');
    this.bar.className = 'gotty-sharing';
    this.bar.hidden = true;
    this.status = document.createElement('span');
    this.status.className = 'gotty-sharing-status';
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.link = document.createElement('input');
    this.link.className = 'gotty-sharing-link';
    this.link.readOnly = true;
    this.link.hidden = true;
    this.bar.append(this.status);
    this.addButton('share-observer', 'Share (watch)', () => this.request({ join: 'observer' }));
    this.addButton('share-moderator', 'Share (moderate)', () => this.request({ join: 'moderator' }));
    this.addButton('end-session', 'End session', () => this.request({ end: true }));
    this.bar.append(this.link);
    parent.appendChild(this.bar);
  }

  private addButton(name: string, text: string, onClick: () => void): void {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = `gotty-sharing-${name}`;
    button.dataset['action'] = name;
    button.textContent = text;
    button.addEventListener('click', onClick);
    this.bar.append(button);
  }

  private button(name: string): HTMLButtonElement | null {
    return this.bar.querySelector(`button[data-action="${name}"]`);
  }

  /** Shows the state; called after every message 7 that changed it. */
  render(): void {
    const state = this.state;
    const owner = state.role === 'owner';
    const parts: string[] = [];
    if (!owner) {
      parts.push(state.role === 'moderator' ? 'Moderating' : 'Watching (read-only)');
    }
    const watching = describeWatchers(state.watchers);
    if (watching !== '') parts.push(watching);
    if (state.inputHeld) parts.push('Input held: waiting for a moderator');
    this.status.textContent = parts.join(' · ');
    const share = owner && state.canJoin;
    for (const name of ['share-observer', 'share-moderator']) {
      const button = this.button(name);
      if (button) button.hidden = !share;
    }
    const end = this.button('end-session');
    if (end) end.hidden = state.role !== 'moderator';
    if (state.joinTicket !== null && owner) {
      this.link.value = joinLink(window.location.origin, window.location.pathname,
        state.joinTicket.ticket);
      this.link.dataset['role'] = state.joinTicket.role;
      this.link.hidden = false;
    }
    this.bar.hidden = parts.length === 0 && !share && state.role !== 'moderator';
  }
}
