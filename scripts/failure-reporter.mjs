/**
 * A node:test reporter that writes one line per failed test (file, name, the
 * error's first lines) to its destination file. `npm test` (scripts/test.mjs) runs
 * every suite with it beside the TAP reporter and prints the lines again at the very
 * end, so that the tail of a long CI log names what failed.
 */
export default async function* failureReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const d = event.data;
    // Suites fail when a test inside fails; the test's own line says more.
    if (d.details?.type === 'suite') continue;
    const err = d.details?.error;
    const cause = err?.cause ?? err;
    const message = String(cause?.message ?? cause ?? 'failed').split('\n').filter((l) => l.trim() !== '').slice(0, 4).join('\n    ');
    yield `${d.file ?? '?'}: ${d.name}\n    ${message}\n`;
  }
}
