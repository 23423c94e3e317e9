/**
 * The guard in front of each proxy to the sidecar: a request whose URI is over
 * `MAX_URI_BYTES` gets a 414 with a JSON body from Caddy itself.
 *
 * Caddy reaches the sidecar over h2c, where a request head may not exceed 64 KiB (the sidecar
 * announces it: past that, its HTTP/2 library would end the whole connection and every stream on
 * it). Go's client refuses such a request on its own, but Caddy would then retry it for
 * `lb_try_duration` and answer 502; the guard answers at once, and says why. The URI is what a
 * client makes long; the other 32 KiB are left for its headers.
 */
import type { Token } from "./lexer.js";
import type { Directive } from "./parser.js";

export const MAX_URI_BYTES = 32 * 1024;

/** The Host the sidecar is asked with (HTTP/2 needs one; an HTTP/1.0 client may send none). */
export const SIDECAR_HOST = "nuts-sidecar";

export const OVERSIZED_EXPRESSION = `size({http.request.uri}) > ${MAX_URI_BYTES}`;

export const OVERSIZED_BODY = JSON.stringify({
  error: "uri_too_long",
  message: `the request URI is over ${MAX_URI_BYTES / 1024} KiB; ask for fewer or shorter topics`,
});

/**
 * The guard's directives, for a proxy matched by `matcher` (a path token, or none): a named
 * matcher `@name` (with the same path, if any), the JSON content type, and the 414.
 */
export function guardDirectives(
  name: string,
  matcher: Token | undefined,
  word: (text: string) => Token,
): Directive[] {
  const line = (...texts: string[]): Directive => ({
    tokens: texts.map((text, index) => ({ ...word(text), startsLine: index === 0 })),
    block: undefined,
  });
  const at = `@${name}`;
  const definition: Directive =
    matcher === undefined
      ? line(at, "expression", OVERSIZED_EXPRESSION)
      : {
          tokens: [{ ...word(at), startsLine: true }],
          block: [line("path", matcher.text), line("expression", OVERSIZED_EXPRESSION)],
        };
  return [
    definition,
    line("header", at, "Content-Type", "application/json"),
    line("respond", at, OVERSIZED_BODY, "414"),
  ];
}

/** The same guard in Caddy's JSON: a route to put before the proxy in a subroute. */
export function guardRoute(): Record<string, unknown> {
  return {
    match: [{ expression: OVERSIZED_EXPRESSION }],
    handle: [
      { handler: "headers", response: { set: { "Content-Type": ["application/json"] } } },
      { handler: "static_response", status_code: 414, body: OVERSIZED_BODY },
    ],
    terminal: true,
  };
}
