/**
 * A mistake by the person running `nuts`: a bad flag, a file that does not exist, a config that
 * does not validate. It is printed as one readable sentence, never with a stack trace.
 */
export class UserError extends Error {
  override name = "UserError";
}

/** Errors whose message is written for the user; anything else is a bug and keeps its stack. */
export function isUserFacing(error: unknown): error is Error {
  return (
    error instanceof Error &&
    (error instanceof UserError || (error as { userFacing?: boolean }).userFacing === true)
  );
}

/** Wraps a commander action: user mistakes exit 1 with `nuts: <sentence>`. */
export function action<A extends unknown[]>(
  run: (...args: A) => Promise<void> | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args);
    } catch (error) {
      if (isUserFacing(error)) {
        process.stderr.write(`nuts: ${error.message}\n`);
        process.exit(1);
      }
      throw error;
    }
  };
}
