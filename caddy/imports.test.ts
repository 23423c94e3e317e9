import { describe, expect, it } from "vitest";
import { CaddyfileError } from "./errors.js";
import { expandImports } from "./imports.js";
import { tokenize } from "./lexer.js";
import { memoryFiles } from "./testing/memory-files.js";

async function expand(text: string, files: Record<string, string> = {}): Promise<string[][]> {
  const tokens = await expandImports(tokenize(text, "/site/Caddyfile"), {}, memoryFiles(files));
  const lines: string[][] = [];
  for (const token of tokens) {
    if (token.startsLine || lines.length === 0) lines.push([]);
    (lines[lines.length - 1] as string[]).push(token.text);
  }
  return lines;
}

async function expandError(text: string, files: Record<string, string> = {}): Promise<string> {
  try {
    await expand(text, files);
  } catch (error) {
    expect(error).toBeInstanceOf(CaddyfileError);
    return (error as Error).message;
  }
  throw new Error("expected a CaddyfileError");
}

describe("expandImports", () => {
  it("replaces a snippet import with its tokens and drops the definition", async () => {
    expect(await expand("(s) {\n\tencode gzip\n}\n:80 {\n\timport s\n\trespond hi\n}")).toEqual([
      [":80", "{"],
      ["encode", "gzip"],
      ["respond", "hi"],
      ["}"],
    ]);
  });

  it("fills in {args[N]}, {args.N} and variadic {args[a:b]}", async () => {
    const snippet =
      "(s) {\n\theader {args[0]}-x {args.1}\n\tlist {args[:]}\n\ttail {args[1:]}\n\tkeep {args[5]}\n}\n";
    expect(await expand(`${snippet}:80 {\n\timport s a "b c" d\n}`)).toEqual([
      [":80", "{"],
      ["header", "a-x", "b c"],
      ["list", "a", "b c", "d"],
      ["tail", "b c", "d"],
      ["keep", "{args[5]}"],
      ["}"],
    ]);
  });

  it("imports files relative to the importing file, and globs in file order", async () => {
    const files = {
      "/site/conf/main.caddy": "import parts/*.caddy\n",
      "/site/conf/parts/b.caddy": "b\n",
      "/site/conf/parts/a.caddy": "a {args[0]}\n",
      "/site/conf/parts/c.txt": "not imported\n",
    };
    expect(await expand(":80 {\n\timport conf/main.caddy\n}", files)).toEqual([
      [":80", "{"],
      ["a", "{args[0]}"],
      ["b"],
      ["}"],
    ]);
  });

  it("imports nothing for a glob that matches no file, as Caddy does", async () => {
    expect(await expand(":80 {\n\timport none/*.caddy\n}")).toEqual([[":80", "{"], ["}"]]);
  });

  it("names the import line when a snippet or file is missing", async () => {
    expect(await expandError(":80 {\n\timport nosuch\n}")).toBe(
      '/site/Caddyfile:2: unknown snippet "nosuch": define it with (nosuch) { ... } before this import',
    );
    expect(await expandError(":80 {\n\n\timport conf/missing.caddy\n}")).toBe(
      "/site/Caddyfile:3: import file not found: /site/conf/missing.caddy",
    );
  });

  it("requires snippets to be defined before they are imported", async () => {
    expect(await expandError(":80 {\n\timport later\n}\n(later) {\n\tx\n}")).toBe(
      '/site/Caddyfile:2: unknown snippet "later": define it with (later) { ... } before this import',
    );
  });

  it("stops import cycles through files and snippets", async () => {
    const files = {
      "/site/a.caddy": "x\nimport b.caddy\n",
      "/site/b.caddy": "\n\nimport a.caddy\n",
    };
    expect(await expandError(":80 {\n\timport a.caddy\n}", files)).toBe(
      "/site/b.caddy:3: import cycle: /site/Caddyfile -> /site/a.caddy -> /site/b.caddy -> /site/a.caddy; remove one of these imports",
    );
    expect(await expandError("(s) {\n\timport s\n}\n:80 {\n\timport s\n}")).toBe(
      "/site/Caddyfile:2: import cycle: /site/Caddyfile -> (s) -> (s); remove one of these imports",
    );
  });

  it("rejects a snippet defined twice", async () => {
    expect(await expandError("(s) {\n}\n(s) {\n}")).toBe(
      "/site/Caddyfile:3: snippet (s) is defined twice",
    );
  });
});
