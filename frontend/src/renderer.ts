/**
 * Chooses how xterm.js draws: the WebGL renderer when it works, xterm's DOM renderer
 * otherwise. WebGL is much faster for heavy output but can fail to start (no GPU, a
 * blocklisted driver) or lose its context later (GPU reset, too many contexts); in both
 * cases disposing the addon makes xterm fall back to the DOM renderer on its own.
 */
import type { Terminal } from '@xterm/xterm';
import { WebglAddon } from '@xterm/addon-webgl';

export type RendererName = 'webgl' | 'dom';

export class RendererSwitch {
  private webgl: WebglAddon | null = null;
  /** Set after a failure or a lost context: WebGL is not tried again on this page. */
  private webglBroken = false;

  constructor(private readonly term: Terminal) {}

  get current(): RendererName {
    return this.webgl ? 'webgl' : 'dom';
  }

  /** Loads or unloads the WebGL renderer. Call only after `term.open()`. */
  setWebgl(enabled: boolean): void {
    if (enabled && !this.webgl && !this.webglBroken) {
      this.loadWebgl();
    } else if (!enabled && this.webgl) {
      this.disposeWebgl();
    }
  }

  private loadWebgl(): void {
    let addon: WebglAddon | null = null;
    try {
      addon = new WebglAddon();
      addon.onContextLoss(() => {
        console.warn('gotty: WebGL context lost, falling back to the DOM renderer');
        this.webglBroken = true;
        this.disposeWebgl();
      });
      this.term.loadAddon(addon);
      this.webgl = addon;
    } catch (error) {
      console.warn('gotty: WebGL renderer unavailable, using the DOM renderer', error);
      this.webglBroken = true;
      try {
        addon?.dispose();
      } catch {
        // already half-torn-down; nothing more to release
      }
    }
  }

  private disposeWebgl(): void {
    const addon = this.webgl;
    this.webgl = null;
    addon?.dispose();
  }
}
