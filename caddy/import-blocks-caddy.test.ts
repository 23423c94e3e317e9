/**
 * Import blocks (Caddy 2.9+) checked against the real caddy binary. For a Caddyfile without a
 * nuts block, `caddy adapt` of the original and of the adapter's output must give the same JSON.
 * With nuts blocks, Caddy cannot read the original; there each `nuts` is renamed `header` (whose
 * block of `name value` lines Caddy accepts anywhere a nuts block may stand), and the headers
 * handler Caddy puts there must sit exactly where the output's reverse_proxy to the sidecar sits,
 * carrying the same options the sidecar got.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { adaptFile } from "./index.js";
import { OVERSIZED_EXPRESSION } from "./oversized-guard.js";
import { GOLDEN_LISTEN } from "./testing/golden-cases.js";

const run = promisify(execFile);
const caddy = resolve(".tools/bin/caddy");
const scratch = mkdtempSync(join(tmpdir(), "nuts-import-blocks-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const caddyEnv = {
  PATH: process.env.PATH ?? "",
  HOME: scratch,
  XDG_DATA_HOME: scratch,
  XDG_CONFIG_HOME: scratch,
};
const CADDY_TIMEOUT = 60_000;

/** Files of one case, by path relative to its folder; the entry point is "Caddyfile". */
type Files = Record<string, string>;

function writeCase(name: string, files: Files, rename?: (text: string) => string): string {
  const folder = join(scratch, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true });
    writeFileSync(join(folder, path), rename ? rename(text) : text);
  }
  return join(folder, "Caddyfile");
}

async function caddyAdapt(path: string, validate = false): Promise<unknown> {
  const args = ["adapt", "--config", path, "--adapter", "caddyfile"];
  const { stdout } = await run(caddy, validate ? [...args, "--validate"] : args, {
    env: caddyEnv,
    timeout: CADDY_TIMEOUT,
  });
  return JSON.parse(stdout);
}

async function nutsAdapt(name: string, files: Files) {
  const adapted = await adaptFile(writeCase(name, files), { listen: GOLDEN_LISTEN, env: {} });
  const out = join(scratch, `${name}.out.Caddyfile`);
  writeFileSync(out, adapted.caddy.format === "caddyfile" ? adapted.caddy.text : "");
  return { adapted, out, text: readFileSync(out, "utf8") };
}

const WITHOUT_NUTS: Record<string, Files> = {
  "block: {block} becomes the whole block, directives or subdirectives": {
    Caddyfile: `(headers) {
	header {
		{block}
	}
}
(routes) {
	route /app* {
		{block}
	}
}
:8080 {
	import headers {
		X-Frame-Options DENY
		X-Team platform
	}
	import routes {
		header X-Route app
		respond "app" 200
	}
}
`,
  },
  "named blocks: {blocks.NAME} becomes a sub-block's arguments and contents": {
    Caddyfile: `(two) {
	route /one* {
		header {
			{blocks.first}
		}
	}
	route /two* {
		header {
			{blocks.second}
		}
		{blocks.body}
	}
}
:8080 {
	import two {
		second X-Second inline-value
		first X-First a {
			X-Also b
		}
		body respond "two" 200
		unused {
			X-Unused never
		}
	}
}
`,
  },
  "no block: {block} and {blocks.NAME} expand to nothing": {
    Caddyfile: `(snippet) {
	header {
		X-Always yes
		{block}
		{blocks.extra}
	}
	respond {blocks.body} ok
}
:8080 {
	import snippet
}
`,
  },
  "nested: snippets pass blocks, named blocks and arguments on": {
    Caddyfile: `(proxy) {
	reverse_proxy {args[0]} {args[1:]} {
		{block}
	}
}
(outer) {
	route /{args[0]}* {
		import proxy localhost:{args[1]} localhost:9002 {
			header_up X-Who {args[0]}
			{blocks.extra}
		}
	}
	import inner {
		{blocks.inner}
	}
}
(inner) {
	header {
		{block}
	}
}
:8080 {
	import outer api 9001 {
		extra {
			header_up X-Extra yes
		}
		inner {
			X-Inner deep
		}
	}
	import outer web 9003
}
`,
  },
  "files: a file imported with arguments and a block; its snippets keep their placeholders": {
    Caddyfile: `import conf/snippets.caddy ignored-arg {
	ignored block
}
import conf/site.caddy :8080 {
	routes {
		header X-File yes
	}
}
`,
    "conf/snippets.caddy": `(respond_with) {
	respond {args[0]} {
		{block}
	}
}
`,
    "conf/site.caddy": `{args[0]} {
	{blocks.routes}
	import respond_with "from a file" {
		close
	}
}
`,
  },
  "site: a whole site block from a snippet, its directives from the block": {
    Caddyfile: `(site) {
	http://{args[0]} {
		{block}
	}
}
import site a.example {
	reverse_proxy http://127.0.0.1:8081 {
		header_up Host {host}
	}
}
import site b.example {
	respond "b"
}
`,
  },
  "Caddy's corners: a block used twice, sub-blocks out of order, escaped braces": {
    Caddyfile: `(twice) {
	route {
		{block}
		{block}
	}
}
(order) {
	header {
		{blocks.a}
		{blocks.b} {blocks.c}
	}
}
(escaped) {
	header X-Lit "\\{host\\}"
	header X-Arg {args[0]}\\}
}
:8080 {
	import twice {
		header X-A a
	}
	import order {
		c X-C c
		b X-B b
		a X-A a
	}
	import escaped one
}
`,
  },
};

describe("import blocks adapt as stock Caddy reads them (caddy adapt, same JSON)", () => {
  for (const [name, files] of Object.entries(WITHOUT_NUTS)) {
    it(
      name,
      async () => {
        const slug = name.split(":")[0]?.replaceAll(/\W+/g, "-") as string;
        const { out, text } = await nutsAdapt(slug, files);
        expect(text.replace(/^#.*\n/, "")).not.toMatch(/\bimport\b|\{block|\{args/);
        const original = await caddyAdapt(join(scratch, slug, "Caddyfile"));
        expect(await caddyAdapt(out)).toEqual(original);
      },
      CADDY_TIMEOUT * 2,
    );
  }
});

const WITH_NUTS: Files = {
  Caddyfile: `(feed) {
	route {args[0]}* {
		{blocks.before}
		nuts {
			stream_name {args[1]}
			{blocks.nuts}
		}
	}
}
(site) {
	{args[0]} {
		{block}
	}
}
import site :8080 {
	import feed /orders ORDERS {
		nuts {
			topic_prefix orders.
			max_topics 4
		}
		before {
			header X-Feed orders
		}
	}
	import feed /plain PLAIN
	import conf/feeds.caddy {
		route /files* {
			nuts {
				stream_name FILES
			}
		}
	}
}
`,
  "conf/feeds.caddy": `{block}
route /more* {
	nuts {
		stream_name MORE
	}
}
`,
};

type Options = Record<string, string>;

/**
 * The config with each headers handler that stands for a nuts block, and each reverse_proxy to
 * the sidecar, replaced by `{ nuts: <options> }`: the header lines, or the sidecar's options for
 * that route (less path_prefix, which the adapter derives).
 */
/** A route of the guard in front of each proxy (oversized-guard.ts): set aside to compare. */
function isGuard(value: unknown): boolean {
  const match = (value as { match?: unknown } | null)?.match;
  return (
    Array.isArray(match) && JSON.stringify(match).includes(JSON.stringify(OVERSIZED_EXPRESSION))
  );
}

/** A route with handlers only: no matcher, group or terminal flag. */
function isPlainRoute(value: unknown): value is { handle: unknown[] } {
  if (value === null || typeof value !== "object") return false;
  const keys = Object.keys(value);
  return (
    keys.length === 1 &&
    keys[0] === "handle" &&
    Array.isArray((value as { handle: unknown }).handle)
  );
}

function nutsMarked(value: unknown, optionsOfRoute: (route: string) => Options): unknown {
  if (Array.isArray(value)) {
    // Without the guard's routes, the routes around them are as Caddy would have joined them.
    const joined: unknown[] = [];
    for (const each of value.filter((entry) => !isGuard(entry))) {
      const last = joined.at(-1);
      if (isPlainRoute(each) && isPlainRoute(last)) {
        joined[joined.length - 1] = { ...last, handle: [...last.handle, ...each.handle] };
      } else joined.push(each);
    }
    return joined.map((each) => nutsMarked(each, optionsOfRoute));
  }
  if (value === null || typeof value !== "object") return value;
  const object = value as Record<string, unknown>;
  const set = (object.response as { set?: Record<string, string[]> } | undefined)?.set;
  if (object.handler === "headers" && set?.Stream_name) {
    return {
      nuts: Object.fromEntries(
        Object.entries(set).map(([name, values]) => [name.toLowerCase(), values.join(" ")]),
      ),
    };
  }
  const route = (object.headers as { request?: { set?: Record<string, string[]> } } | undefined)
    ?.request?.set?.["X-Nuts-Route"];
  if (object.handler === "reverse_proxy" && route)
    return { nuts: optionsOfRoute(route[0] as string) };
  return Object.fromEntries(
    Object.entries(object).map(([key, each]) => [key, nutsMarked(each, optionsOfRoute)]),
  );
}

describe("nuts blocks that come through import blocks", () => {
  it(
    "land where Caddy puts the block, with their options, and the output passes caddy adapt --validate",
    async () => {
      const { adapted, out } = await nutsAdapt("with-nuts", WITH_NUTS);
      expect(adapted.sidecar.routes).toEqual({
        orders: {
          stream_name: "ORDERS",
          topic_prefix: "orders.",
          max_topics: 4,
          path_prefix: "/orders",
        },
        plain: { stream_name: "PLAIN", path_prefix: "/plain" },
        files: { stream_name: "FILES", path_prefix: "/files" },
        more: { stream_name: "MORE", path_prefix: "/more" },
      });
      const output = await caddyAdapt(out, true);
      const standIn = await caddyAdapt(
        writeCase("with-nuts-as-header", WITH_NUTS, (text) =>
          text.replaceAll(/\bnuts\b/g, "header"),
        ),
      );
      const optionsOfRoute = (route: string): Options => {
        const options = { ...adapted.sidecar.routes[route] } as Record<string, unknown>;
        delete options.path_prefix;
        return Object.fromEntries(
          Object.entries(options).map(([key, each]) => [key, String(each)]),
        );
      };
      const marked = nutsMarked(output, optionsOfRoute);
      expect(JSON.stringify(marked).match(/"nuts":/g)).toHaveLength(4);
      expect(marked).toEqual(nutsMarked(standIn, optionsOfRoute));
    },
    CADDY_TIMEOUT * 3,
  );
});
