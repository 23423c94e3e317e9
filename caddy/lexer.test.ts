import { describe, expect, it } from "vitest";
import { CaddyfileError } from "./errors.js";
import { onNewLine, type Token, tokenize } from "./lexer.js";

/** [text, line, startsLine, quote] for each token, which is what the parser relies on. */
function lex(input: string): [string, number, boolean, Token["quote"]][] {
  return tokenize(input, "Caddyfile").map((token) => [
    token.text,
    token.line,
    token.startsLine,
    token.quote,
  ]);
}

function lexError(input: string): string {
  try {
    tokenize(input, "Caddyfile");
  } catch (error) {
    expect(error).toBeInstanceOf(CaddyfileError);
    return (error as Error).message;
  }
  throw new Error("expected a CaddyfileError");
}

describe("tokenize", () => {
  it("splits words on white space and records lines and line starts", () => {
    expect(lex(":8080 {\n\trespond  hi 200\n}\n")).toEqual([
      [":8080", 1, true, null],
      ["{", 1, false, null],
      ["respond", 2, true, null],
      ["hi", 2, false, null],
      ["200", 2, false, null],
      ["}", 3, true, null],
    ]);
  });

  it("skips comments only at the start of a word", () => {
    expect(lex("a # comment { }\nb#c d\n#whole line\ne")).toEqual([
      ["a", 1, true, null],
      ["b#c", 2, true, null],
      ["d", 2, false, null],
      ["e", 4, true, null],
    ]);
  });

  it('reads quoted strings where only \\" is an escape, across lines', () => {
    expect(lex('"a \\"b\\" c:\\\\d\\n" x\n"multi\nline" y')).toEqual([
      ['a "b" c:\\\\d\\n', 1, true, '"'],
      ["x", 1, false, null],
      ["multi\nline", 2, true, '"'],
      ["y", 3, false, null],
    ]);
  });

  it("reads backtick strings without escapes", () => {
    expect(lex('`a "b" \\n {c}` d')).toEqual([
      ['a "b" \\n {c}', 1, true, "`"],
      ["d", 1, false, null],
    ]);
  });

  it("reads heredocs, stripping the closing marker's indentation", () => {
    const tokens = lex("respond <<EOF\n\t\t<p>\n\n\t\t  hi</p>\n\t\tEOF 200\nnext");
    expect(tokens).toEqual([
      ["respond", 1, true, null],
      ["<p>\n\n  hi</p>", 1, false, "heredoc"],
      ["200", 5, false, null],
      ["next", 6, true, null],
    ]);
  });

  it("keeps the source text of each token for writing it back", () => {
    const tokens = tokenize('a "b c" `d` <<X\n  e\n  X \\<<f', "Caddyfile");
    expect(tokens.map((token) => token.source)).toEqual([
      "a",
      '"b c"',
      "`d`",
      "<<X\n  e\n  X",
      "\\<<f",
    ]);
    expect(tokens[4]?.text).toBe("<<f");
  });

  it("treats a backslash before a line break as a continuation of the line", () => {
    expect(lex("a b \\\n  c\nd")).toEqual([
      ["a", 1, true, null],
      ["b", 1, false, null],
      ["c", 2, false, null],
      ["d", 3, true, null],
    ]);
  });

  it("keeps other backslashes in bare words", () => {
    expect(lex("\\{path\\} a\\\\b")).toEqual([
      ["\\{path\\}", 1, true, null],
      ["a\\\\b", 1, false, null],
    ]);
  });

  it("leaves environment placeholders for later", () => {
    expect(lex('{$HOST:localhost} "{$A}"')).toEqual([
      ["{$HOST:localhost}", 1, true, null],
      ["{$A}", 1, false, '"'],
    ]);
  });

  it("treats << followed by a space as a word", () => {
    expect(lex("a << b")).toEqual([
      ["a", 1, true, null],
      ["<<", 1, false, null],
      ["b", 1, false, null],
    ]);
  });

  it("names the line of syntax errors", () => {
    expect(lexError('a\nb "open\n\n')).toBe(
      'Caddyfile:2: this quoted string is never closed; end it with "',
    );
    expect(lexError("a\n`open")).toBe(
      "Caddyfile:2: this backtick string is never closed; end it with `",
    );
    expect(lexError("a\nrespond <<EOF\nbody\n")).toBe(
      "Caddyfile:2: heredoc <<EOF is never closed; end it with a line EOF",
    );
    expect(lexError("respond <<EOF\n\t\tok\n\tbad\n\t\tEOF")).toBe(
      "Caddyfile:3: heredoc <<EOF: this line must start with the same white space as the closing EOF",
    );
    expect(lexError("respond <<E.F\nx\nE.F")).toBe(
      'Caddyfile:1: heredoc marker "E.F" may hold only letters, digits, dashes and underscores',
    );
  });

  it("numbers lines as Caddy does for onNewLine: a continued line keeps its number", () => {
    const tokens = tokenize('a \\\n b\nc "x\ny" d\n<<EOF\n\tt\n\tEOF e\nf', "Caddyfile");
    expect(tokens.map((token) => [token.text, token.line, token.caddyLine])).toEqual([
      ["a", 1, 1],
      ["b", 2, 1],
      ["c", 3, 3],
      ["x\ny", 3, 3],
      ["d", 4, 4],
      ["t", 5, 5],
      ["e", 7, 7],
      ["f", 8, 8],
    ]);
    const lineStarts = tokens.map((token, index) => onNewLine(tokens[index - 1], token));
    expect(lineStarts).toEqual(tokens.map((token) => token.startsLine));
    expect(lineStarts).toEqual([true, false, true, false, false, true, false, true]);
  });
});
