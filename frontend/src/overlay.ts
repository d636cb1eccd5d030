/**
 * What the page shows on top of the terminal: the transient "COLSxROWS" size hint, the
 * connection message that stays after a close, and the "read-only" badge.
 *
 * All three are created from script and styled by class in index.css (the page has no
 * inline styles, see the CSP). They use `pointer-events: none`, so they never take a
 * click, a selection or the keyboard focus away from the terminal.
 */

const SIZE_OVERLAY_MS = 1500;

function createLayer(parent: HTMLElement, className: string, live: boolean): HTMLDivElement {
  const element = document.createElement('div');
  element.className = className;
  element.hidden = true;
  if (live) {
    element.setAttribute('role', 'status');
    element.setAttribute('aria-live', 'polite');
  }
  parent.appendChild(element);
  return element;
}

export class Overlays {
  private readonly size: HTMLDivElement;
  private readonly message: HTMLDivElement;
  private readonly badge: HTMLDivElement;
  private sizeTimer: number | undefined;

  constructor(parent: HTMLElement) {
    this.size = createLayer(parent, 'gotty-overlay gotty-size', false);
    this.message = createLayer(parent, 'gotty-overlay gotty-message', true);
    this.badge = createLayer(parent, 'gotty-badge gotty-readonly', true);
    this.badge.textContent = 'read-only';
  }

  /** Shows "COLSxROWS" for a moment, as GoTTY does after every resize. */
  showSize(columns: number, rows: number): void {
    this.size.textContent = `${columns}x${rows}`;
    this.size.hidden = false;
    window.clearTimeout(this.sizeTimer);
    this.sizeTimer = window.setTimeout(() => {
      this.size.hidden = true;
    }, SIZE_OVERLAY_MS);
  }

  /** Shows a message that stays until `hideMessage` (e.g. "Connection closed: ..."). */
  showMessage(text: string): void {
    this.message.textContent = text;
    this.message.hidden = false;
  }

  hideMessage(): void {
    this.message.hidden = true;
    this.message.textContent = '';
  }

  setReadOnly(readOnly: boolean): void {
    this.badge.hidden = !readOnly;
  }
}
