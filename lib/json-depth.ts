/**
 * The deepest nesting of arrays/objects in a JSON text, found without recursion (strings skipped).
 * JSON.parse accepts very deep documents, but everything recursive after it (hashing, JSON Schema)
 * would overflow the stack; bodies are checked against MAX_JSON_DEPTH before they are parsed.
 */
export const MAX_JSON_DEPTH = 100;

export function jsonNestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c /* \ */) i++;
      else if (ch === 0x22 /* " */) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      if (++depth > max) max = depth;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) depth--;
  }
  return max;
}
