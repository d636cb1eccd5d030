/**
 * GoTTY's "webtty" wire format, as pure functions: no sockets, no DOM.
 *
 * Every message is one WebSocket text frame whose first character is the message type;
 * the payload follows directly (no length prefix, no envelope). Type characters are the
 * ones of yudai/gotty v2 (see gotty-spec §2.5 and §2.6). Type `7` is a gotty-py
 * extension that GoTTY servers never send.
 */

/** The WebSocket subprotocol both GoTTY and gotty-py offer. */
export const SUBPROTOCOL = 'webtty';

/** Client → server message types. */
export const ClientType = {
  Input: '1',
  Ping: '2',
  ResizeTerminal: '3',
} as const;

/** Server → client message types. */
export const ServerType = {
  Output: '1',
  Pong: '2',
  SetWindowTitle: '3',
  SetPreferences: '4',
  SetReconnect: '5',
  SetBufferSize: '6',
  GottyPyExtension: '7',
} as const;

/** A JSON object as received from the server (values still unchecked). */
export type JsonObject = Record<string, unknown>;

/** One decoded server frame. Unknown or malformed frames become `ignored`. */
export type ServerMessage =
  | { kind: 'output'; base64: string }
  | { kind: 'pong' }
  | { kind: 'title'; title: string }
  | { kind: 'preferences'; preferences: JsonObject }
  | { kind: 'reconnect'; seconds: number }
  | { kind: 'bufferSize'; bytes: number }
  | { kind: 'extension'; fields: JsonObject }
  | { kind: 'ignored'; type: string; why: string };

/** The first frame a client sends; `GottyPy` announces that we understand type `7`. */
export interface InitMessage {
  Arguments: string;
  AuthToken: string;
  GottyPy: number;
}

/** Version of the gotty-py extensions this client understands (sent as `GottyPy`). */
export const GOTTY_PY_EXTENSION_VERSION = 1;

export function encodeInit(args: string, authToken: string, extras: JsonObject = {}): string {
  const init: InitMessage & JsonObject = {
    ...extras,
    Arguments: args,
    AuthToken: authToken,
    GottyPy: GOTTY_PY_EXTENSION_VERSION,
  };
  return JSON.stringify(init);
}

/**
 * Input is sent exactly as typed or pasted, in one frame whatever its size: gotty-py
 * accepts messages of any size, and splitting would only add ways to lose bytes. The
 * browser encodes the text frame as UTF-8.
 */
export function encodeInput(data: string): string {
  return ClientType.Input + data;
}

export function encodePing(): string {
  return ClientType.Ping;
}

export function encodeResize(columns: number, rows: number): string {
  return ClientType.ResizeTerminal + JSON.stringify({ columns, rows });
}

function parseJsonObject(text: string): JsonObject | null {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return value as JsonObject;
    }
  } catch {
    // fall through: malformed JSON is reported as null
  }
  return null;
}

function parseJsonNumber(text: string): number | null {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'number' && Number.isFinite(value)) {
      return value;
    }
  } catch {
    // fall through
  }
  return null;
}

/** Decodes one server text frame. Never throws: a bad frame must not kill the session. */
export function parseServerFrame(frame: string): ServerMessage {
  const type = frame.charAt(0);
  const payload = frame.slice(1);
  switch (type) {
    case ServerType.Output:
      return { kind: 'output', base64: payload };
    case ServerType.Pong:
      return { kind: 'pong' };
    case ServerType.SetWindowTitle:
      return { kind: 'title', title: payload };
    case ServerType.SetPreferences: {
      const preferences = parseJsonObject(payload);
      return preferences
        ? { kind: 'preferences', preferences }
        : { kind: 'ignored', type, why: 'preferences are not a JSON object' };
    }
    case ServerType.SetReconnect: {
      const seconds = parseJsonNumber(payload);
      return seconds !== null
        ? { kind: 'reconnect', seconds }
        : { kind: 'ignored', type, why: 'reconnect time is not a number' };
    }
    case ServerType.SetBufferSize: {
      const bytes = parseJsonNumber(payload);
      return bytes !== null
        ? { kind: 'bufferSize', bytes }
        : { kind: 'ignored', type, why: 'buffer size is not a number' };
    }
    case ServerType.GottyPyExtension: {
      const fields = parseJsonObject(payload);
      return fields
        ? { kind: 'extension', fields }
        : { kind: 'ignored', type, why: 'extension payload is not a JSON object' };
    }
    default:
      return { kind: 'ignored', type, why: 'unknown message type' };
  }
}
