/**
 * The exact source text of a number in a JSON object: JSON.parse reads every number
 * through a double, which rounds the gateway's 19-digit nanosecond timestamps, and
 * the reviver's access to the source text (JSON.parse with source) is not in every
 * runtime the SDK supports (Node 20, older Electron). This tokenizer walks a text
 * that JSON.parse has accepted: strings are skipped whole with indexOf (a 30 MB
 * base64 `data` costs one scan), nesting is counted, and a member counts only at
 * the top level, whatever the order of the fields and the spacing.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/**
 * The source text of the number that is the value of the top-level member `key` of
 * `text` (a JSON object that JSON.parse accepted): undefined if there is no such
 * member, null if its value is not a number. Repeated keys: the last one, as
 * JSON.parse takes it.
 */
export function topLevelNumberText(text: string, key: string): string | null | undefined {
  let found: string | null | undefined;
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (depth === 1) {
        let j = skipSpace(text, end + 1);
        if (text.charCodeAt(j) === COLON && isKey(text, i, end, key)) {
          j = skipSpace(text, j + 1);
          let k = j;
          while (k < text.length && isNumberChar(text.charCodeAt(k))) k++;
          found = k > j ? text.slice(j, k) : null;
          i = k;
          continue;
        }
      }
      i = end + 1;
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++; // { [
    else if (c === 0x7d || c === 0x5d) depth--; // } ]
    i++;
  }
  return found;
}

/** The index of the quote that closes the string opening at `start` (one not escaped by an odd run of backslashes). */
function stringEnd(text: string, start: number): number {
  let j = start;
  for (;;) {
    j = text.indexOf('"', j + 1);
    if (j < 0) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(j - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return j;
  }
}

function skipSpace(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    i++;
  }
  return i;
}

/** Is the string text[open..close] (quotes included) the key `key`? Escapes are decoded. */
function isKey(text: string, open: number, close: number, key: string): boolean {
  const escaped = text.indexOf('\\', open) !== -1 && text.indexOf('\\', open) < close;
  if (!escaped) return close - open - 1 === key.length && text.startsWith(key, open + 1);
  return JSON.parse(text.slice(open, close + 1)) === key;
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45; // 0-9 - + . e E
}
