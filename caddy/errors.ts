/**
 * Mistakes in the configuration given to the adapter. Each is written for the person who wrote
 * the file: where the mistake is and how to fix it. `userFacing` tells the CLI to print the
 * message alone, without a stack trace.
 */
export class AdaptError extends Error {
  override name = "AdaptError";
  readonly userFacing = true;
}

/** A mistake at a line of a Caddyfile: `Caddyfile:12: <what is wrong and how to fix it>`. */
export class CaddyfileError extends AdaptError {
  override name = "CaddyfileError";
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${file}:${line}: ${reason}`, options);
  }
}

/** A mistake at a place in a Caddy JSON config: `caddy.json: apps.http...handle[0]: <reason>`. */
export class CaddyJsonError extends AdaptError {
  override name = "CaddyJsonError";
  constructor(
    readonly file: string,
    readonly location: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(location === "" ? `${file}: ${reason}` : `${file}: ${location}: ${reason}`, options);
  }
}
