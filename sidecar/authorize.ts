import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from "jose";
import { ConfigError, type RouteConfig, type SubscriberAuth } from "./config.js";
import { ErrorCode, RequestError } from "./errors.js";
import { covers } from "./topic-filter.js";
import { checkTopic } from "./topics.js";

/** Where a request may carry its token, as the subscribe handler reads them. */
export interface TokenCarriers {
  authorization: string | undefined;
  cookie: string | undefined;
  query: string | undefined;
}

type Key = Uint8Array | KeyObject | ReturnType<typeof createRemoteJWKSet>;

const HMAC = ["HS256", "HS384", "HS512"];
const ASYMMETRIC = ["RS256", "ES256", "EdDSA"];
/** Clock skew tolerated for `exp` and `nbf`. */
const CLOCK_TOLERANCE_S = 5;

/**
 * Verifies subscriber JWTs for one route and decides which topics they may read. The token's
 * `subscribe` claim (or Mercure's `mercure.subscribe`, so existing Mercure backends can issue
 * tokens unchanged) lists topics or NATS-style patterns; Mercure's `*` means every topic.
 * Only the algorithms of the configured key are accepted: never `none`, never HMAC with a
 * public key.
 */
export class SubscriberAuthorizer {
  private constructor(
    private readonly auth: SubscriberAuth,
    private readonly key: Key,
    private readonly algorithms: string[],
  ) {}

  /** Loads the route's key once, at start. Throws ConfigError for an unreadable key file. */
  static forRoute(route: RouteConfig): SubscriberAuthorizer | null {
    const auth = route.subscriberAuth;
    if (!auth) return null;
    const { key } = auth;
    switch (key.type) {
      case "hmac":
        return new SubscriberAuthorizer(auth, new TextEncoder().encode(key.secret), HMAC);
      case "jwks":
        return new SubscriberAuthorizer(auth, createRemoteJWKSet(new URL(key.url)), ASYMMETRIC);
      case "public_key": {
        const publicKey = readPublicKey(route.name, key.file);
        return new SubscriberAuthorizer(auth, publicKey, [algorithmOf(route.name, publicKey)]);
      }
    }
  }

  /** The token a request carries: the Authorization header, then the cookie, then the query. */
  tokenFrom(carriers: TokenCarriers): string | undefined {
    const header = carriers.authorization;
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      return match?.[1] ?? "";
    }
    if (carriers.cookie !== undefined && carriers.cookie !== "") return carriers.cookie;
    if (this.auth.allowQuery && carriers.query !== undefined) return carriers.query;
    return undefined;
  }

  /**
   * Resolves when the token is valid and covers every topic; otherwise throws a 401 (no or bad
   * token, with WWW-Authenticate) or a 403 (a topic the token does not cover).
   */
  async authorize(token: string | undefined, topics: readonly string[]): Promise<void> {
    if (token === undefined) {
      throw new RequestError(401, ErrorCode.Unauthorized, this.missingMessage(), {
        "WWW-Authenticate": 'Bearer realm="nuts"',
      });
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as Uint8Array, {
        algorithms: this.algorithms,
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (error) {
      if (!(error instanceof errors.JOSEError) || error instanceof errors.JWKSTimeout) {
        // Not the token's fault (the JWKS could not be fetched): a retryable refusal.
        throw new RequestError(
          503,
          ErrorCode.AuthUnavailable,
          "tokens cannot be verified right now; retry shortly",
          {
            "Retry-After": "5",
          },
        );
      }
      const reason = tokenRejection(error);
      throw new RequestError(401, ErrorCode.Unauthorized, reason, {
        "WWW-Authenticate": `Bearer realm="nuts", error="invalid_token", error_description="${reason}"`,
      });
    }
    const grants = grantsOf(payload);
    for (const topic of topics) {
      if (!grants.some((grant) => covers(grant, topic))) {
        throw new RequestError(
          403,
          ErrorCode.ForbiddenTopic,
          `the token does not allow topic ${JSON.stringify(topic)}`,
        );
      }
    }
  }

  private missingMessage(): string {
    const ways = ["an Authorization: Bearer header", `the ${this.auth.cookie} cookie`];
    if (this.auth.allowQuery) ways.push("the authorization query parameter");
    return `this route needs a subscriber token: send it in ${ways.join(", or ")}`;
  }
}

/** Topic patterns a token grants: `subscribe`, or Mercure's `mercure.subscribe`. */
function grantsOf(payload: JWTPayload): string[] {
  const mercure = payload.mercure as { subscribe?: unknown } | undefined;
  const listed = [
    ...stringsOf(payload.subscribe),
    // In Mercure's claim `*` means every topic; in ours it is the one-token pattern.
    ...stringsOf(mercure?.subscribe).map((grant) => (grant === "*" ? ">" : grant)),
  ];
  return listed.flatMap((grant) => {
    try {
      return [checkTopic(grant, true)];
    } catch {
      return []; // a grant that is no topic pattern (say, a Mercure URL) grants nothing here
    }
  });
}

function stringsOf(claim: unknown): string[] {
  return Array.isArray(claim)
    ? claim.filter((item): item is string => typeof item === "string")
    : [];
}

/**
 * Why jose refused a token, as a sentence for the client; `where` names what refused it ("on
 * this route", "by this hub"). Shared by the NUTS routes and the Mercure hub.
 */
export function tokenRejection(error: unknown, where = "on this route"): string {
  if (error instanceof errors.JWTExpired) return "the token has expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.claim === "nbf"
      ? "the token is not valid yet"
      : `the token's ${error.claim} claim is invalid`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return `the token's algorithm is not accepted ${where}`;
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return "the token's signature does not verify";
  if (error instanceof errors.JWKSNoMatchingKey) return "no key of the JWKS matches the token";
  return "the token is malformed";
}

function readPublicKey(route: string, file: string): KeyObject {
  try {
    return createPublicKey(readFileSync(file));
  } catch (error) {
    throw new ConfigError(
      `route "${route}": subscriber_jwt_public_key ${file} is not a readable PEM public key (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      route,
      "subscriber_jwt_public_key",
    );
  }
}

function algorithmOf(route: string, key: KeyObject): string {
  const type = key.asymmetricKeyType;
  if (type === "rsa") return "RS256";
  if (type === "ed25519") return "EdDSA";
  if (type === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  throw new ConfigError(
    `route "${route}": subscriber_jwt_public_key must be an RSA, P-256 or Ed25519 key, got ${type}`,
    route,
    "subscriber_jwt_public_key",
  );
}
