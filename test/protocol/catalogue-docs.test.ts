/**
 * The close-code table and the handshake error catalogue are documented in
 * docs/protocol.md; these tests fail when the code and the docs drift apart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { closeCodeTable, isSendableCloseCode } from '../../src/protocol/close-codes.js';
import { HandshakeErrors } from '../../src/errors.js';

const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');

function tableRows(firstCell: RegExp): string[][] {
  return doc
    .split('\n')
    .filter((l) => l.startsWith('| ') && firstCell.test(l.split('|')[1]!.trim()))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
}

test('docs/protocol.md lists exactly the close codes the gateway sends, with the same advice', () => {
  const rows = tableRows(/^\d{4}$/);
  assert.deepEqual(
    rows.map(([code, name, reconnect, meaning]) => ({ code: Number(code), name, reconnect, meaning })),
    closeCodeTable.map((c) => ({ code: c.code, name: c.name, reconnect: c.reconnect, meaning: c.meaning })),
  );
});

test('every close code in the table can legally be sent, and none is in 4000-4099', () => {
  for (const c of closeCodeTable) {
    assert.ok(isSendableCloseCode(c.code), `${c.code} is sendable`);
    assert.ok(c.code < 4000 || c.code > 4099, `${c.code} is outside OpenClaw's 40xx`);
  }
  assert.equal(new Set(closeCodeTable.map((c) => c.code)).size, closeCodeTable.length, 'codes are unique');
});

test('docs/protocol.md lists exactly the handshake refusals, with their HTTP status', () => {
  const rows = tableRows(/^(\d{3}|upstream's)$/);
  assert.deepEqual(
    rows.map(([status, code, close, meaning]) => ({ status: status === "upstream's" ? 0 : Number(status), code, close, meaning })),
    Object.values(HandshakeErrors).map((e) => ({ status: e.status, code: e.code, close: 'close' in e && e.close !== undefined ? String(e.close.code) : '—', meaning: e.meaning })),
  );
});
