/**
 * The session controller: joins the terminal to the current Connection and runs the
 * life cycle around it — setup on open, messages, the close message, and reconnects.
 *
 * Setup on every open (first connect and each reconnect alike): the Connection has sent
 * the init message; then fit and send the size, subscribe to input for *this*
 * connection, and the Connection starts its ping. On close the input subscription is
 * dropped, the reason is shown and, if the server asked for it (message `5`), a brand
 * new Connection is made after N seconds and goes through the same setup.
 */
import type { IDisposable } from '@xterm/xterm';

import { Connection, type CloseInfo, type ConnectionTarget } from './connection';
import type { Overlays } from './overlay';
import type { JsonObject, ServerMessage } from './protocol';
import type { RecordedBanner } from './recorded';
import type { SharingState } from './sharing';
import type { TerminalView } from './terminal';

/** What the controller needs of the sharing bar (sharing.ts): its state, and a redraw. */
export interface SharingHooks {
  state: SharingState;
  render(): void;
}

/** Milliseconds between attempts to resume a lost session (the first is at once). */
const RESUME_RETRY_MS = 1000;

/** Close codes after which reconnecting cannot help: the server refused us (auth). */
const NO_RECONNECT_CODES = new Set([1008]);

/** Describes a close for the user; 1006 means the TCP connection just went away. */
export function closeMessage(info: CloseInfo): string {
  if (info.code === 1006 || !info.opened) {
    return 'Connection lost';
  }
  if (info.reason !== '') {
    return `Connection closed: ${info.reason}`;
  }
  return info.code === 1000 || info.code === 1005 ? 'Connection closed' : `Connection closed (code ${info.code})`;
}

export class GottyClient {
  /** The live (or connecting) connection; null between a close and a reconnect. */
  connection: Connection | null = null;
  /** False after the server said `7{"writable":false}`: keys are not sent. */
  writable = true;
  /** Seconds to wait before reconnecting; 0 = no reconnect (the default, as in GoTTY). */
  reconnectSeconds = 0;
  /** How many connections have opened so far (tests wait on this after a reconnect). */
  openCount = 0;
  /**
   * A gotty-py server in JWT mode hands each session a single-use reconnect ticket
   * (message `7`): the launch token in the page's address was single-use, so the next
   * connection presents the ticket instead.
   */
  private reconnectTicket: string | null = null;

  private inputSubscriptions: IDisposable[] = [];
  private reconnectTimer: number | undefined;
  /** While resuming a lost session: when its grace period runs out (ms since epoch). */
  private resumeUntil: number | null = null;

  constructor(
    private readonly view: TerminalView,
    private readonly overlays: Overlays,
    private readonly target: ConnectionTarget,
    private readonly recorded: RecordedBanner | null = null,
    private readonly sharing: SharingHooks | null = null,
    /** A join link's credential (`#join=`): the first connection joins with it, once. */
    private join: string | null = null,
  ) {
    // One listener for the page's lifetime: sizes go to whichever connection is live.
    view.term.onResize(({ cols, rows }) => {
      overlays.showSize(cols, rows);
      this.connection?.sendResize(cols, rows);
    });
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    window.clearTimeout(this.reconnectTimer);
    let connection: Connection;
    const target = this.reconnectTicket === null
      ? this.target
      : { ...this.target, args: `?ticket=${encodeURIComponent(this.reconnectTicket)}` };
    this.reconnectTicket = null; // single-use: the new session brings the next one
    const extras: JsonObject = { Resumable: true };
    const resumeTicket = this.sharing?.state.resumeTicket ?? null;
    if (this.resumeUntil !== null && resumeTicket !== null) {
      extras['Resume'] = resumeTicket;
    } else if (this.join !== null) {
      extras['Join'] = this.join;
      this.join = null;
    }
    try {
      connection = new Connection({ ...target, extras }, {
        onOpen: () => this.handleOpen(connection),
        onOutput: (text) => this.view.term.write(text),
        onMessage: (message) => this.handleMessage(message),
        onClose: (info) => this.handleClose(connection, info),
      });
    } catch (error) {
      // Only a malformed URL (e.g. a bad --ws-query-args) makes the constructor throw.
      this.overlays.showMessage(`Cannot connect: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.connection = connection;
  }

  private handleOpen(connection: Connection): void {
    const term = this.view.term;
    if (this.openCount > 0) {
      term.reset(); // a reconnect starts a new process: drop the old screen and modes
    }
    this.openCount++;
    this.overlays.hideMessage();
    this.setWritable(true); // the new session's server tells us again if it is read-only
    this.recorded?.reset(); // and whether it is recorded

    this.view.fit();
    connection.sendResize(term.cols, term.rows);

    this.inputSubscriptions.push(
      term.onData((data) => {
        if (this.writable) connection.sendInput(data);
      }),
      // Legacy mouse reports with coordinates past 95 are bytes, not text. A text frame
      // would UTF-8-encode them into different bytes, so only pure ASCII goes out.
      term.onBinary((data) => {
        if (this.writable && /^[\x00-\x7f]*$/.test(data)) connection.sendInput(data);
      }),
    );
    term.focus();
  }

  private handleMessage(message: ServerMessage): void {
    switch (message.kind) {
      case 'title':
        document.title = message.title;
        break;
      case 'preferences':
        this.view.applyPreferences(message.preferences);
        break;
      case 'reconnect':
        this.reconnectSeconds = message.seconds > 0 ? message.seconds : 0;
        break;
      case 'extension':
        if (this.sharing !== null && this.sharing.state.update(message.fields)) {
          this.sharing.render();
        }
        if (typeof message.fields['resume_ticket'] === 'string') {
          this.resumeUntil = null; // resumed (or started): the next loss starts anew
        }
        if (typeof message.fields['writable'] === 'boolean') {
          this.setWritable(message.fields['writable']);
        }
        this.recorded?.update(message.fields);
        if (typeof message.fields['reconnect_ticket'] === 'string') {
          this.reconnectTicket = message.fields['reconnect_ticket'];
        }
        break;
      case 'pong':
      case 'bufferSize': // gotty-py accepts input of any size: nothing to adapt
      default:
        break;
    }
  }

  /** Sends a sharing request (share link, end session) on the live connection. */
  requestSharing(body: JsonObject): void {
    this.connection?.sendSharingRequest(body);
  }

  /**
   * A lost (not closed) connection of a session the server keeps detached: try to
   * resume it at once, then every second, until its grace period has run out.
   */
  private resumeAfter(info: CloseInfo, text: string): boolean {
    const state = this.sharing?.state;
    const lost = info.code === 1006 || !info.opened;
    if (!state || !lost || state.role !== 'owner' || state.resumeTicket === null
        || state.detachGrace <= 0) {
      this.resumeUntil = null;
      return false;
    }
    const now = Date.now();
    if (this.resumeUntil === null) {
      this.resumeUntil = now + state.detachGrace * 1000;
    } else if (now >= this.resumeUntil) {
      this.resumeUntil = null;
      return false;
    }
    this.overlays.showMessage(`${text}\nResuming…`);
    const first = info.opened;
    this.reconnectTimer = window.setTimeout(() => this.connect(), first ? 0 : RESUME_RETRY_MS);
    return true;
  }

  private setWritable(writable: boolean): void {
    this.writable = writable;
    this.overlays.setReadOnly(!writable);
  }

  private handleClose(connection: Connection, info: CloseInfo): void {
    for (const subscription of this.inputSubscriptions.splice(0)) {
      subscription.dispose();
    }
    if (this.connection === connection) {
      this.connection = null;
    }
    const text = closeMessage(info);
    if (this.resumeAfter(info, text)) {
      return;
    }
    if (this.reconnectSeconds > 0 && !NO_RECONNECT_CODES.has(info.code)) {
      this.overlays.showMessage(`${text}\nReconnecting in ${this.reconnectSeconds} s…`);
      this.reconnectTimer = window.setTimeout(() => this.connect(), this.reconnectSeconds * 1000);
    } else {
      this.overlays.showMessage(text);
    }
  }
}
