/**
 * The block after an `import` (Caddy 2.9+), read as Caddy's doImport reads it:
 *
 *     import snippet arg {
 *         header foo bar      # {block} in the snippet becomes all of these tokens
 *         content_type {      # {blocks.content_type} becomes the tokens after the name:
 *             text/html       # its arguments, then its block's contents
 *         }
 *     }
 *
 * The block opens with a `{` on the import's line; inside, a `{` or `}` counts only when it ends
 * its line, as with Caddy's NextBlock. Caddy would silently drop a brace followed by more on its
 * line; that is refused here, with the line.
 */
import { CaddyfileError } from "./errors.js";
import { isWord, onNewLine, type Token } from "./lexer.js";

export interface ImportBlock {
  /** Every token between the block's braces, for `{block}`. */
  tokens: Token[];
  /** Each line's first word inside the block, with the tokens `{blocks.<word>}` stands for. */
  named: Map<string, Token[]>;
}

/**
 * Reads the block that opens at `tokens[open]`. Returns it and the index just past its closing
 * brace.
 */
export function readImportBlock(
  tokens: Token[],
  open: number,
): { block: ImportBlock; end: number } {
  const brace = tokens[open] as Token;
  const first = tokens[open + 1];
  if (first === undefined) throw neverClosed(brace);
  // `import name {` followed by `}`: an empty block, like no block.
  if (isWord(first, "}")) return { block: { tokens: [], named: new Map() }, end: open + 2 };
  let depth = 1;
  let index = open + 1;
  for (; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    if (index === open + 1 || !(isWord(token, "{") || isWord(token, "}"))) continue;
    const next = tokens[index + 1];
    if (next !== undefined && !onNewLine(token, next)) {
      throw new CaddyfileError(
        next.file,
        next.line,
        `unexpected "${next.text}" after ${token.text} inside an import block; start it on a new line`,
      );
    }
    depth += token.text === "{" ? 1 : -1;
    if (depth === 0) break;
  }
  if (depth !== 0) throw neverClosed(brace);
  const inside = tokens.slice(open + 1, index);
  return { block: { tokens: inside, named: namedBlocks(inside) }, end: index + 1 };
}

/** `name args... { contents }` lines of an import block, by name; a later name wins. */
function namedBlocks(tokens: Token[]): Map<string, Token[]> {
  const named = new Map<string, Token[]>();
  let index = 0;
  while (index < tokens.length) {
    const name = tokens[index] as Token;
    if (isWord(name, "{")) {
      throw new CaddyfileError(
        name.file,
        name.line,
        "an import block cannot hold an anonymous { ... } block (Caddy refuses it); name it, e.g. name { ... }, and use {blocks.name}",
      );
    }
    index++;
    const contents: Token[] = [];
    while (index < tokens.length && !onNewLine(tokens[index - 1], tokens[index] as Token)) {
      const token = tokens[index] as Token;
      if (isWord(token, "{")) break;
      contents.push(token);
      index++;
    }
    const open = tokens[index];
    if (open !== undefined && isWord(open, "{") && !onNewLine(tokens[index - 1], open)) {
      const close = matchingClose(tokens, index);
      contents.push(...tokens.slice(index + 1, close));
      index = close + 1;
    }
    named.set(name.text, contents);
  }
  return named;
}

/** The `}` that closes the `{` at `open`, in a block whose braces are already checked. */
function matchingClose(tokens: Token[], open: number): number {
  let depth = 0;
  for (let index = open; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    if (isWord(token, "{")) depth++;
    if (isWord(token, "}") && --depth === 0) return index;
  }
  return tokens.length;
}

function neverClosed(brace: Token): CaddyfileError {
  return new CaddyfileError(
    brace.file,
    brace.line,
    "the block of this import is never closed; add a matching }",
  );
}
