/**
 * Property tests for the Caddyfile lexer, parser and adapter: random and mutated Caddyfiles
 * never crash `adaptCaddyfile`. It resolves, or rejects with a user-facing AdaptError whose
 * message names a file and line (`Caddyfile:12: ...`). A TypeError, a RangeError, a hang or
 * running out of memory is a failure.
 *
 * Each case runs in a worker thread, so a case that never ends can be cut off after a timeout
 * (a loop in the adapter would otherwise block the test forever) and one that exhausts the
 * heap dies alone.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOLDEN_ENV, GOLDEN_LISTEN } from "./testing/golden-cases.js";

const RUNS = { seed: 0x5eed_0009, numRuns: 600 };
/** Every case so far took well under 50 ms; a case still running after this is a hang. */
const CASE_TIMEOUT_MS = 2_000;

const here = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = join(here, "..");

// --- the corpus -----------------------------------------------------------------------------

function caddyfilesIn(folder: string): string[] {
  return readdirSync(join(repoRoot, folder))
    .filter((name) => name.endsWith(".Caddyfile"))
    .sort()
    .map((name) => `${folder}/${name}`);
}

/** Files the corpus imports, readable by the adapter through an in-memory file system. */
function importedFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const folder = join(repoRoot, "caddy/testdata/imports");
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = relative(repoRoot, join(entry.parentPath, entry.name));
    files[path] = readFileSync(join(repoRoot, path), "utf8");
  }
  return files;
}

const CORPUS_FILES = [
  ...caddyfilesIn("caddy/testdata"),
  ...caddyfilesIn("caddy/testdata/examples"),
  ...caddyfilesIn("caddy/examples"),
];
const CORPUS = CORPUS_FILES.map((file) => ({
  file,
  text: readFileSync(join(repoRoot, file), "utf8"),
}));
const IMPORTED = importedFiles();

// --- running the adapter in a worker --------------------------------------------------------

type Outcome =
  | { kind: "ok" }
  | {
      kind: "error";
      name: string;
      message: string;
      adaptError: boolean;
      userFacing: boolean;
      stack: string;
    }
  | { kind: "timeout" }
  | { kind: "worker_died"; message: string };

const WORKER_CODE = `
const { parentPort, workerData } = require("node:worker_threads");
(async () => {
  (await import(workerData.tsx)).register();
  const { adaptCaddyfile } = await import(workerData.adapter);
  const { AdaptError } = await import(workerData.errors);
  const { memoryFiles } = await import(workerData.memoryFiles);
  const files = memoryFiles(workerData.imported);
  parentPort.on("message", async ({ id, text, file }) => {
    try {
      await adaptCaddyfile(text, file, { listen: workerData.listen, env: workerData.env }, files);
      parentPort.postMessage({ id, outcome: { kind: "ok" } });
    } catch (error) {
      parentPort.postMessage({
        id,
        outcome: {
          kind: "error",
          name: String(error && error.name),
          message: String(error && error.message),
          adaptError: error instanceof AdaptError,
          userFacing: Boolean(error && error.userFacing === true),
          stack: String(error && error.stack).slice(0, 2000),
        },
      });
    }
  });
  parentPort.postMessage({ ready: true });
})().catch((error) => parentPort.postMessage({ failed: String(error && error.stack) }));
`;

/** One worker at a time; a case that times out takes its worker with it. */
class AdapterWorker {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private nextId = 0;

  async adapt(text: string, file: string, timeoutMs = CASE_TIMEOUT_MS): Promise<Outcome> {
    const worker = await this.start();
    const id = this.nextId++;
    return new Promise<Outcome>((resolve) => {
      const finish = (outcome: Outcome) => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        resolve(outcome);
      };
      const onMessage = (message: { id?: number; outcome?: Outcome }) => {
        if (message.id === id && message.outcome) finish(message.outcome);
      };
      const onError = (error: Error) => {
        this.discard();
        finish({ kind: "worker_died", message: error.message });
      };
      const onExit = (code: number) => {
        this.discard();
        finish({ kind: "worker_died", message: `exit ${code}` });
      };
      const timer = setTimeout(() => {
        this.discard();
        finish({ kind: "timeout" });
      }, timeoutMs);
      worker.on("message", onMessage);
      worker.once("error", onError);
      worker.once("exit", onExit);
      worker.postMessage({ id, text, file });
    });
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    await worker?.terminate();
  }

  private discard(): void {
    void this.stop();
  }

  private async start(): Promise<Worker> {
    if (this.worker && this.ready) {
      await this.ready;
      return this.worker;
    }
    const require = createRequire(import.meta.url);
    const tsx = pathToFileURL(require.resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
    const worker = new Worker(WORKER_CODE, {
      eval: true,
      workerData: {
        tsx,
        adapter: new URL("./caddyfile-adapter.ts", import.meta.url).href,
        errors: new URL("./errors.ts", import.meta.url).href,
        memoryFiles: new URL("./testing/memory-files.ts", import.meta.url).href,
        imported: IMPORTED,
        listen: GOLDEN_LISTEN,
        env: GOLDEN_ENV,
      },
      // A case that expands without bound dies alone, not the test process.
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (message: { ready?: boolean; failed?: string }) => {
        if (message.failed) reject(new Error(`the adapter worker failed: ${message.failed}`));
        if (message.ready || message.failed) worker.off("message", onMessage);
        if (message.ready) resolve();
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
    });
    await this.ready;
    return worker;
  }
}

const adapter = new AdapterWorker();

beforeAll(async () => {
  // Warm up: loading the TypeScript sources in the worker takes a moment.
  await adapter.adapt(":80\n", "Caddyfile", 20_000);
}, 30_000);

afterAll(async () => {
  await adapter.stop();
  console.log(`caddyfile fuzz: ${tally.adapted} adapted, ${tally.refused} refused with a line`);
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** An error must name one of the files the adapter read, and a line. */
function namesALine(message: string, files: string[]): boolean {
  const names = files.map(escapeRegExp).join("|");
  return new RegExp(`^(?:${names}):\\d+: `).test(message);
}

/** How the cases ended, printed at the end so a run shows it tried both ways. */
const tally = { adapted: 0, refused: 0 };

/** The property every input must satisfy. */
async function expectCleanOutcome(text: string, file: string): Promise<void> {
  const outcome = await adapter.adapt(text, file);
  if (outcome.kind === "ok") {
    tally.adapted++;
    return;
  }
  const input = JSON.stringify(text.length > 3000 ? `${text.slice(0, 3000)}...` : text);
  if (outcome.kind !== "error") {
    expect.fail(`adaptCaddyfile ${outcome.kind} (${JSON.stringify(outcome)}) on ${input}`);
  }
  const known = [file, ...Object.keys(IMPORTED)];
  expect(
    outcome.adaptError && outcome.userFacing,
    `not an AdaptError: ${outcome.stack}\ninput: ${input}`,
  ).toBe(true);
  expect(
    namesALine(outcome.message, known),
    `error names no file and line: ${outcome.message}\ninput: ${input}`,
  ).toBe(true);
  tally.refused++;
}

// --- generators -----------------------------------------------------------------------------

/** What mutations insert: the characters and words that steer the lexer and parser. */
const FRAGMENTS = [
  "{",
  "}",
  "{\n",
  "\n}",
  '"',
  "`",
  "<<",
  "<<EOF\n",
  "\nEOF",
  "EOF",
  "<<<",
  "\n",
  "\r\n",
  "\r",
  "\\",
  "\\\n",
  "#",
  " ",
  "\t",
  ",",
  ":",
  "\u0000",
  "\ufeff",
  "é",
  "import ",
  "\nimport imports/common.caddy\n",
  "\nimport *\n",
  "\nimport snip\n",
  "\n(snip) {\n",
  "nuts",
  "\nnuts {\n",
  "\nnuts\n",
  "route ",
  "handle_path ",
  "/events*",
  "@m",
  "\n@m path /x*\n",
  "stream_name",
  "\nstream_name EVENTS\n",
  "topic_prefix",
  "path_prefix",
  "sidecar_listen",
  "max_topics 99999999999999999999",
  "{$NATS_URL}",
  "{$UNSET}",
  "{$X:default}",
  "{args[0]}",
  "{args[:]}",
  "{args.1}",
  "&(name)",
  "reverse_proxy",
];

type Mutation =
  | { type: "delete"; at: number; length: number }
  | { type: "insert"; at: number; text: string }
  | { type: "duplicate"; from: number; length: number; at: number }
  | { type: "swap_lines"; a: number; b: number };

/** Positions are fractions of the current length, so a mutation fits any text. */
const position = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    type: fc.constant("delete" as const),
    at: position,
    length: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({
    type: fc.constant("insert" as const),
    at: position,
    text: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...FRAGMENTS) },
      { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 6 }) },
    ),
  }),
  fc.record({
    type: fc.constant("duplicate" as const),
    from: position,
    length: fc.integer({ min: 1, max: 60 }),
    at: position,
  }),
  fc.record({ type: fc.constant("swap_lines" as const), a: position, b: position }),
);

function applyMutation(text: string, change: Mutation): string {
  const index = (fraction: number) => Math.floor(fraction * (text.length + 1));
  switch (change.type) {
    case "delete": {
      const at = index(change.at);
      return text.slice(0, at) + text.slice(at + change.length);
    }
    case "insert": {
      const at = index(change.at);
      return text.slice(0, at) + change.text + text.slice(at);
    }
    case "duplicate": {
      const from = index(change.from);
      const piece = text.slice(from, from + change.length);
      const at = index(change.at);
      return text.slice(0, at) + piece + text.slice(at);
    }
    case "swap_lines": {
      const lines = text.split("\n");
      const a = Math.floor(change.a * lines.length);
      const b = Math.floor(change.b * lines.length);
      [lines[a], lines[b]] = [lines[b] as string, lines[a] as string];
      return lines.join("\n");
    }
  }
}

const mutatedCorpusFile = fc
  .tuple(fc.constantFrom(...CORPUS), fc.array(mutation, { minLength: 1, maxLength: 8 }))
  .map(([source, changes]) => ({
    file: source.file,
    text: changes.reduce(applyMutation, source.text),
  }));

/** Words of a Caddyfile, for token soups. */
const WORDS = [
  ...FRAGMENTS,
  ":8080",
  "localhost",
  "example.com,",
  "*",
  "respond",
  "handle",
  "handle_errors",
  "file_server",
  "header_up",
  "nats_url",
  "nats://localhost:4222",
  "allowed_origins",
  "https://a.example",
  "heartbeat_interval",
  "30s",
  "ten",
  "retry",
  "off",
  "publish",
  "on",
  "events.",
  "EVENTS",
  "-1",
  "0",
  '"quoted value"',
  "`back tick`",
  '"unterminated',
  "(snippet)",
  "import",
  "snippet",
];
const SEPARATORS = [" ", " ", " ", "\n", "\n", "\t", "\r\n", "\n\n"];

const tokenSoup = fc
  .array(fc.tuple(fc.constantFrom(...WORDS), fc.constantFrom(...SEPARATORS)), {
    minLength: 0,
    maxLength: 60,
  })
  .map((pairs) => pairs.map(([word, separator]) => word + separator).join(""));

// --- properties -----------------------------------------------------------------------------

describe("adaptCaddyfile on hostile input (property)", () => {
  it("the unmutated corpus adapts or fails with a line (sanity)", async () => {
    expect(CORPUS.length).toBeGreaterThan(10);
    for (const { file, text } of CORPUS) await expectCleanOutcome(text, file);
  });

  it("mutated corpus files: resolve, or an AdaptError naming file and line", async () => {
    await fc.assert(
      fc.asyncProperty(mutatedCorpusFile, ({ file, text }) => expectCleanOutcome(text, file)),
      RUNS,
    );
  });

  it("token soups: resolve, or an AdaptError naming file and line", async () => {
    await fc.assert(
      fc.asyncProperty(tokenSoup, (text) => expectCleanOutcome(text, "Caddyfile")),
      { ...RUNS, numRuns: 400 },
    );
  });

  it("fully random text: resolve, or an AdaptError naming file and line", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 200 }),
          fc.string({ unit: fc.constantFrom(...FRAGMENTS), maxLength: 40 }),
        ),
        (text) => expectCleanOutcome(text, "Caddyfile"),
      ),
      { ...RUNS, numRuns: 300 },
    );
  });

  it("nesting up to a few hundred levels adapts or fails with a line", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 400 }), fc.boolean(), async (depth, closed) => {
        const text = `:80 {\n${"route {\n".repeat(depth)}${closed ? "}\n".repeat(depth) : ""}}\n`;
        await expectCleanOutcome(text, "Caddyfile");
      }),
      { seed: RUNS.seed, numRuns: 30 },
    );
  });

  // Nesting is capped (100) before any recursion can overflow the stack.
  it("refuses blocks nested thousands deep with a line, not a RangeError", async () => {
    // 50,000 levels: deep enough to overflow the worker's stack as 3,000 overflow the CLI's.
    await expectCleanOutcome(`:80 {\n${"route {\n".repeat(50_000)}`, "Caddyfile");
  });

  // "Billion laughs": import expansions are capped, and the refusal names the import's line.
  it("refuses an exponential snippet expansion with a line instead of hanging", async () => {
    let text = "(s0) {\n\trespond hi\n}\n";
    for (let level = 1; level <= 24; level++) {
      text += `(s${level}) {\n\timport s${level - 1}\n\timport s${level - 1}\n}\n`;
    }
    await expectCleanOutcome(`${text}:80 {\n\timport s24\n}\n`, "Caddyfile");
  });
});
