import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from "jose";
import { tokenRejection } from "../sidecar/authorize.js";
import { type JwtKey, PUBLIC_KEY_ALGORITHMS } from "./config.js";
import { HubError, HubErrorCode } from "./errors.js";

/** Clock skew tolerated for `exp` and `nbf`. */
const CLOCK_TOLERANCE_S = 5;
/** Longest token read; a longer one is refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;

/** The `mercure` claim: selectors a token may publish to and receive private updates of. */
export interface MercureClaim {
  publish: string[] | undefined;
  subscribe: string[] | undefined;
  /** `mercure.payload`: shown in the subscriber's subscription events and API entries. */
  payload?: unknown;
}

/**
 * Verifies tokens with one key and its one algorithm (`alg: none` and every other algorithm
 * are refused; an HMAC token cannot pass for an RSA one), then reads the `mercure` claim.
 */
export class TokenVerifier {
  private readonly key: KeyObject | ReturnType<typeof createRemoteJWKSet>;
  private readonly algorithms: string[];

  constructor(
    config: JwtKey,
    private readonly realm: string,
  ) {
    if ("jwksUrl" in config) {
      // Fetched on first use, cached, and fetched again for a key id it does not know.
      this.key = createRemoteJWKSet(new URL(config.jwksUrl));
      this.algorithms = [...PUBLIC_KEY_ALGORITHMS];
    } else {
      this.key = config.alg.startsWith("HS")
        ? createSecretKey(Buffer.from(config.key))
        : createPublicKey(config.key);
      this.algorithms = [config.alg];
    }
  }

  async claim(token: string): Promise<MercureClaim> {
    if (token.length > MAX_TOKEN_LENGTH) throw this.refusal("the token is too long");
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as KeyObject, {
        algorithms: this.algorithms,
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (error) {
      if (!(error instanceof errors.JOSEError) || error instanceof errors.JWKSTimeout) {
        // Not the token's fault (the JWKS could not be fetched): a retryable refusal.
        throw new HubError(
          503,
          HubErrorCode.Unavailable,
          "tokens cannot be verified right now (the JWKS is not reachable); retry shortly",
          { "Retry-After": "5" },
        );
      }
      throw this.refusal(tokenRejection(error, "by this hub"));
    }
    const mercure = payload.mercure as
      | { publish?: unknown; subscribe?: unknown; payload?: unknown }
      | undefined;
    return {
      publish: stringsOf(mercure?.publish),
      subscribe: stringsOf(mercure?.subscribe),
      ...(mercure?.payload === undefined ? {} : { payload: mercure.payload }),
    };
  }

  refusal(reason: string): HubError {
    return new HubError(401, HubErrorCode.Unauthorized, reason, {
      "WWW-Authenticate": `Bearer realm="${this.realm}", error="invalid_token", error_description="${reason}"`,
    });
  }
}

function stringsOf(claim: unknown): string[] | undefined {
  if (!Array.isArray(claim)) return undefined;
  return claim.filter((item): item is string => typeof item === "string");
}
