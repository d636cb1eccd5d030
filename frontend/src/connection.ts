/**
 * One WebSocket to the server, speaking webtty: it sends the init message as soon as
 * the socket opens, keeps a 30 s ping going, decodes output frames to text, and reports
 * everything else upward. A Connection is used once: a reconnect makes a new one, so no
 * state (socket, ping timer, half-decoded character) can leak from a dead session into
 * the next, which is exactly what GoTTY's own reconnect got wrong.
 */
import {
  SUBPROTOCOL,
  encodeInit,
  encodeInput,
  encodePing,
  encodeResize,
  parseServerFrame,
  type JsonObject,
  type ServerMessage,
} from './protocol';
import { SHARING_REQUEST } from './sharing';
import { Utf8StreamDecoder, base64ToBytes } from './utf8';

const PING_INTERVAL_MS = 30_000;

export interface CloseInfo {
  code: number;
  reason: string;
  /** False when the socket never opened (server down, handshake refused). */
  opened: boolean;
}

export interface ConnectionHandlers {
  /** The socket is open and the init message has been sent. */
  onOpen(connection: Connection): void;
  /** Decoded terminal output, in order. */
  onOutput(text: string): void;
  /** Every other server message (title, preferences, reconnect, extensions, ...). */
  onMessage(message: ServerMessage): void;
  /** Called exactly once, whatever ended the connection. */
  onClose(info: CloseInfo): void;
}

export interface ConnectionTarget {
  url: string;
  /** `Arguments` of the init message: the page's original `location.search`. */
  args: string;
  authToken: string;
  /** More init fields (gotty-py: `Resumable`, `Resume`, `Join`; sharing.ts). */
  extras?: JsonObject;
}

export class Connection {
  private readonly socket: WebSocket;
  private readonly decoder = new Utf8StreamDecoder();
  private pingTimer: number | undefined;
  private opened = false;
  private closed = false;

  constructor(
    private readonly target: ConnectionTarget,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.socket = new WebSocket(target.url, [SUBPROTOCOL]);
    this.socket.addEventListener('open', () => this.handleOpen());
    this.socket.addEventListener('message', (event: MessageEvent) => this.handleMessage(event));
    this.socket.addEventListener('close', (event: CloseEvent) => this.handleClose(event.code, event.reason));
    // An 'error' event is always followed by 'close', which carries what we report.
  }

  get isOpen(): boolean {
    return !this.closed && this.socket.readyState === WebSocket.OPEN;
  }

  sendInput(data: string): void {
    if (data !== '') {
      this.send(encodeInput(data));
    }
  }

  sendResize(columns: number, rows: number): void {
    this.send(encodeResize(columns, rows));
  }

  /** A gotty-py sharing request (message `8`): a join link, or ending the session. */
  sendSharingRequest(body: JsonObject): void {
    this.send(SHARING_REQUEST + JSON.stringify(body));
  }

  /** Closes the socket; `onClose` follows once the browser has closed it. */
  close(code = 1000, reason = ''): void {
    if (this.socket.readyState === WebSocket.CONNECTING || this.socket.readyState === WebSocket.OPEN) {
      this.socket.close(code, reason);
    }
  }

  private send(frame: string): void {
    if (this.isOpen) {
      this.socket.send(frame);
    }
  }

  private handleOpen(): void {
    this.opened = true;
    this.socket.send(encodeInit(this.target.args, this.target.authToken, this.target.extras));
    this.handlers.onOpen(this);
    this.pingTimer = window.setInterval(() => this.send(encodePing()), PING_INTERVAL_MS);
  }

  private handleMessage(event: MessageEvent): void {
    if (typeof event.data !== 'string') {
      return; // webtty is text-only; a binary frame is not ours to interpret
    }
    const message = parseServerFrame(event.data);
    if (message.kind === 'output') {
      let bytes: Uint8Array;
      try {
        bytes = base64ToBytes(message.base64);
      } catch {
        console.warn('gotty: dropped an output frame with invalid base64');
        return;
      }
      const text = this.decoder.decode(bytes);
      if (text !== '') {
        this.handlers.onOutput(text);
      }
      return;
    }
    if (message.kind === 'ignored') {
      console.debug(`gotty: ignored message type ${JSON.stringify(message.type)}: ${message.why}`);
      return;
    }
    this.handlers.onMessage(message);
  }

  private handleClose(code: number, reason: string): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    window.clearInterval(this.pingTimer);
    const rest = this.decoder.flush();
    if (rest !== '') {
      this.handlers.onOutput(rest);
    }
    this.handlers.onClose({ code, reason, opened: this.opened });
  }
}
