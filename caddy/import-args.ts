/**
 * An import's arguments in the imported tokens, exactly as Caddy fills them in (caddyfile/
 * importargs.go and the placeholder replacer): a token that is exactly `{args[a:b]}` (either
 * bound may be left out) becomes one token per argument in the range; `{args[N]}` and the older
 * `{args.N}` anywhere in a token become argument N. Placeholders Caddy does not know, or whose
 * index is out of range, stay as written. Like Caddy's replacer, this also drops the `\` of an
 * escaped `\{` or `\}` in every imported token that holds a brace.
 */

/** The argument range of a token that is exactly a variadic placeholder, else undefined. */
export function variadicRange(
  text: string,
  argCount: number,
): { start: number; end: number } | undefined {
  if (!text.startsWith("{args[") || !text.endsWith("]}")) return undefined;
  const range = text.slice("{args[".length, -"]}".length);
  const colon = range.indexOf(":");
  if (range === "" || colon === -1) return undefined;
  const from = range.slice(0, colon);
  const to = range.slice(colon + 1);
  // A token with several placeholders separated by ":" is not variadic (caddy#5716).
  if (from.includes("}") || to.includes("{")) return undefined;
  const start = from === "" ? 0 : goAtoi(from);
  const end = to === "" ? argCount : goAtoi(to);
  if (start === undefined || end === undefined) return undefined;
  if (start < 0 || start > end || end > argCount) return undefined;
  return { start, end };
}

/** `{args[N]}` and `{args.N}` replaced by the arguments, as Caddy's ReplaceKnown does. */
export function replaceArgs(text: string, args: readonly string[]): string {
  if (!text.includes("{") && !text.includes("}")) return text;
  let out = "";
  let written = 0;
  scan: for (let at = 0; at < text.length; at++) {
    const char = text[at];
    if (at > 0 && text[at - 1] === "\\" && (char === "{" || char === "}")) {
      out += text.slice(written, at - 1);
      written = at;
      continue;
    }
    if (char !== "{") continue;
    let end = text.indexOf("}", at);
    if (end === -1) continue;
    // The placeholder ends at the first } that is not escaped.
    while (end > 0 && end < text.length - 1 && text[end - 1] === "\\") {
      const next = text.indexOf("}", end + 1);
      if (next === -1) continue scan;
      end = next;
    }
    out += text.slice(written, at);
    const value = argValue(text.slice(at + 1, end), args);
    if (value === undefined) {
      written = at;
      continue;
    }
    out += value;
    at = end;
    written = at + 1;
  }
  return out + text.slice(written);
}

/** The value of the placeholder key `args[N]` or `args.N`; undefined when Caddy leaves it. */
function argValue(key: string, args: readonly string[]): string | undefined {
  const deprecated = /^args\.(.+)$/.exec(key);
  const indexed = deprecated ? undefined : /^args\[(.+)\]$/.exec(key);
  const index = deprecated?.[1] ?? indexed?.[1];
  if (index === undefined || (indexed && index.includes(":"))) return undefined;
  const position = goAtoi(index);
  if (position === undefined || position < 0 || position >= args.length) return undefined;
  return args[position];
}

/** Go's strconv.Atoi: an optional sign and decimal digits, nothing else. */
function goAtoi(text: string): number | undefined {
  return /^[+-]?\d+$/.test(text) ? Number(text) : undefined;
}
