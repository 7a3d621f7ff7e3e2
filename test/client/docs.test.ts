/**
 * docs/client-sdk.md is written for app authors who read nothing else: its error
 * table must be the SDK's catalogue, code for code and word for word, and it must
 * name every NACK code the SDK can reject a send() with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ClientErrorCodes, NACK_CODES } from '@stratix/client';

const doc = readFileSync(new URL('../../../docs/client-sdk.md', import.meta.url), 'utf8');

test('docs/client-sdk.md lists exactly the SDK\'s error codes, with their meaning', () => {
  const rows = doc
    .split('\n')
    .filter((l) => l.startsWith('| STRATIX_CLIENT_ERR_'))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
  assert.deepEqual(rows, Object.values(ClientErrorCodes).map((e) => [e.code, e.meaning]));
});

test('docs/client-sdk.md names every NACK code', () => {
  for (const code of NACK_CODES) assert.ok(doc.includes(`\`${code}\``), code);
});
