/**
 * Snippets and `import`, resolved the way Caddy resolves them: tokens are spliced in place of
 * the `import` line. A snippet `(name) { ... }` is defined at the top level and must come
 * before it is imported; other patterns are files relative to the importing file's folder, with
 * `*` and `?` allowed in the file name. `{args[0]}` (and the older `{args.0}`) take the import's
 * arguments; a token that is exactly `{args[:]}`, `{args[1:]}` ... becomes several tokens (see
 * import-args.ts). An import may end in a block (Caddy 2.9+, see import-block.ts): `{block}` in
 * the imported tokens becomes the block's tokens, `{blocks.NAME}` those of its sub-block NAME.
 *
 * Which tokens share a line is decided as Caddy decides it, on the tokens as spliced (see
 * `onNewLine`): a block's tokens keep the lines they were written on, so `{block}` always stands
 * on lines of its own.
 */
import { readdir, readFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { type Env, expandEnv } from "./env.js";
import { CaddyfileError } from "./errors.js";
import { replaceArgs, variadicRange } from "./import-args.js";
import { type ImportBlock, readImportBlock } from "./import-block.js";
import { isWord, onNewLine, type Token, tokenize } from "./lexer.js";

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
const NAMED_ROUTE = /^&\(.+\)$/;

/** Import expansions in one file: snippets importing each other twice per level grow exponentially. */
const MAX_IMPORTS = 10_000;
/** Tokens after expansion: `{block}` used twice per level doubles a block at each level. */
const MAX_TOKENS = 200_000;

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
    // Like Caddy, decide line starts on the tokens as spliced, not as they were written.
    const token = withLineStart(
      pending[index] as Token,
      onNewLine(pending[index - 1], pending[index] as Token),
    );
    pending[index] = token;
    if (token.startsLine && token.text === "import") {
      if (++imports > MAX_IMPORTS) {
        throw new CaddyfileError(
          token.file,
          token.line,
          `imports expand more than ${MAX_IMPORTS} times; look for snippets that import each other repeatedly`,
        );
      }
      const directive = readImportDirective(pending, index);
      const imported = await resolveImport(directive, depth === 0, snippets, env, files);
      if (pending.length - (directive.end - index) + imported.length > MAX_TOKENS) {
        throw tooManyTokens(token);
      }
      replaceRange(pending, index, directive.end, imported);
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
    if (depth === 0 && token.startsLine && isNamedRoute(pending, index)) {
      // Caddy keeps a named route's tokens as written: an import inside one is not expanded
      // (and Caddy then refuses it), so it is passed through for Caddy to judge.
      const end = closingBrace(pending, index + 1);
      for (let inside = index; inside <= end; inside++) {
        out.push(
          withLineStart(
            pending[inside] as Token,
            onNewLine(pending[inside - 1], pending[inside] as Token),
          ),
        );
      }
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

/** `tokens.splice(start, end - start, ...replacement)` without spreading (which overflows the stack). */
function replaceRange(tokens: Token[], start: number, end: number, replacement: Token[]): void {
  const tail = tokens.splice(start);
  for (const token of replacement) tokens.push(token);
  for (let index = end - start; index < tail.length; index++) tokens.push(tail[index] as Token);
}

function withLineStart(token: Token, startsLine: boolean): Token {
  return token.startsLine === startsLine ? token : { ...token, startsLine };
}

/** An `import` line: `import <pattern> [args...] [{ block }]`. */
interface ImportDirective {
  /** The `import` token. */
  at: Token;
  pattern: Token | undefined;
  args: Token[];
  block: ImportBlock;
  /** The last token of the directive (Caddy names the import by its file and line). */
  last: Token;
  /** The index just past the directive. */
  end: number;
}

/** Reads the import at `tokens[start]` the way Caddy's doImport does (NextArg, then NextBlock). */
function readImportDirective(tokens: Token[], start: number): ImportDirective {
  const onSameLine = (index: number): boolean =>
    index < tokens.length && !onNewLine(tokens[index - 1], tokens[index] as Token);
  let index = start + 1;
  const words: Token[] = [];
  while (onSameLine(index) && !isWord(tokens[index], "{")) words.push(tokens[index++] as Token);
  const [pattern, ...args] = words;
  let block: ImportBlock = { tokens: [], named: new Map() };
  let end = index;
  if (pattern !== undefined && onSameLine(index)) {
    ({ block, end } = readImportBlock(tokens, index));
  }
  return { at: tokens[start] as Token, pattern, args, block, last: tokens[end - 1] as Token, end };
}

function isNamedRoute(tokens: Token[], index: number): boolean {
  return NAMED_ROUTE.test((tokens[index] as Token).text) && isWord(tokens[index + 1], "{");
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

/** The tokens an import stands for, placeholders filled in, ready to splice in its place. */
async function resolveImport(
  directive: ImportDirective,
  topLevel: boolean,
  snippets: Map<string, Token[]>,
  env: Env,
  files: FileSystem,
): Promise<Token[]> {
  const at = directive.at;
  const fail = (reason: string): never => {
    throw new CaddyfileError(at.file, at.line, reason);
  };
  const patternToken = directive.pattern;
  if (patternToken === undefined) {
    return fail("import needs a snippet name or a file path, e.g. import common");
  }
  const pattern = expandEnv(patternToken.text, env).text;
  if (pattern === "") fail("import needs a non-empty snippet name or file path");
  // Left as `{$VAR}`: Caddy expands them when it loads the output, so a secret passed to a
  // snippet never lands in the generated file (inside `nuts` blocks they are expanded for the
  // sidecar's config instead).
  const args = directive.args.map((arg) => arg.text);
  const site = `${directive.last.file}:${directive.last.caddyLine}`;

  const snippet = snippets.get(pattern);
  if (snippet !== undefined) {
    const label = `(${pattern})`;
    checkCycle(at, label, (entry) => entry === label);
    const chained = withImportChain(snippet, at, label);
    return fillPlaceholders(chained, directive, args, `${site} (import ${pattern})`, topLevel);
  }

  const path = isAbsolute(pattern) ? pattern : join(dirname(at.file), pattern);
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
    checkCycle(at, file, (entry) => resolve(entry) === resolve(file));
    const text = await files.readFile(file).catch((error: NodeJS.ErrnoException) => {
      return fail(`cannot read imported file ${file}: ${error.code ?? error.message}`);
    });
    for (const token of withImportChain(tokenize(text, file), at, file)) imported.push(token);
  }
  return fillPlaceholders(imported, directive, args, `${site} (import)`, topLevel);
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

/** Copies of `tokens` that record the import they came through, for finding cycles. */
function withImportChain(tokens: Token[], directive: Token, label: string): Token[] {
  const importChain = [...importChainOf(directive), label];
  return tokens.map((token) => ({ ...token, importChain }));
}

/**
 * The imported tokens as Caddy's doImport splices them: each records the import (`importedAt`);
 * `{block}` becomes the import block's tokens and `{blocks.NAME}` those of its sub-block NAME
 * (nothing when there is none); `{args[...]}` take the arguments. Inside a snippet defined in a
 * file imported at the top level, placeholders are left for that snippet's own imports.
 */
function fillPlaceholders(
  imported: Token[],
  directive: ImportDirective,
  args: string[],
  site: string,
  topLevel: boolean,
): Token[] {
  const out: Token[] = [];
  let nesting = topLevel ? 0 : 1;
  let inSnippet = false;
  let snippetNameAt = false;
  let position = 0;
  imported.forEach((original, index) => {
    const token: Token = { ...original, importedAt: [...original.importedAt, site] };
    if (!inSnippet && nesting === 0) {
      position = index === 0 || onNewLine(out[out.length - 1], token) ? 0 : position + 1;
      if (position === 0 && token.text.length >= 3 && SNIPPET_NAME.test(token.text)) {
        snippetNameAt = true;
      }
    }
    if (isWord(token, "{")) {
      nesting++;
      if (position === 1 && snippetNameAt && nesting === 1) {
        inSnippet = true;
        snippetNameAt = false;
      }
    } else if (isWord(token, "}")) {
      nesting--;
      if (nesting === 0 && inSnippet) inSnippet = false;
    }
    const block = blockPlaceholder(token.text, directive.block);
    if (inSnippet) {
      out.push(token);
    } else if (block !== undefined) {
      // Block tokens keep their own place (file, line, imports), as in Caddy.
      if (out.length + block.length > MAX_TOKENS) throw tooManyTokens(directive.at);
      for (const blockToken of block) out.push({ ...blockToken });
    } else {
      const range = variadicRange(token.text, args.length);
      if (range !== undefined) {
        for (const arg of args.slice(range.start, range.end)) {
          out.push({ ...token, text: arg, source: null });
        }
      } else {
        const text = replaceArgs(token.text, args);
        out.push(text === token.text ? token : { ...token, text, source: null });
      }
    }
  });
  return out;
}

function tooManyTokens(directive: Token): CaddyfileError {
  return new CaddyfileError(
    directive.file,
    directive.line,
    `imports expand to more than ${MAX_TOKENS} tokens; look for snippets that repeat {block} at every level`,
  );
}

/** What `{block}` or `{blocks.NAME}` stands for; undefined when the text is neither. */
function blockPlaceholder(text: string, block: ImportBlock): Token[] | undefined {
  if (text === "{block}") return block.tokens;
  if (text.startsWith("{blocks.") && text.endsWith("}")) {
    return block.named.get(text.slice("{blocks.".length, -1)) ?? [];
  }
  return undefined;
}
