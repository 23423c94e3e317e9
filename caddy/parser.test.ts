import { describe, expect, it } from "vitest";
import { CaddyfileError } from "./errors.js";
import { tokenize } from "./lexer.js";
import { type Directive, parseCaddyfile } from "./parser.js";

/** A readable shape: each directive as its words, blocks as nested arrays. */
type Shape = (string | Shape)[];
function shape(directives: Directive[]): Shape {
  return directives.flatMap((directive) => {
    const line = directive.tokens.map((token) => token.text).join(" ");
    return directive.block === undefined ? [line] : [line, shape(directive.block)];
  });
}

function parse(text: string) {
  return parseCaddyfile(tokenize(text, "Caddyfile")).map((block) => ({
    keys: block.keys.map((key) => key.text),
    body: shape(block.body),
  }));
}

function parseError(text: string): string {
  try {
    parseCaddyfile(tokenize(text, "Caddyfile"));
  } catch (error) {
    expect(error).toBeInstanceOf(CaddyfileError);
    return (error as Error).message;
  }
  throw new Error("expected a CaddyfileError");
}

describe("parseCaddyfile", () => {
  it("groups the global options block, sites and nested blocks", () => {
    const text =
      "{\n\tadmin off\n}\n\na.com, b.com {\n\troute /x* {\n\t\trespond hi\n\t}\n\tfile_server\n}\n";
    expect(parse(text)).toEqual([
      { keys: [], body: ["admin off"] },
      { keys: ["a.com", "b.com"], body: ["route /x*", ["respond hi"], "file_server"] },
    ]);
  });

  it("continues a list of addresses that ends in a comma on the next line", () => {
    expect(parse("a.com,\nb.com\n{\n\trespond hi\n}")).toEqual([
      { keys: ["a.com", "b.com"], body: ["respond hi"] },
    ]);
  });

  it("reads a single site without braces", () => {
    expect(parse("localhost\nroute /x* {\n\trespond hi\n}\nfile_server\n")).toEqual([
      { keys: ["localhost"], body: ["route /x*", ["respond hi"], "file_server"] },
    ]);
  });

  it('treats a quoted "{" as text, not a block', () => {
    expect(parse(':80 {\n\trespond "{"\n}')).toEqual([{ keys: [":80"], body: ["respond {"] }]);
  });

  it("keeps a multi-line quoted token in its directive", () => {
    expect(parse(':80 {\n\trespond "a\nb" 200\n\tfile_server\n}')).toEqual([
      { keys: [":80"], body: ["respond a\nb 200", "file_server"] },
    ]);
  });

  it("names the line of structural mistakes", () => {
    expect(parseError(":80 {\n\troute {\n\t\trespond hi\n}")).toBe(
      "Caddyfile:1: this { is never closed; add a matching }",
    );
    expect(parseError(":80 {\n}\n}")).toBe(
      "Caddyfile:3: unexpected }: there is no { for it to close",
    );
    expect(parseError(":80 {\n\troute { respond hi\n\t}\n}")).toBe(
      'Caddyfile:2: unexpected "respond" after { on the same line; start it on a new line',
    );
    expect(parseError(":80 {\n\troute\n\t{\n\t}\n}")).toBe(
      "Caddyfile:3: unexpected { at the start of a line; put it at the end of the line before",
    );
  });
});
