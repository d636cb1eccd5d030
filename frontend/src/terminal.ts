/**
 * Builds the xterm.js terminal with its addons (fit, web links, Unicode 11 widths, WebGL
 * with DOM fallback, copy on select) and keeps it sized to its container. It knows
 * nothing about the network: the client listens to `term.onResize` and sends sizes.
 */
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { WebLinksAddon } from '@xterm/addon-web-links';

import { CopyOnSelect } from './clipboard';
import type { RendererChoice } from './globals';
import { mapPreferences } from './preferences';
import type { JsonObject } from './protocol';
import { RendererSwitch } from './renderer';

/** Window resizes arrive in bursts while the user drags; fit once it settles. */
const FIT_DEBOUNCE_MS = 100;

export class TerminalView {
  readonly term: Terminal;
  readonly renderer: RendererSwitch;
  private readonly fitAddon = new FitAddon();
  private readonly copyOnSelect: CopyOnSelect;
  private fitTimer: number | undefined;
  /** WebGL unless the test hook, config.js or the server's preferences say otherwise. */
  private webglWanted: boolean;

  constructor(
    private readonly container: HTMLElement,
    private readonly rendererOverride: RendererChoice | null,
    enableWebgl: boolean,
  ) {
    this.webglWanted = rendererOverride !== null ? rendererOverride === 'webgl' : enableWebgl;
    this.term = new Terminal({
      // `term.unicode` is still a "proposed" API in xterm.js 6.
      allowProposedApi: true,
      cursorBlink: true,
      fontSize: 15,
      fontFamily: '"DejaVu Sans Mono", "Noto Sans Mono", Menlo, Consolas, "Liberation Mono", monospace',
      scrollback: 10_000,
      theme: { background: '#000000', foreground: '#d0d0d0' },
    });
    this.term.loadAddon(this.fitAddon);
    this.term.loadAddon(new WebLinksAddon());
    this.term.loadAddon(new Unicode11Addon());
    this.term.unicode.activeVersion = '11';
    this.copyOnSelect = new CopyOnSelect(this.term);

    this.term.open(container);
    this.renderer = new RendererSwitch(this.term);
    this.renderer.setWebgl(this.webglWanted);
    this.syncPageBackground();
    this.fit();

    window.addEventListener('resize', () => this.scheduleFit());
    // Also catches size changes that are not window resizes (zoom, a custom index page
    // laying the terminal out differently).
    new ResizeObserver(() => this.scheduleFit()).observe(container);
  }

  /** Fits the terminal to its container now; `term.onResize` fires if the size changed. */
  fit(): void {
    window.clearTimeout(this.fitTimer);
    try {
      this.fitAddon.fit();
    } catch (error) {
      // The container can be hidden (display: none) for a moment; try again on resize.
      console.debug('gotty: fit failed', error);
    }
  }

  private scheduleFit(): void {
    window.clearTimeout(this.fitTimer);
    this.fitTimer = window.setTimeout(() => {
      this.fit();
      this.term.scrollToBottom();
    }, FIT_DEBOUNCE_MS);
  }

  /** Applies a preferences message (`4`); the caller's onResize then reports any new size. */
  applyPreferences(preferences: JsonObject): void {
    const mapped = mapPreferences(preferences);
    if (mapped.ignored.length > 0) {
      console.debug('gotty: preferences without an xterm.js counterpart:', mapped.ignored);
    }
    for (const [key, value] of Object.entries(mapped.options)) {
      (this.term.options as Record<string, unknown>)[key] = value;
    }
    if (Object.keys(mapped.theme).length > 0) {
      this.term.options.theme = { ...this.term.options.theme, ...mapped.theme };
      this.syncPageBackground();
    }
    if (mapped.copyOnSelect !== undefined) {
      this.copyOnSelect.enabled = mapped.copyOnSelect;
    }
    if (mapped.enableWebgl !== undefined && this.rendererOverride === null) {
      this.webglWanted = mapped.enableWebgl;
      this.renderer.setWebgl(this.webglWanted);
    }
    // A new font size or family changes the cell size, hence COLSxROWS.
    this.fit();
  }

  /** The margin around the character grid takes the terminal's background colour. */
  private syncPageBackground(): void {
    const background = this.term.options.theme?.background;
    if (background) {
      this.container.style.backgroundColor = background;
      document.body.style.backgroundColor = background;
    }
  }
}
