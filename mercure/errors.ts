/** Error codes of the Mercure endpoints: `{"error": code, "message": sentence}`. */
export const HubErrorCode = {
  MissingTopic: "missing_topic",
  InvalidTopic: "invalid_topic",
  InvalidSelector: "invalid_selector",
  TooManySelectors: "too_many_selectors",
  InvalidId: "invalid_id",
  IdInUse: "id_in_use",
  InvalidType: "invalid_type",
  InvalidRetry: "invalid_retry",
  InvalidData: "invalid_data",
  UnsupportedMatcher: "unsupported_matcher",
  TooLarge: "too_large",
  Unauthorized: "unauthorized",
  Forbidden: "forbidden",
  ForbiddenOrigin: "forbidden_origin",
  NotFound: "not_found",
  MethodNotAllowed: "method_not_allowed",
  Unavailable: "unavailable",
} as const;
export type HubErrorCode = (typeof HubErrorCode)[keyof typeof HubErrorCode];

/** A request the hub refuses: a status and a small JSON body. */
export class HubError extends Error {
  override name = "HubError";
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 503,
    readonly code: HubErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toJSON(): { error: HubErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}
