import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ackText, dataText, helloText, parseGatewayEnvelope, Type } from '../src/envelope.js';

test('the gateway envelopes of docs/protocol.md §3.5 parse', () => {
  assert.deepEqual(
    parseGatewayEnvelope('{"type":2,"sessionId":"q3Z6gC3r0s9vQnJxk0H1Xw","recovered":false,"resume":"new","firstSeq":1,"lastSeq":0,"resumeWindowMs":120000,"heartbeatMs":25000}'),
    { type: Type.Hello, sessionId: 'q3Z6gC3r0s9vQnJxk0H1Xw', recovered: false, resume: 'new', firstSeq: 1, lastSeq: 0, resumeWindowMs: 120000, heartbeatMs: 25000 },
  );
  assert.deepEqual(parseGatewayEnvelope('{"type":4,"seq":1,"event":"upstream_open"}'), {
    type: Type.Event, seq: 1, event: 'upstream_open', code: undefined, reason: '', retryAfterMs: undefined, errorCode: undefined,
  });
  assert.deepEqual(parseGatewayEnvelope('{"type":1,"messageId":"m-1"}'), { type: Type.Ack, messageId: 'm-1', code: '', reason: '' });
  assert.deepEqual(parseGatewayEnvelope('{"type":3,"messageId":"m-2","code":"STRATIX_NACK_TOO_LARGE","reason":"payload over 1024 bytes"}'), {
    type: Type.Nack, messageId: 'm-2', code: 'STRATIX_NACK_TOO_LARGE', reason: 'payload over 1024 bytes',
  });
  assert.deepEqual(parseGatewayEnvelope('{"type":5}'), { type: Type.Heartbeat });
  assert.deepEqual(parseGatewayEnvelope('{"type":4,"event":"retry_after","retryAfterMs":1000,"code":"STRATIX_ERR_DRAINING"}'), {
    type: Type.Event, seq: undefined, event: 'retry_after', code: undefined, reason: '', retryAfterMs: 1000, errorCode: 'STRATIX_ERR_DRAINING',
  });
});

test('a DATA keeps its nanosecond timestamp digits exactly (JSON.parse would round them)', () => {
  const e = parseGatewayEnvelope('{"type":0,"seq":2,"messageId":"2","timestamp":1764582000123456789,"data":"aGVsbG8=","binary":true}');
  assert.deepEqual(e, { type: Type.Data, seq: 2, data: 'aGVsbG8=', binary: true, timestamp: '1764582000123456789' });
});

test('the timestamp is read exactly whatever the field order, spacing and nesting (protocol.md §3.2: order does not matter)', () => {
  const long = 'QUJD'.repeat(100);
  const cases: Array<[string, string]> = [
    [`{"data":"${long}","seq":2,"type":0,"messageId":"2","timestamp":1764582000123456789}`, '1764582000123456789'],
    [`{ "type" : 0 , "seq" : 3 , "meta" : { "timestamp" : 1, "x": ["timestamp", {"timestamp": 2}] } , "data" : "aGk=" , "timestamp" : 9007199254740993123 }`, '9007199254740993123'],
    [`{"type":0,"seq":4,"note":"a \\"timestamp\\":5 in a string","data":"aGk=","timestamp":\n7}`, '7'],
    [`{"type":0,"seq":5,"data":"aGk=","time\\u0073tamp":1764582000000000001}`, '1764582000000000001'],
    [`{"type":0,"seq":6,"timestamp":1,"data":"aGk=","timestamp":1764582000000000002}`, '1764582000000000002'],
    [`{"type":0,"seq":7,"data":"aGk="}`, '0'],
  ];
  for (const [text, timestamp] of cases) {
    const e = parseGatewayEnvelope(text);
    assert.equal(typeof e, 'object', `${text}: ${String(e)}`);
    assert.equal((e as { timestamp: string }).timestamp, timestamp, text);
  }
  for (const bad of ['-1', '1.5', '1e18', '"1764582000123456789"']) {
    assert.match(String(parseGatewayEnvelope(`{"type":0,"seq":2,"data":"aGk=","timestamp":${bad}}`)), /timestamp/, bad);
  }
});

test('what breaks the protocol is named, not thrown', () => {
  for (const bad of ['nope', '[1]', 'null', '{"type":0,"seq":0,"data":""}', '{"type":0,"seq":1}', '{"type":2,"sessionId":"x"}', '{"type":9}', '{"type":4,"seq":-1,"event":"x"}', '{"type":1,"messageId":5}']) {
    assert.equal(typeof parseGatewayEnvelope(bad), 'string', bad);
  }
});

test('client envelopes are the JSON the gateway expects', () => {
  assert.deepEqual(JSON.parse(helloText(undefined, 0)), { type: 2 });
  assert.deepEqual(JSON.parse(helloText('q3Z6gC3r0s9vQnJxk0H1Xw', 7)), { type: 2, sessionId: 'q3Z6gC3r0s9vQnJxk0H1Xw', lastSeq: 7 });
  assert.deepEqual(JSON.parse(ackText(42)), { type: 1, seq: 42 });
  assert.deepEqual(JSON.parse(dataText('a.1', 'aGk=', false)), { type: 0, messageId: 'a.1', data: 'aGk=' });
  assert.deepEqual(JSON.parse(dataText('a.2', 'AP8=', true)), { type: 0, messageId: 'a.2', data: 'AP8=', binary: true });
});
