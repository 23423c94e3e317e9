/**
 * Groups Caddyfile tokens (imports already expanded) into the structure Caddy sees: top-level
 * blocks (the global options block, sites, named routes), each a list of directives, where a
 * directive is one line of tokens and the block it opens with a `{` at the end of the line.
 * Like Caddy, a `{` must end its line, a `}` starts one, and a file with a single site may leave
 * out the site's braces.
 */
import { CaddyfileError } from "./errors.js";
import { isWord, type Token } from "./lexer.js";

/** One line of tokens and the block it opens, if it ends in `{`. */
export interface Directive {
  /** The line's tokens, without the `{` that opens the block. */
  tokens: Token[];
  /** The directives inside the block; undefined when the line opens none. */
  block: Directive[] | undefined;
}

/** A top-level block. No keys: the global options block. */
export interface ServerBlock {
  /** Site addresses (commas removed), a named route's `&(name)`, or none. */
  keys: Token[];
  body: Directive[];
  /** The first token of the block, for error messages. */
  start: Token;
}

export function parseCaddyfile(tokens: Token[]): ServerBlock[] {
  return new Parser(tokens).file();
}

/** Nesting beyond this is refused: real Caddyfiles stay far below, and recursion has limits. */
const MAX_NESTING = 100;

class Parser {
  private index = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  file(): ServerBlock[] {
    const blocks: ServerBlock[] = [];
    while (this.peek() !== undefined) {
      const start = this.peek() as Token;
      if (isWord(start, "}"))
        throw this.error(start, "unexpected }: there is no { for it to close");
      const keys = this.keys();
      const open = this.peek();
      if (isWord(open, "{")) {
        this.index++;
        this.expectLineEnd();
        blocks.push({ keys, body: this.block(open as Token), start });
      } else {
        // A single site may leave out its braces; then the rest of the file is its body.
        blocks.push({ keys, body: this.directives(undefined), start });
      }
    }
    return blocks;
  }

  /** Site addresses up to the `{`; a trailing comma continues the list on the next line. */
  private keys(): Token[] {
    const keys: Token[] = [];
    let expectingAnother = false;
    for (let token = this.peek(); token !== undefined; token = this.peek()) {
      if (isWord(token, "{")) break;
      if (keys.length > 0 && token.startsLine && !expectingAnother) break;
      this.index++;
      expectingAnother = token.quote === null && token.text.endsWith(",");
      const text = expectingAnother ? token.text.slice(0, -1) : token.text;
      if (text !== "") keys.push(text === token.text ? token : { ...token, text, source: null });
    }
    return keys;
  }

  /** The directives of a block opened by `open`, through its closing `}`. */
  private block(open: Token): Directive[] {
    if (++this.depth > MAX_NESTING) {
      throw this.error(
        open,
        `blocks nest more than ${MAX_NESTING} deep; no Caddyfile needs that many`,
      );
    }
    const body = this.directives(open);
    this.depth--;
    const close = this.peek();
    if (!isWord(close, "}")) throw this.error(open, "this { is never closed; add a matching }");
    this.index++;
    const after = this.peek();
    if (after !== undefined && !after.startsLine) {
      throw this.error(after, `unexpected "${after.text}" after }; start it on a new line`);
    }
    return body;
  }

  /** Directives until a `}` that starts a line (or the end of the input). */
  private directives(open: Token | undefined): Directive[] {
    const directives: Directive[] = [];
    for (let token = this.peek(); token !== undefined; token = this.peek()) {
      if (isWord(token, "}") && token.startsLine) {
        if (open === undefined)
          throw this.error(token, "unexpected }: there is no { for it to close");
        return directives;
      }
      directives.push(this.directive());
    }
    return directives;
  }

  private directive(): Directive {
    const first = this.peek() as Token;
    if (isWord(first, "{")) {
      throw this.error(
        first,
        "unexpected { at the start of a line; put it at the end of the line before",
      );
    }
    const tokens: Token[] = [first];
    this.index++;
    for (let token = this.peek(); token !== undefined && !token.startsLine; token = this.peek()) {
      this.index++;
      if (isWord(token, "{")) {
        this.expectLineEnd();
        return { tokens, block: this.block(token) };
      }
      tokens.push(token);
    }
    return { tokens, block: undefined };
  }

  private expectLineEnd(): void {
    const next = this.peek();
    if (next !== undefined && !next.startsLine) {
      throw this.error(
        next,
        `unexpected "${next.text}" after { on the same line; start it on a new line`,
      );
    }
  }

  private peek(): Token | undefined {
    return this.tokens[this.index];
  }

  private error(token: Token, reason: string): CaddyfileError {
    return new CaddyfileError(token.file, token.line, reason);
  }
}
