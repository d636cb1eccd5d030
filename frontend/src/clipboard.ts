/**
 * Copy on select, as in GoTTY's hterm and most terminal emulators: whatever the user
 * selects goes to the system clipboard. Pasting needs nothing here: xterm.js handles the
 * browser's paste event (including bracketed paste) and emits it through onData.
 */
import type { IDisposable, Terminal } from '@xterm/xterm';

/** Wait until the mouse has settled, so a drag does not write the clipboard 60x a second. */
const SETTLE_MS = 150;

export class CopyOnSelect implements IDisposable {
  enabled = true;
  private timer: number | undefined;
  private readonly subscription: IDisposable;

  constructor(private readonly term: Terminal) {
    this.subscription = term.onSelectionChange(() => this.schedule());
  }

  private schedule(): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.copy(), SETTLE_MS);
  }

  private copy(): void {
    if (!this.enabled || !this.term.hasSelection()) {
      return;
    }
    const text = this.term.getSelection();
    // The Clipboard API exists only in secure contexts (https or localhost), and the
    // write can be refused (no focus, denied permission): neither is worth an error.
    if (text !== '' && navigator.clipboard?.writeText) {
      navigator.clipboard.writeText(text).catch(() => undefined);
    }
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    this.subscription.dispose();
  }
}
