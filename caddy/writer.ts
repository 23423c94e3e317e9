/**
 * Writes parsed Caddyfile blocks back as text, one directive per line, indented with tabs.
 * Tokens that were not changed are written exactly as they were in the source (quotes, escapes,
 * heredocs, `{$VAR}` placeholders included), so Caddy reads them as it would have read the
 * original; changed or new tokens are quoted as their text needs.
 */
import type { Token } from "./lexer.js";
import type { Directive, ServerBlock } from "./parser.js";

export function writeCaddyfile(blocks: ServerBlock[], header: string): string {
  const parts = blocks.map((block) => {
    const keys = block.keys.map(writeToken).join(", ");
    return `${keys === "" ? "{" : `${keys} {`}\n${writeDirectives(block.body, 1)}}\n`;
  });
  return `${header}\n${parts.join("\n")}`;
}

function writeDirectives(directives: Directive[], depth: number): string {
  const indent = "\t".repeat(depth);
  let text = "";
  for (const directive of directives) {
    const line = directive.tokens.map(writeToken).join(" ");
    if (directive.block === undefined) {
      text += `${indent}${line}\n`;
    } else {
      text += `${indent}${line} {\n${writeDirectives(directive.block, depth + 1)}${indent}}\n`;
    }
  }
  return text;
}

export function writeToken(token: Token): string {
  return token.source ?? quoteText(token.text);
}

/** The text as a Caddyfile token: bare when it can be, else in the quoting its content allows. */
export function quoteText(text: string): string {
  const bare = text !== "" && !/[\s"`#]|^[{}]$|^<<|\\/.test(text) && !text.startsWith("\\");
  if (bare) return text;
  if (!text.includes("\\")) return `"${text.replaceAll('"', '\\"')}"`;
  if (!text.includes("`")) return `\`${text}\``;
  return `"${text.replaceAll('"', '\\"')}"`;
}
