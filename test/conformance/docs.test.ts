/** docs/conformance.md's outcome table is the one the cases make (table.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DOC, documentedTable, outcomeTable } from './table.js';

test('docs/conformance.md lists every conformance case with the outcome the suite asserts', () => {
  const documented = documentedTable(readFileSync(DOC, 'utf8'));
  assert.ok(documented !== undefined, 'docs/conformance.md has the generated table section');
  assert.equal(documented, outcomeTable(), 'docs/conformance.md is out of date: run `npm run conformance:table`');
});
