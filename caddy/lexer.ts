/**
 * Splits Caddyfile text into tokens the way Caddy's own lexer does (caddyconfig/caddyfile/
 * lexer.go): words separated by white space; `"quoted"` strings where only `\"` is an escape;
 * `` `backtick` `` strings with no escapes; heredocs (`<<EOF` ... `EOF`) whose closing marker's
 * indentation is stripped from every line; `#` comments at the start of a word; `\` before a
 * line break continues the line. Environment placeholders (`{$VAR}`) are left in the text: Caddy
 * expands them itself, and the adapter expands them only inside `nuts` blocks.
 *
 * Unlike Caddy, an unterminated quoted string is an error rather than a token running to the end
 * of the file.
 */
import { CaddyfileError } from "./errors.js";

export interface Token {
  /** The token's value, quotes removed and escapes applied. */
  text: string;
  /** The file it came from, as given (imported files: joined to the importing file's folder). */
  file: string;
  /** The line the token starts on, counting from 1. */
  line: number;
  /**
   * The line Caddy's own lexer gives the token: like `line`, except that lines continued with `\`
   * keep the number of the line they continue until the next real line break. `onNewLine` compares
   * these, as Caddy does, to tell whether tokens that imports brought together share a line.
   */
  caddyLine: number;
  /** How the token was quoted in its source; null for a bare word. */
  quote: '"' | "`" | "heredoc" | null;
  /** The exact source text, written back as-is while the token is unchanged; null once changed. */
  source: string | null;
  /** True when an unescaped line break (or the start of a file) comes before the token. */
  startsLine: boolean;
  /** The files and snippets the token was imported through, outermost first. */
  importChain: readonly string[];
  /**
   * The imports that spliced the token in, as Caddy records them (`file:line (import name)`):
   * tokens with different entries are never on one line. A token an import block carried into a
   * snippet keeps the entries of the place it was written.
   */
  importedAt: readonly string[];
}

const HEREDOC_MARKER = /^[A-Za-z0-9_-]+$/;

export function tokenize(input: string, file: string): Token[] {
  return new Lexer(input, file).all();
}

/**
 * Whether `next` starts a new line after `previous`, by Caddy's rule (isNextOnNewLine): tokens
 * from different files or imports do; otherwise `next` must start on a later line than the one
 * `previous` ends on. Tokens straight from the lexer agree with their `startsLine`.
 */
export function onNewLine(previous: Token | undefined, next: Token): boolean {
  if (previous === undefined || previous.file !== next.file) return true;
  const a = previous.importedAt;
  const b = next.importedAt;
  if (a.length !== b.length || a.some((entry, index) => entry !== b[index])) return true;
  return previous.caddyLine + lineBreaksIn(previous) < next.caddyLine;
}

/** Line breaks inside a token as Caddy counts them: a heredoc adds its two marker lines. */
function lineBreaksIn(token: Token): number {
  return countLineBreaks(token.text) + (token.quote === "heredoc" ? 2 : 0);
}

/** True when the token is the bare word `word` (a quoted "{" is text, not a brace). */
export function isWord(token: Token | undefined, word: string): boolean {
  return token !== undefined && token.quote === null && token.text === word;
}

class Lexer {
  private position = 0;
  private line = 1;
  private startsLine = true;
  /** Lines continued with `\` since the last real line break; Caddy's line count skips them. */
  private continuedLines = 0;

  constructor(
    private readonly input: string,
    private readonly file: string,
  ) {
    if (input.charCodeAt(0) === 0xfeff) this.position = 1;
  }

  all(): Token[] {
    const tokens: Token[] = [];
    for (let token = this.next(); token !== undefined; token = this.next()) tokens.push(token);
    return tokens;
  }

  private next(): Token | undefined {
    this.skipSpaceAndComments();
    if (this.position >= this.input.length) return undefined;
    const start = this.position;
    const line = this.line;
    const caddyLine = this.line - this.continuedLines;
    const char = this.input[start];
    let text: string;
    let quote: Token["quote"] = null;
    if (char === '"') {
      text = this.readQuoted();
      quote = '"';
    } else if (char === "`") {
      text = this.readBackticked();
      quote = "`";
    } else if (this.atHeredocStart()) {
      text = this.readHeredoc();
      quote = "heredoc";
    } else {
      text = this.readWord();
    }
    const token: Token = {
      text,
      file: this.file,
      line,
      caddyLine,
      quote,
      source: this.input.slice(start, this.position),
      startsLine: this.startsLine,
      importChain: [],
      importedAt: [],
    };
    this.startsLine = false;
    return token;
  }

  private skipSpaceAndComments(): void {
    const input = this.input;
    while (this.position < input.length) {
      const char = input[this.position] as string;
      if (char === "\n") {
        this.line++;
        this.continuedLines = 0;
        this.startsLine = true;
        this.position++;
      } else if (char === "\\" && /^\\\r?\n/.test(input.slice(this.position, this.position + 3))) {
        // An escaped line break joins the next line to this one.
        this.position += input[this.position + 1] === "\r" ? 3 : 2;
        this.line++;
        this.continuedLines++;
      } else if (/\s/.test(char)) {
        this.position++;
      } else if (char === "#") {
        const end = input.indexOf("\n", this.position);
        this.position = end === -1 ? input.length : end;
      } else {
        return;
      }
    }
  }

  private readWord(): string {
    const input = this.input;
    let text = "";
    while (this.position < input.length) {
      const char = input[this.position] as string;
      if (/\s/.test(char)) break;
      if (char === "\\") {
        const escaped = input[this.position + 1];
        if (escaped === undefined || /\s/.test(escaped)) {
          // A backslash before white space ends the word; before a line break it also
          // continues the line, which skipSpaceAndComments handles.
          const continuesLine = /^\\\r?\n/.test(input.slice(this.position, this.position + 3));
          if (!continuesLine) this.position++;
          break;
        }
        // Only `\<` is an escape outside quotes (it stops `<<` starting a heredoc).
        text += escaped === "<" ? "<" : `\\${escaped}`;
        this.position += 2;
        continue;
      }
      text += char;
      this.position++;
    }
    return text;
  }

  private readQuoted(): string {
    const input = this.input;
    const startLine = this.line;
    let text = "";
    this.position++;
    while (this.position < input.length) {
      const char = input[this.position] as string;
      if (char === "\\" && this.position + 1 < input.length) {
        const escaped = input[this.position + 1] as string;
        text += escaped === '"' ? '"' : `\\${escaped}`;
        if (escaped === "\n") this.newLineInToken();
        this.position += 2;
        continue;
      }
      this.position++;
      if (char === '"') return text;
      if (char === "\n") this.newLineInToken();
      text += char;
    }
    throw this.error(startLine, 'this quoted string is never closed; end it with "');
  }

  private readBackticked(): string {
    const startLine = this.line;
    const end = this.input.indexOf("`", this.position + 1);
    if (end === -1) {
      throw this.error(startLine, "this backtick string is never closed; end it with `");
    }
    const text = this.input.slice(this.position + 1, end);
    const lineBreaks = countLineBreaks(text);
    this.line += lineBreaks;
    if (lineBreaks > 0) this.continuedLines = 0;
    this.position = end + 1;
    return text;
  }

  /** `<<MARKER` followed directly by a line break; `<< ` or `<<` at the end of input are words. */
  private atHeredocStart(): boolean {
    if (!this.input.startsWith("<<", this.position)) return false;
    const match = /^<<([^\s]*)\r?\n/.exec(this.input.slice(this.position, this.position + 260));
    return match !== null;
  }

  private readHeredoc(): string {
    const input = this.input;
    const startLine = this.line;
    const lineEnd = input.indexOf("\n", this.position);
    const marker = input.slice(this.position + 2, lineEnd).replace(/\r$/, "");
    if (marker === "") {
      throw this.error(startLine, "a heredoc needs a marker after <<, e.g. <<EOF");
    }
    if (marker.startsWith("<")) {
      throw this.error(startLine, "too many '<' for a heredoc; use two, e.g. <<EOF");
    }
    if (!HEREDOC_MARKER.test(marker)) {
      throw this.error(
        startLine,
        `heredoc marker "${marker}" may hold only letters, digits, dashes and underscores`,
      );
    }
    const contentStart = lineEnd + 1;
    // Like Caddy, the heredoc ends at the first occurrence of the marker.
    const markerAt = input.indexOf(marker, contentStart);
    if (markerAt === -1) {
      throw this.error(
        startLine,
        `heredoc <<${marker} is never closed; end it with a line ${marker}`,
      );
    }
    const content = input.slice(contentStart, markerAt);
    const lastBreak = content.lastIndexOf("\n");
    const padding = content.slice(lastBreak + 1);
    const lines = lastBreak === -1 ? [] : content.slice(0, lastBreak).split("\n");
    const out: string[] = [];
    lines.forEach((text, index) => {
      if (text === "" || text === "\r") {
        out.push("");
      } else if (!text.startsWith(padding)) {
        throw this.error(
          startLine + 1 + index,
          `heredoc <<${marker}: this line must start with the same white space as the closing ${marker}`,
        );
      } else {
        out.push(text.slice(padding.length).replaceAll("\r", ""));
      }
    });
    this.line += 1 + countLineBreaks(content);
    this.continuedLines = 0;
    this.position = markerAt + marker.length;
    return out.join("\n");
  }

  /** A line break inside a quoted token: Caddy's line count catches up with continued lines. */
  private newLineInToken(): void {
    this.line++;
    this.continuedLines = 0;
  }

  private error(line: number, reason: string): CaddyfileError {
    return new CaddyfileError(this.file, line, reason);
  }
}

function countLineBreaks(text: string): number {
  let count = 0;
  for (const char of text) if (char === "\n") count++;
  return count;
}
