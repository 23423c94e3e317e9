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

  it("replaces {block} with the import block's tokens, on the lines they were written on", async () => {
    const text =
      "(s) {\n\theader {\n\t\t{block}\n\t}\n}\n:80 {\n\timport s {\n\t\tX-A a\n\t\tX-B b\n\t}\n}";
    expect(await expand(text)).toEqual([
      [":80", "{"],
      ["header", "{"],
      ["X-A", "a"],
      ["X-B", "b"],
      ["}"],
      ["}"],
    ]);
  });

  it("replaces {blocks.NAME} with the sub-block's arguments and contents; unknown names with nothing", async () => {
    const snippet = "(s) {\n\tfirst {blocks.a}\n\t{blocks.b}\n\t{blocks.none}\n\tlast\n}\n";
    const block = "\ta x y {\n\t\tinner 1\n\t}\n\tb b1\n\tb b2 {\n\t\tinner 2\n\t}\n";
    expect(await expand(`${snippet}:80 {\nimport s {\n${block}}\n}`)).toEqual([
      [":80", "{"],
      ["first"],
      ["x", "y"],
      ["inner", "1"],
      ["b2"],
      ["inner", "2"],
      ["last"],
      ["}"],
    ]);
  });

  it("expands {block} and {blocks.NAME} to nothing when the import has no block", async () => {
    const snippet = "(s) {\n\theader {\n\t\tX-A a\n\t\t{block}\n\t\t{blocks.b}\n\t}\n}\n";
    expect(await expand(`${snippet}:80 {\n\timport s\n}`)).toEqual([
      [":80", "{"],
      ["header", "{"],
      ["X-A", "a"],
      ["}"],
      ["}"],
    ]);
  });

  it("passes blocks and arguments through nested snippets, defined in any order", async () => {
    const text = `(outer) {
	route {args[0]} {
		import inner {args[1]} {
			{block}
			extra {blocks.tail}
		}
	}
}
(inner) {
	reverse_proxy {args[0]} {
		{block}
	}
}
:80 {
	import outer /api localhost:9000 {
		header_up X-A a
		tail 1 2
	}
}`;
    expect(await expand(text)).toEqual([
      [":80", "{"],
      ["route", "/api", "{"],
      ["reverse_proxy", "localhost:9000", "{"],
      ["header_up", "X-A", "a"],
      ["tail", "1", "2"],
      ["extra"],
      ["1", "2"],
      ["}"],
      ["}"],
      ["}"],
    ]);
  });

  it("fills a file imported with a block, but not the snippets that file defines", async () => {
    const files = {
      "/site/parts.caddy": "(later) {\n\trespond {args[0]} {block}\n}\nheader {args[0]}\n{block}\n",
    };
    expect(
      await expand("import parts.caddy X {\n\tfrom block\n}\n:80 {\n\timport later Y\n}", files),
    ).toEqual([["header", "X"], ["from", "block"], [":80", "{"], ["respond", "Y"], ["}"]]);
  });

  it("fills arguments as Caddy's replacer does: ranges checked, escaped braces unescaped", async () => {
    const snippet =
      "(s) {\n\tall {args[:]}\n\tout {args[1:9]}\n\tneg {args[-1]}\n\tesc \\{x\\} {args[0]}\\}\n}\n";
    expect(await expand(`${snippet}:80 {\n\timport s a b\n}`)).toEqual([
      [":80", "{"],
      ["all", "a", "b"],
      ["out", "{args[1:9]}"],
      ["neg", "{args[-1]}"],
      ["esc", "{x}", "a}"],
      ["}"],
    ]);
  });

  it("keeps a block's file and line on its tokens, so errors name the user's line", async () => {
    const tokens = await expandImports(
      tokenize(
        "(s) {\n\troute {\n\t\t{block}\n\t}\n}\n:80 {\n\timport s {\n\t\tnuts\n\t}\n}",
        "/site/Caddyfile",
      ),
      {},
      memoryFiles({}),
    );
    const nuts = tokens.find((token) => token.text === "nuts");
    expect([nuts?.file, nuts?.line, nuts?.startsLine]).toEqual(["/site/Caddyfile", 8, true]);
  });

  it("refuses an anonymous block inside an import block, as Caddy does", async () => {
    expect(
      await expandError("(s) {\n\t{block}\n}\n:80 {\n\timport s {\n\t\t{\n\t\t\ta\n\t\t}\n\t}\n}"),
    ).toBe(
      "/site/Caddyfile:6: an import block cannot hold an anonymous { ... } block (Caddy refuses it); name it, e.g. name { ... }, and use {blocks.name}",
    );
  });

  it("names the line of an import block that is never closed, or a brace with more after it", async () => {
    expect(await expandError("(s) {\n}\n:80 {\n\timport s {\n\t\ta\n")).toBe(
      "/site/Caddyfile:4: the block of this import is never closed; add a matching }",
    );
    expect(await expandError("(s) {\n}\n:80 {\n\timport s {\n\t\ta {\n\t\t} b\n\t}\n}")).toBe(
      '/site/Caddyfile:6: unexpected "b" after } inside an import block; start it on a new line',
    );
  });

  it("refuses a block doubled at every level with the line of an import, instead of running out of memory", async () => {
    let text = "(s0) {\n\t{block}\n\t{block}\n}\n";
    for (let level = 1; level <= 30; level++) {
      text += `(s${level}) {\n\timport s${level - 1} {\n\t\t{block}\n\t\t{block}\n\t}\n}\n`;
    }
    expect(await expandError(`${text}:80 {\n\timport s30 {\n\t\trespond hi\n\t}\n}\n`)).toMatch(
      /^\/site\/Caddyfile:\d+: imports expand to more than 200000 tokens; look for snippets that repeat \{block\} at every level$/,
    );
  });

  it("leaves imports inside a named route for Caddy, which does not expand them there", async () => {
    expect(await expand("(s) {\n\tx\n}\n&(r) {\n\timport s\n}\n:80 {\n\timport s\n}")).toEqual([
      ["&(r)", "{"],
      ["import", "s"],
      ["}"],
      [":80", "{"],
      ["x"],
      ["}"],
    ]);
  });
});
