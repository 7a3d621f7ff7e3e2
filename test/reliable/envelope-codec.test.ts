/**
 * The envelope codec fed bytes and strings (no sockets): the frames it builds, and
 * the client envelopes it reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dataFrame, envelopeStart } from '../../src/reliable/envelope-codec.js';

test('a DATA frame: an unmasked text frame whose payload is the envelope with exact timestamp digits', () => {
  for (const size of [0, 5, 90, 70_000]) {
    const payload = Buffer.alloc(size, 0x61);
    const f = dataFrame(42, 1709078400123456, payload, size === 5);
    const env = f.subarray(envelopeStart(f));
    assert.equal(f[0], 0x81);
    const text = env.toString();
    assert.match(text, /^\{"type":0,"seq":42,"messageId":"42","timestamp":1709078400123456000,"data":"/);
    const parsed = JSON.parse(text) as { data: string; binary?: boolean };
    assert.deepEqual(Buffer.from(parsed.data, 'base64'), payload);
    assert.equal(parsed.binary, size === 5 ? true : undefined);
  }
});

test('a DATA frame is, byte for byte, the frame of the envelope text, for every digit count of seq and timestamp', async () => {
  const { textFrameOf } = await import('../../src/reliable/envelope-codec.js');
  const seqs = [0, 1, 9, 10, 99, 100, 12345, 2 ** 31, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER];
  const stamps = [0, 7, 1_000_000, 1709078400123456, Number.MAX_SAFE_INTEGER];
  for (const seq of seqs) {
    for (const us of stamps) {
      for (const binary of [false, true]) {
        const payload = Buffer.from(`payload ${seq} ${us}`);
        const text = `{"type":0,"seq":${seq},"messageId":"${seq}","timestamp":${BigInt(us) * 1000n},"data":"${payload.toString('base64')}"${binary ? ',"binary":true' : ''}}`;
        assert.deepEqual(dataFrame(seq, us, payload, binary), textFrameOf(text), `seq ${seq}, us ${us}, binary ${binary}`);
      }
    }
  }
});

test('an ACK frame is the ACK envelope, exactly, for every messageId length', async () => {
  const { ackFrame, ackText } = await import('../../src/reliable/envelope-codec.js');
  for (const id of ['a', 'msg-001', 'x'.repeat(100), 'y'.repeat(101), 'z'.repeat(128)]) {
    const f = ackFrame(id);
    const h = envelopeStart(f);
    assert.equal(f[0], 0x81);
    assert.equal(f.length - h, Buffer.byteLength(ackText(id)), `length for ${id.length}`);
    assert.deepEqual(JSON.parse(f.subarray(h).toString()), { type: 1, messageId: id });
  }
});

test('ACK frames written in place one after another are the frames of their ACK envelopes', async () => {
  const { ackFrameLength, ackText, textFrameOf, writeAckFrame } = await import('../../src/reliable/envelope-codec.js');
  const ids = ['a', 'msg-001', 'x'.repeat(100), 'y'.repeat(101), 'z'.repeat(128), '!#$%&\'()*+,-./:;<=>?@[]^_`{|}~'];
  const out = Buffer.alloc(ids.reduce((n, id) => n + ackFrameLength(id), 3), 0xee);
  let at = 3;
  for (const id of ids) at = writeAckFrame(out, at, id);
  assert.equal(at, out.length);
  assert.deepEqual(out.subarray(3), Buffer.concat(ids.map((id) => textFrameOf(ackText(id)))));
});
