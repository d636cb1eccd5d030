/**
 * Maps GoTTY's `preferences` (hterm preference names, sent as message `4`) onto xterm.js
 * options. Pure: it only computes what to change; the caller applies it.
 *
 * Keys are matched case-insensitively with `-`, `_` and spaces ignored, so `font-size`
 * (GoTTY's JSON), `font_size` (the HCL spelling) and `fontSize` / `EnableWebGL`
 * (sorenisanerd's fork) all work.
 *
 * Supported keys:
 *   hterm names   font-size, font-family, foreground-color, background-color,
 *                 cursor-color, cursor-blink, color-palette-overrides (indexes 0-255,
 *                 as an array or an object), enable-bold (false: bold drawn as normal),
 *                 enable-bold-as-bright, scroll-on-keystroke,
 *                 scroll-wheel-move-multiplier, copy-on-select
 *   xterm extras  scrollback, cursor-style (block|underline|bar), line-height,
 *                 letter-spacing, font-weight, font-weight-bold
 *   gotty extras  enable-webgl (false: DOM renderer)
 * Every other key (font-smoothing, cursor-blink-cycle, user-css, keybindings, ...) has
 * no xterm.js counterpart and is ignored; `ignored` lists them for debugging.
 */
import type { FontWeight, ITerminalOptions, ITheme } from '@xterm/xterm';

import type { JsonObject } from './protocol';

export interface MappedPreferences {
  /** xterm options to set (theme excluded). */
  options: ITerminalOptions;
  /** Theme entries to merge into the current theme. */
  theme: ITheme;
  /** `enable-webgl`, when given. */
  enableWebgl?: boolean;
  /** `copy-on-select`, when given. */
  copyOnSelect?: boolean;
  /** Keys that were not understood or had a value of the wrong type. */
  ignored: string[];
}

/** Names of the 16 ANSI colours in xterm's theme, in palette order. */
const ANSI_THEME_KEYS = [
  'black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white',
  'brightBlack', 'brightRed', 'brightGreen', 'brightYellow',
  'brightBlue', 'brightMagenta', 'brightCyan', 'brightWhite',
] as const;

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/g, '');
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return value;
  }
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
    return Number(value);
  }
  return undefined;
}

function asBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') {
    return value;
  }
  if (value === 'true' || value === 'false') {
    return value === 'true';
  }
  return undefined;
}

function asText(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function asFontWeight(value: unknown): FontWeight | undefined {
  if (value === 'normal' || value === 'bold') {
    return value;
  }
  const weight = asNumber(value);
  return weight !== undefined && weight >= 1 && weight <= 1000 ? weight : undefined;
}

/** xterm's default colour for palette index 16-255 (6x6x6 cube, then a grey ramp). */
function defaultExtendedColor(index: number): string {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  if (index < 232) {
    const levels = [0, 95, 135, 175, 215, 255];
    const i = index - 16;
    const r = levels[Math.floor(i / 36) % 6] ?? 0;
    const g = levels[Math.floor(i / 6) % 6] ?? 0;
    const b = levels[i % 6] ?? 0;
    return `#${hex(r)}${hex(g)}${hex(b)}`;
  }
  const grey = 8 + (index - 232) * 10;
  return `#${hex(grey)}${hex(grey)}${hex(grey)}`;
}

/**
 * hterm's `color-palette-overrides` is an array (null = keep the default) or an object
 * keyed by index. Indexes 0-15 become named theme colours; 16-255 become
 * `extendedAnsi`, gaps filled with xterm's defaults.
 */
function mapPalette(value: unknown, theme: ITheme): boolean {
  const entries: Array<[number, string]> = [];
  if (Array.isArray(value)) {
    value.forEach((color, index) => {
      if (typeof color === 'string' && color !== '') entries.push([index, color]);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [key, color] of Object.entries(value as JsonObject)) {
      const index = Number(key);
      if (Number.isInteger(index) && typeof color === 'string' && color !== '') {
        entries.push([index, color]);
      }
    }
  } else {
    return false;
  }
  const extended: string[] = [];
  let extendedLength = 0;
  for (const [index, color] of entries) {
    const name = ANSI_THEME_KEYS[index];
    if (name !== undefined) {
      theme[name] = color;
    } else if (index >= 16 && index <= 255) {
      extended[index - 16] = color;
      extendedLength = Math.max(extendedLength, index - 15);
    }
  }
  if (extendedLength > 0) {
    theme.extendedAnsi = Array.from(
      { length: extendedLength },
      (_, i) => extended[i] ?? defaultExtendedColor(i + 16),
    );
  }
  return true;
}

/** A handler returns false when the value has the wrong type. */
type Handler = (value: unknown, out: MappedPreferences) => boolean;

function setOption<K extends keyof ITerminalOptions>(
  out: MappedPreferences,
  key: K,
  value: ITerminalOptions[K] | undefined,
): boolean {
  if (value === undefined) {
    return false;
  }
  out.options[key] = value;
  return true;
}

function setColor(out: MappedPreferences, key: 'foreground' | 'background' | 'cursor', value: unknown): boolean {
  const color = asText(value);
  if (color === undefined) {
    return false;
  }
  out.theme[key] = color;
  return true;
}

const HANDLERS: Record<string, Handler> = {
  fontsize: (v, out) => {
    const size = asNumber(v);
    return setOption(out, 'fontSize', size !== undefined && size > 0 ? size : undefined);
  },
  fontfamily: (v, out) => setOption(out, 'fontFamily', asText(v)),
  foregroundcolor: (v, out) => setColor(out, 'foreground', v),
  backgroundcolor: (v, out) => setColor(out, 'background', v),
  cursorcolor: (v, out) => setColor(out, 'cursor', v),
  cursorblink: (v, out) => setOption(out, 'cursorBlink', asBoolean(v)),
  colorpaletteoverrides: (v, out) => mapPalette(v, out.theme),
  enablebold: (v, out) => {
    const bold = asBoolean(v);
    if (bold === undefined) return false;
    // hterm draws bold as normal text when this is false; xterm's equivalent is a bold
    // weight equal to the normal one. true is the default: nothing to change.
    if (!bold) out.options.fontWeightBold = out.options.fontWeight ?? 'normal';
    return true;
  },
  enableboldasbright: (v, out) => setOption(out, 'drawBoldTextInBrightColors', asBoolean(v)),
  scrollonkeystroke: (v, out) => setOption(out, 'scrollOnUserInput', asBoolean(v)),
  scrollwheelmovemultiplier: (v, out) => {
    const factor = asNumber(v);
    return setOption(out, 'scrollSensitivity', factor !== undefined && factor > 0 ? factor : undefined);
  },
  scrollback: (v, out) => {
    const lines = asNumber(v);
    return setOption(out, 'scrollback', lines !== undefined && lines >= 0 ? Math.floor(lines) : undefined);
  },
  cursorstyle: (v, out) =>
    setOption(out, 'cursorStyle', v === 'block' || v === 'underline' || v === 'bar' ? v : undefined),
  lineheight: (v, out) => {
    const height = asNumber(v);
    return setOption(out, 'lineHeight', height !== undefined && height >= 1 ? height : undefined);
  },
  letterspacing: (v, out) => setOption(out, 'letterSpacing', asNumber(v)),
  fontweight: (v, out) => setOption(out, 'fontWeight', asFontWeight(v)),
  fontweightbold: (v, out) => setOption(out, 'fontWeightBold', asFontWeight(v)),
  enablewebgl: (v, out) => {
    const enabled = asBoolean(v);
    if (enabled === undefined) return false;
    out.enableWebgl = enabled;
    return true;
  },
  copyonselect: (v, out) => {
    const enabled = asBoolean(v);
    if (enabled === undefined) return false;
    out.copyOnSelect = enabled;
    return true;
  },
};

export function mapPreferences(preferences: JsonObject): MappedPreferences {
  const out: MappedPreferences = { options: {}, theme: {}, ignored: [] };
  // font-weight must be known before enable-bold copies it: handle it first.
  const keys = Object.keys(preferences).sort(
    (a, b) => Number(normalizeKey(b) === 'fontweight') - Number(normalizeKey(a) === 'fontweight'),
  );
  for (const key of keys) {
    const handler = HANDLERS[normalizeKey(key)];
    if (!handler || !handler(preferences[key], out)) {
      out.ignored.push(key);
    }
  }
  return out;
}
