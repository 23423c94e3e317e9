/** Where a request carries its token, and which one wins. */
export type TokenSource =
  | { type: "none" }
  | { type: "header"; token: string }
  | { type: "cookie"; token: string }
  | { type: "query"; token: string };

/**
 * `Authorization: Bearer` first, then the cookie, then the `authorization` query parameter, as
 * Mercure's hub reads them. A malformed Authorization header counts as a bad token, not as none.
 */
export function tokenOf(
  authorization: string | undefined,
  cookie: string | undefined,
  query: string | undefined,
): TokenSource {
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return { type: "header", token: match?.[1] ?? "" };
  }
  if (cookie !== undefined && cookie !== "") return { type: "cookie", token: cookie };
  if (query !== undefined && query !== "") return { type: "query", token: query };
  return { type: "none" };
}
