/**
 * Waiting for conditions instead of sleeping: every step that expects something to happen
 * polls for it with a deadline and, on timeout, says what it was waiting for and what it saw.
 */

export const DEFAULT_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 20;

export class WaitTimeout extends Error {
  override name = "WaitTimeout";
}

/**
 * Calls `check` until it returns a value other than `undefined` or `false` and returns that
 * value. `check` may throw to mean "not yet"; the last error is reported on timeout.
 */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; describe?: () => string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const result = await check();
      if (result !== undefined && result !== false) return result;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(POLL_INTERVAL_MS);
  }
  const seen = options.describe ? `; saw ${options.describe()}` : "";
  const reason = lastError instanceof Error ? `; last error: ${lastError.message}` : "";
  throw new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${what}${seen}${reason}`, {
    cause: lastError,
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
