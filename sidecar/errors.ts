/** Error codes a client may see in a JSON body: `{"error": code, "message": sentence}`. */
export const ErrorCode = {
  InvalidTopic: "invalid_topic",
  MissingTopic: "missing_topic",
  TooManyTopics: "too_many_topics",
  InvalidLastId: "invalid_last_id",
  UnknownRoute: "unknown_route",
  NoRoute: "no_route",
  InvalidRouteHeader: "invalid_route_header",
  NatsUnavailable: "nats_unavailable",
  StreamNotFound: "stream_not_found",
  PublishDisabled: "publish_disabled",
  PayloadTooLarge: "payload_too_large",
  MethodNotAllowed: "method_not_allowed",
  Unauthorized: "unauthorized",
  ForbiddenTopic: "forbidden_topic",
  TooManyConnections: "too_many_connections",
  AuthUnavailable: "auth_unavailable",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A request the sidecar refuses; becomes `status` plus a small JSON body. */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 413 | 429 | 503,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** A refusal that may succeed later: the client should retry (EventSource does on its own). */
  get retryable(): boolean {
    return this.status === 429 || this.status === 503;
  }

  toJSON(): { error: ErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}
