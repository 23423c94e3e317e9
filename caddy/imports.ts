/**
 * Snippets and `import`, resolved the way Caddy resolves them: tokens are spliced in place of
 * the `import` line. A snippet `(name) { ... }` is defined at the top level and must come
 * before it is imported; other patterns are files relative to the importing file's folder, with
 * `*` and `?` allowed in the file name. `{args[0]}` (and the older `{args.0}`) take the import's
 * arguments; a token that is exactly `{args[:]}`, `{args[1:]}` ... becomes several tokens.
 */
import { readdir, readFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { type Env, expandEnv } from "./env.js";
import { CaddyfileError } from "./errors.js";
import { isWord, type Token, tokenize } from "./lexer.js";

/** Reading files, injectable for tests. */
export interface FileSystem {
  readFile(path: string): Promise<string>;
  /** File names in a folder, or undefined when it does not exist. */
  listFiles(folder: string): Promise<string[] | undefined>;
}

export const nodeFileSystem: FileSystem = {
  readFile: (path) => readFile(path, "utf8"),
  async listFiles(folder) {
    try {
      const entries = await readdir(folder, { withFileTypes: true });
      return entries.filter((entry) => !entry.isDirectory()).map((entry) => entry.name);
    } catch {
      return undefined;
    }
  },
};

const SNIPPET_NAME = /^\((.+)\)$/;
const VARIADIC_ARGS = /^\{args\[(\d*):(\d*)\]\}$/;
const INDEXED_ARG = /\{args(?:\[(\d+)\]|\.(\d+))\}/g;

/** Import expansions in one file: snippets importing each other twice per level grow exponentially. */
const MAX_IMPORTS = 10_000;

/** Returns the tokens with every import replaced by what it imports, snippet definitions removed. */
export async function expandImports(
  tokens: Token[],
  env: Env,
  files: FileSystem = nodeFileSystem,
): Promise<Token[]> {
  const snippets = new Map<string, Token[]>();
  const pending = [...tokens];
  const out: Token[] = [];
  let depth = 0;
  let index = 0;
  let imports = 0;
  while (index < pending.length) {
    const token = pending[index] as Token;
    if (token.startsLine && isWord(token, "import")) {
      if (++imports > MAX_IMPORTS) {
        throw new CaddyfileError(
          token.file,
          token.line,
          `imports expand more than ${MAX_IMPORTS} times; look for snippets that import each other repeatedly`,
        );
      }
      const end = lineEnd(pending, index);
      const imported = await resolveImport(
        token,
        pending.slice(index + 1, end),
        snippets,
        env,
        files,
      );
      pending.splice(index, end - index, ...imported);
      continue;
    }
    if (depth === 0 && token.startsLine && isSnippetDefinition(pending, index)) {
      const end = closingBrace(pending, index + 1);
      const name = (SNIPPET_NAME.exec(token.text) as RegExpExecArray)[1] as string;
      if (snippets.has(name)) {
        throw new CaddyfileError(token.file, token.line, `snippet (${name}) is defined twice`);
      }
      snippets.set(name, pending.slice(index + 2, end));
      index = end + 1;
      continue;
    }
    if (isWord(token, "{")) depth++;
    if (isWord(token, "}")) depth--;
    out.push(token);
    index++;
  }
  return out;
}

/** The index just past the last token on the line that starts at `start`. */
function lineEnd(tokens: Token[], start: number): number {
  let end = start + 1;
  while (end < tokens.length && !(tokens[end] as Token).startsLine) end++;
  return end;
}

function isSnippetDefinition(tokens: Token[], index: number): boolean {
  const name = tokens[index] as Token;
  return name.quote === null && SNIPPET_NAME.test(name.text) && isWord(tokens[index + 1], "{");
}

/** The index of the `}` matching the `{` at `open`. */
function closingBrace(tokens: Token[], open: number): number {
  let depth = 0;
  for (let index = open; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    if (isWord(token, "{")) depth++;
    if (isWord(token, "}") && --depth === 0) return index;
  }
  const brace = tokens[open] as Token;
  throw new CaddyfileError(brace.file, brace.line, "this { is never closed; add a matching }");
}

async function resolveImport(
  directive: Token,
  args: Token[],
  snippets: Map<string, Token[]>,
  env: Env,
  files: FileSystem,
): Promise<Token[]> {
  const fail = (reason: string): never => {
    throw new CaddyfileError(directive.file, directive.line, reason);
  };
  const [patternToken, ...argTokens] = args;
  if (patternToken === undefined) {
    return fail("import needs a snippet name or a file path, e.g. import common");
  }
  if (argTokens.some((arg) => isWord(arg, "{"))) {
    fail(
      "import with a block ({block} placeholders) is not supported by nuts adapt; use arguments",
    );
  }
  const pattern = expandEnv(patternToken.text, env).text;
  const argValues = argTokens.map((arg) => ({ ...arg, text: expandEnv(arg.text, env).text }));

  const snippet = snippets.get(pattern);
  if (snippet !== undefined) {
    const label = `(${pattern})`;
    checkCycle(directive, label, (entry) => entry === label);
    return spliced(snippet, directive, label, argValues);
  }

  const path = isAbsolute(pattern) ? pattern : join(dirname(directive.file), pattern);
  const paths = await matchingFiles(path, files, fail);
  if (paths.length === 0 && !/[*?]/.test(pattern)) {
    const looksLikeSnippet = !/[./]/.test(pattern);
    fail(
      looksLikeSnippet
        ? `unknown snippet "${pattern}": define it with (${pattern}) { ... } before this import`
        : `import file not found: ${path}`,
    );
  }
  const imported: Token[] = [];
  for (const file of paths) {
    checkCycle(directive, file, (entry) => resolve(entry) === resolve(file));
    const text = await files.readFile(file).catch((error: NodeJS.ErrnoException) => {
      return fail(`cannot read imported file ${file}: ${error.code ?? error.message}`);
    });
    imported.push(...spliced(tokenize(text, file), directive, file, argValues));
  }
  return imported;
}

async function matchingFiles(
  path: string,
  files: FileSystem,
  fail: (reason: string) => never,
): Promise<string[]> {
  const folder = dirname(path);
  const name = basename(path);
  if (/[*?[\]]/.test(folder)) fail(`only the file name of an import may hold wildcards: ${path}`);
  const names = await files.listFiles(folder);
  if (names === undefined) return [];
  if (!/[*?]/.test(name)) return names.includes(name) ? [path] : [];
  const wildcard = new RegExp(
    `^${name
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replaceAll("*", ".*")
      .replaceAll("?", ".")}$`,
  );
  return names
    .filter((candidate) => wildcard.test(candidate))
    .sort()
    .map((candidate) => join(folder, candidate));
}

function checkCycle(directive: Token, label: string, same: (entry: string) => boolean): void {
  const chain = importChainOf(directive);
  if (chain.some(same)) {
    throw new CaddyfileError(
      directive.file,
      directive.line,
      `import cycle: ${[...chain, label].join(" -> ")}; remove one of these imports`,
    );
  }
}

/** The files and snippets a token came through, starting with the top file. */
function importChainOf(token: Token): readonly string[] {
  return token.importChain.length > 0 ? token.importChain : [token.file];
}

/** Copies of `tokens` as they appear at the import: on a new line, arguments filled in. */
function spliced(tokens: Token[], directive: Token, label: string, args: Token[]): Token[] {
  const importChain = [...importChainOf(directive), label];
  const out: Token[] = [];
  for (const token of tokens) {
    const variadic = VARIADIC_ARGS.exec(token.text);
    if (variadic && token.quote === null) {
      const start = variadic[1] === "" ? 0 : Number(variadic[1]);
      const end = variadic[2] === "" ? args.length : Number(variadic[2]);
      args.slice(start, end).forEach((arg, position) => {
        out.push({
          ...arg,
          line: token.line,
          file: token.file,
          startsLine: position === 0 && token.startsLine,
          importChain,
        });
      });
      continue;
    }
    const text = token.text.replace(INDEXED_ARG, (placeholder, bracket?: string, dot?: string) => {
      const arg = args[Number(bracket ?? dot)];
      return arg === undefined ? placeholder : arg.text;
    });
    out.push({
      ...token,
      text,
      source: text === token.text ? token.source : null,
      importChain,
    });
  }
  const first = out[0];
  if (first !== undefined) first.startsLine = true;
  return out;
}
