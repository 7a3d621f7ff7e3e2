/**
 * The client DATA scanner (no sockets) against parseClientEnvelope, on generated
 * envelopes: whatever the scanner takes, JSON.parse and the field checks take too,
 * with the same messageId, binary, ack and data; what it does not take goes to
 * parseClientEnvelope, so they never disagree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClientDataScanner } from '../../src/reliable/client-data-scanner.js';
import { EnvelopeType, parseClientEnvelope } from '../../src/reliable/envelope-codec.js';

const CLIENT_ID = 'desk-42';

/** What both readers make of `text`; null from the scanner when it passes it on. */
function readBoth(text: string): { scanned: Record<string, unknown> | null; parsed: Record<string, unknown> } {
  const raw = Buffer.from(text);
  const scanner = new ClientDataScanner();
  const scanned = scanner.scan(raw, CLIENT_ID)
    ? { type: EnvelopeType.Data, messageId: scanner.messageId, data: raw.toString('latin1', scanner.dataStart, scanner.dataEnd), binary: scanner.binary, ack: scanner.ack }
    : null;
  return { scanned, parsed: { ...parseClientEnvelope(raw, CLIENT_ID) } };
}

const ws = fc.constantFrom('', '', '', ' ', '\n', ' \t');

/** A value for each field: mostly good ones, some that JSON reads differently or the checks refuse. */
const values: Record<string, fc.Arbitrary<string>> = {
  type: fc.constantFrom('0', '0', '0', '1', '5', '-0', '0.0', '0e0', '00', '"0"', 'null'),
  messageId: fc.oneof(
    fc.stringMatching(/^[!#-[\]-~]{1,12}$/).map((s) => JSON.stringify(s)),
    fc.constantFrom('"timestamp"', '"data"', '""', `"${'x'.repeat(128)}"`, `"${'x'.repeat(129)}"`, '"a b"', '"a\\u0062"', '"é"', '7', 'null'),
  ),
  data: fc.oneof(
    fc.uint8Array({ maxLength: 40 }).map((b) => `"${Buffer.from(b).toString('base64')}"`),
    fc.constantFrom('""', '"Hello World"', '"QQ=="', '"QR=="', '"QU\\u004aD"', '"QUJŁ"', '"a-_b"', '5', 'null', '["QQ=="]'),
  ),
  binary: fc.constantFrom('true', 'false', 'null', '1', '"true"', 'tru'),
  ack: fc.constantFrom('0', '7', '123456789012345', '1234567890123456', '9007199254740993', '-1', '1.5', '1e3', '07', 'null', '"3"'),
  timestamp: fc.constantFrom('1709078400123456789', '0', '17090784001234567890', '170907840012345678901', '-5', '1.5', '1e18', '017', '"1"'),
  clientId: fc.constantFrom(`"${CLIENT_ID}"`, '"desk-43"', '"desk-4"', '""', 'null', '"desk\\u002d42"'),
  extra: fc.constantFrom('1', '"x"', '"with \\"escape\\""', 'true', 'null', '{}', '[1]', '-2', '"é"'),
};

const optional = ['binary', 'ack', 'timestamp', 'clientId', 'extra', 'type', 'messageId', 'data'];

/** The three required fields and some others (a field twice, now and then), in any order, spaced at random. */
const envelope = fc
  .tuple(fc.shuffledSubarray(optional), fc.array(ws, { minLength: 40, maxLength: 40 }), fc.nat())
  .chain(([more, spaces, seed]) => {
    const names = ['type', 'messageId', 'data', ...more.slice(0, seed % (more.length + 1))];
    return fc.tuple(fc.tuple(...names.map((k) => values[k]!.map((v) => [k, v] as const))), fc.constant(spaces), fc.shuffledSubarray(names.map((_, i) => i), { minLength: names.length }));
  })
  .map(([fields, spaces, order]) => {
    let w = 0;
    const sp = () => spaces[w++ % spaces.length]!;
    const body = order.map((i) => fields[i]!).map(([k, v]) => `${sp()}"${k}"${sp()}:${sp()}${v}${sp()}`).join(',');
    return `${sp()}{${body}}${sp()}`;
  });

test('whatever the scanner takes, parseClientEnvelope takes too, with the same fields', () => {
  let scanned = 0;
  let passedOn = 0;
  fc.assert(
    fc.property(envelope, (text) => {
      const { scanned: s, parsed } = readBoth(text);
      if (s === null) {
        passedOn++;
        return;
      }
      scanned++;
      assert.deepEqual(s, parsed, text);
    }),
    { numRuns: 20_000 },
  );
  // Both ways were taken often enough for the property to say something.
  assert.ok(scanned > 500, `scanned ${scanned}`);
  assert.ok(passedOn > 500, `passed on ${passedOn}`);
});

test('the SDK\'s DATA and a plainly written one are scanned, not parsed', () => {
  const texts = [
    '{"type":0,"messageId":"m-1","data":"aGVsbG8="}',
    '{"type":0,"ack":12,"messageId":"m-2","data":"aGVsbG8=","binary":true}',
    '{ "type": 0, "messageId": "m-3", "timestamp": 1709078400123456789, "clientId": "desk-42", "data": "" }',
    '{"data":"QUJD","messageId":"timestamp","type":0,"timestamp":17,"future":"field"}',
  ];
  for (const text of texts) {
    const { scanned, parsed } = readBoth(text);
    assert.notEqual(scanned, null, text);
    assert.deepEqual(scanned, parsed, text);
  }
});

test('a DATA whose messageId is "timestamp" keeps its own timestamp check (JSON.parse path): accepted when the timestamp is digits', () => {
  // Found while writing the scanner: the check looked at the first "timestamp" in the text, here the messageId's value.
  const ok = parseClientEnvelope(Buffer.from('{"type":0,"messageId":"timestamp","timestamp":17,"data":"QUJD"}'), CLIENT_ID);
  assert.equal(ok.type, EnvelopeType.Data);
  const bad = parseClientEnvelope(Buffer.from('{"type":0,"messageId":"timestamp","timestamp":1.5,"data":"QUJD"}'), CLIENT_ID);
  assert.equal(bad.type, -1);
});
