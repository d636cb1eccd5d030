/**
 * The "This session is recorded" banner.
 *
 * Shown only when the server's session-info message (`7`) says `"recorded": true`, which
 * gotty-py sends only once the session's recording file is open: the page never claims a
 * recording that does not exist. Hidden again on every new connection until that
 * connection's server says so (a reconnect starts a new session, maybe unrecorded).
 * Like the other overlays it takes no pointer events and is styled by class (CSP).
 */

export const RECORDED_TEXT = 'This session is recorded';

/** True only for an explicit `"recorded": true`; anything else is "not recorded". */
export function isRecorded(fields: Readonly<Record<string, unknown>>): boolean {
  return fields['recorded'] === true;
}

export class RecordedBanner {
  private readonly element: HTMLDivElement;

  constructor(parent: HTMLElement) {
    this.element = document.createElement('div');
    this.element.className = 'gotty-badge gotty-recorded';
    this.element.setAttribute('role', 'status');
    this.element.textContent = RECORDED_TEXT;
    this.element.hidden = true;
    parent.appendChild(this.element);
  }

  /** A session-info message arrived: show the banner if it says the session is recorded. */
  update(fields: Readonly<Record<string, unknown>>): void {
    if (isRecorded(fields)) {
      this.element.hidden = false;
    }
  }

  /** A new connection: nothing is known about its recording yet. */
  reset(): void {
    this.element.hidden = true;
  }
}
