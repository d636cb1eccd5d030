// Unit tests of the page's resume and sharing state (src/sharing.ts): the fields of
// message 7 it takes, and the join credential in the fragment. The browser tests
// (tests/browser/test_sharing_browser.py) drive the whole page against the server.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { encodeInit } from '../src/protocol.ts';
import {
  SharingState,
  describeWatchers,
  hashWithoutJoin,
  joinFromHash,
  joinLink,
} from '../src/sharing.ts';

describe('sharing', () => {
  it('reads and removes the join credential of the fragment only', () => {
    assert.equal(joinFromHash('#join=abc%2Bd'), 'abc+d');
    assert.equal(joinFromHash('#renderer=dom&join=t.k.n'), 't.k.n');
    assert.equal(joinFromHash('#renderer=dom'), null);
    assert.equal(hashWithoutJoin('#renderer=dom&join=x'), '#renderer=dom');
    assert.equal(hashWithoutJoin('#join=x'), '');
    assert.equal(joinLink('http://h:1', '/p/', 'a+b'), 'http://h:1/p/#join=a%2Bb');
  });

  it('takes the session info fields it knows and ignores bad ones', () => {
    const state = new SharingState();
    assert.equal(state.update({ writable: true }), false);
    state.update({ role: 'owner', resume_ticket: 'T1',
      sharing: { resume: true, detach_grace: 60, join: true, moderated: true } });
    assert.equal(state.resumeTicket, 'T1');
    assert.equal(state.detachGrace, 60);
    assert.ok(state.canJoin && state.moderated);
    state.update({ sharing: { resume: false, detach_grace: 60 } });
    assert.equal(state.detachGrace, 0); // no resume offered: never try one
    state.update({ watchers: [{ who: 'bob', role: 'observer' }, { who: 7 }], input_held: true });
    assert.deepEqual(state.watchers, [{ who: 'bob', role: 'observer' }]);
    assert.equal(describeWatchers(state.watchers), 'Watching: bob (observer)');
    assert.equal(describeWatchers([]), '');
    assert.ok(state.inputHeld);
    state.update({ role: 'intruder' });
    assert.equal(state.role, 'owner');
  });

  it('puts the resume fields in the init message', () => {
    const init = JSON.parse(encodeInit('?a', 't', { Resumable: true, Resume: 'R' }));
    assert.deepEqual(init, { Resumable: true, Resume: 'R', Arguments: '?a', AuthToken: 't', GottyPy: 1 });
  });
});
