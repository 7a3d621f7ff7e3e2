/** Conformance group 6: UTF-8 (docs/conformance.md). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGroup } from './case-runner.js';
import { SEQUENCES, utf8 } from './cases/utf8.js';
import { utf8Verdict } from '../helpers/utf8-reference.js';

test('each sequence is valid or not as its group says, by the reference checker and by TextDecoder', () => {
  const fatal = new TextDecoder('utf-8', { fatal: true });
  for (const [name, list] of SEQUENCES) {
    for (const [valid, seq] of list) {
      const what = `${name}: 0x${seq.toString('hex')}`;
      assert.equal(utf8Verdict(seq) === 'valid', valid, what);
      let decodes = true;
      try {
        fatal.decode(seq);
      } catch {
        decodes = false;
      }
      assert.equal(decodes, valid, `${what} (TextDecoder)`);
    }
  }
});

runGroup(utf8);
