/**
 * Auth is off in the embedded default config (the quick start) and on in every
 * production example: config/production.example.json and the JSON examples of
 * docs/security.md that configure routes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';

const root = new URL('../../../', import.meta.url);

describe('auth in the shipped configs', () => {
  it('config/route.json (the quick start) has auth off', () => {
    assert.equal(loadConfigFile(new URL('config/route.json', root).pathname).auth.mode, 'none');
  });

  it('config/production.example.json is valid and has auth on, an Origin list and the admin token out of the file', () => {
    const c = loadConfigFile(new URL('config/production.example.json', root).pathname);
    assert.notEqual(c.auth.mode, 'none');
    assert.ok(c.auth.allowedOrigins !== undefined && c.auth.allowedOrigins.length > 0);
    assert.equal(c.admin.token, undefined);
  });

  it("docs/security.md's complete configurations have auth on", () => {
    const doc = readFileSync(new URL('docs/security.md', root), 'utf8');
    const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.trimStart().startsWith('{') && b.includes('"routes"'));
    assert.ok(blocks.length >= 1);
    for (const b of blocks) assert.notEqual(parseConfig(JSON.parse(b)).auth.mode, 'none');
  });
});
