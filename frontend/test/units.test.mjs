// Unit tests of the frontend's pure modules. The browser tests (tests/browser/) cover the
// page as a whole against the real server; these pin the edge cases that are awkward to
// reach from there: malformed frames, odd paths, every preference spelling.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { searchWithoutJwt, websocketUrl } from '../src/address.ts';
import { closeMessage } from '../src/client.ts';
import { mapPreferences } from '../src/preferences.ts';
import { isRecorded } from '../src/recorded.ts';
import { encodeInit, encodeInput, encodeResize, parseServerFrame } from '../src/protocol.ts';
import { Utf8StreamDecoder, base64ToBytes } from '../src/utf8.ts';

describe('protocol', () => {
  it('encodes client messages as GoTTY does', () => {
    assert.equal(encodeInput('ls\r'), '1ls\r');
    assert.equal(encodeResize(80, 24), '3{"columns":80,"rows":24}');
    assert.deepEqual(JSON.parse(encodeInit('?arg=1', 'u:p')), {
      Arguments: '?arg=1',
      AuthToken: 'u:p',
      GottyPy: 1,
    });
  });

  it('parses every server message type', () => {
    assert.deepEqual(parseServerFrame('1aGk='), { kind: 'output', base64: 'aGk=' });
    assert.deepEqual(parseServerFrame('2'), { kind: 'pong' });
    assert.deepEqual(parseServerFrame('3bash@host ✓'), { kind: 'title', title: 'bash@host ✓' });
    assert.deepEqual(parseServerFrame('4{"font-size":20}'), {
      kind: 'preferences',
      preferences: { 'font-size': 20 },
    });
    assert.deepEqual(parseServerFrame('510'), { kind: 'reconnect', seconds: 10 });
    assert.deepEqual(parseServerFrame('61024'), { kind: 'bufferSize', bytes: 1024 });
    assert.deepEqual(parseServerFrame('7{"writable":false}'), {
      kind: 'extension',
      fields: { writable: false },
    });
  });

  it('ignores unknown and malformed frames instead of throwing', () => {
    for (const frame of ['', '9x', '0', '4not json', '4[1]', '5ten', '7null']) {
      assert.equal(parseServerFrame(frame).kind, 'ignored', frame);
    }
  });
});

describe('address', () => {
  const at = (pathname, protocol = 'http:') => ({
    protocol,
    host: 'example.test:8080',
    pathname,
    search: '',
    hash: '',
  });

  it('builds the WebSocket URL next to the page', () => {
    assert.equal(websocketUrl(at('/'), ''), 'ws://example.test:8080/ws');
    assert.equal(websocketUrl(at('/sub/dir/'), ''), 'ws://example.test:8080/sub/dir/ws');
    assert.equal(websocketUrl(at('/sub/dir/', 'https:'), 'a=1'), 'wss://example.test:8080/sub/dir/ws?a=1');
    // The index served at an unmatched path: its assets (and the socket) are in its directory.
    assert.equal(websocketUrl(at('/base/foo'), ''), 'ws://example.test:8080/base/ws');
  });

  it('removes only the jwt parameter, keeping the rest byte for byte', () => {
    assert.equal(searchWithoutJwt(''), null);
    assert.equal(searchWithoutJwt('?arg=1'), null);
    assert.equal(searchWithoutJwt('?jwt=abc'), '');
    assert.equal(searchWithoutJwt('?a=%20b+c&jwt=x.y.z&arg=2'), '?a=%20b+c&arg=2');
    assert.equal(searchWithoutJwt('?jwt=1&jwt=2&%6Awt=3&jwtx=4'), '?jwtx=4');
  });
});

describe('utf8', () => {
  it('decodes base64 to bytes', () => {
    assert.deepEqual([...base64ToBytes('AP8=')], [0, 255]);
    assert.throws(() => base64ToBytes('*'));
  });

  it('keeps a character split across frames whole', () => {
    const bytes = new TextEncoder().encode('é中😀');
    const decoder = new Utf8StreamDecoder();
    let text = '';
    for (const byte of bytes) {
      text += decoder.decode(Uint8Array.of(byte));
    }
    assert.equal(text + decoder.flush(), 'é中😀');
  });

  it('flushes an unfinished character as U+FFFD and starts afresh', () => {
    const decoder = new Utf8StreamDecoder();
    assert.equal(decoder.decode(Uint8Array.of(0xe4, 0xb8)), '');
    assert.equal(decoder.flush(), '\ufffd');
    assert.equal(decoder.decode(Uint8Array.of(0x41)), 'A');
  });
});

describe('preferences', () => {
  it('maps hterm names in any spelling onto xterm options', () => {
    for (const key of ['font-size', 'font_size', 'fontSize', 'FONT-SIZE']) {
      assert.equal(mapPreferences({ [key]: 20 }).options.fontSize, 20, key);
    }
    const mapped = mapPreferences({
      'font-family': 'Fira Code, monospace',
      'foreground-color': '#eee',
      'background-color': 'rgb(1, 2, 3)',
      'cursor-color': 'rgba(255, 0, 0, 0.5)',
      'cursor-blink': true,
      'scrollback': 500,
      'enable-bold-as-bright': false,
      'EnableWebGL': false,
      'copy-on-select': false,
    });
    assert.deepEqual(mapped.options, {
      fontFamily: 'Fira Code, monospace',
      cursorBlink: true,
      scrollback: 500,
      drawBoldTextInBrightColors: false,
    });
    assert.deepEqual(mapped.theme, { foreground: '#eee', background: 'rgb(1, 2, 3)', cursor: 'rgba(255, 0, 0, 0.5)' });
    assert.equal(mapped.enableWebgl, false);
    assert.equal(mapped.copyOnSelect, false);
    assert.deepEqual(mapped.ignored, []);
  });

  it('lists what xterm cannot do and rejects wrong types', () => {
    const mapped = mapPreferences({
      'font-smoothing': 'antialiased',
      'cursor-blink-cycle': [0, 0],
      'font-size': 'big',
      'cursor-blink': 'yes',
    });
    assert.deepEqual(mapped.options, {});
    assert.deepEqual(mapped.ignored.sort(), ['cursor-blink', 'cursor-blink-cycle', 'font-size', 'font-smoothing']);
  });

  it('maps the palette, array or object, 16 colours and beyond', () => {
    const fromArray = mapPreferences({ 'color-palette-overrides': ['#000001', null, '#000003'] });
    assert.deepEqual(fromArray.theme, { black: '#000001', green: '#000003' });
    const fromObject = mapPreferences({ 'color-palette-overrides': { 15: '#fffffe', 17: '#123456' } });
    assert.equal(fromObject.theme.brightWhite, '#fffffe');
    assert.deepEqual(fromObject.theme.extendedAnsi, ['#000000', '#123456']);
  });

  it('draws bold as normal when enable-bold is false', () => {
    assert.equal(mapPreferences({ 'enable-bold': false }).options.fontWeightBold, 'normal');
    assert.equal(mapPreferences({ 'enable-bold': false, 'font-weight': 300 }).options.fontWeightBold, 300);
    assert.deepEqual(mapPreferences({ 'enable-bold': true }).options, {});
  });
});

describe('close messages', () => {
  it('shows the reason the server gave, or that the connection was lost', () => {
    assert.equal(
      closeMessage({ code: 1000, reason: 'process exited with status 0', opened: true }),
      'Connection closed: process exited with status 0',
    );
    assert.equal(closeMessage({ code: 1008, reason: 'token expired', opened: true }), 'Connection closed: token expired');
    assert.equal(closeMessage({ code: 1006, reason: '', opened: true }), 'Connection lost');
    assert.equal(closeMessage({ code: 1006, reason: '', opened: false }), 'Connection lost');
    assert.equal(closeMessage({ code: 1000, reason: '', opened: true }), 'Connection closed');
    assert.equal(closeMessage({ code: 1011, reason: '', opened: true }), 'Connection closed (code 1011)');
  });
});

describe('recorded banner', () => {
  it('counts only an explicit "recorded": true', () => {
    assert.equal(isRecorded({ recorded: true }), true);
    for (const fields of [{}, { recorded: false }, { recorded: 'true' }, { recorded: 1 }]) {
      assert.equal(isRecorded(fields), false, JSON.stringify(fields));
    }
  });
});
