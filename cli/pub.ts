/**
 * `nuts pub SUBJECT DATA`: publish through JetStream and print where each message was stored,
 * so a stream's sequence numbers (the SSE event ids) can be seen without the NATS CLI.
 */
import { buffer } from "node:stream/consumers";
import { type JetStreamManager, jetstream } from "@nats-io/jetstream";
import { type NatsConnection, nuid, RequestError, TimeoutError } from "@nats-io/transport-node";
import type { Command } from "commander";
import { action, UserError } from "./errors.js";
import {
  addConnectionOptions,
  type ConnectionFlags,
  openJetStreamManager,
  withNats,
} from "./nats-connect.js";

interface PubFlags extends ConnectionFlags {
  /** @default "1" */
  count: string;
  /** Seconds. @default "10" */
  timeout: string;
}

export function registerPub(program: Command): void {
  const pub = program
    .command("pub")
    .description("publish a message to a JetStream stream")
    .argument("<subject>", "subject to publish to, like events.orders")
    .argument("<data>", "message body, or - to read it from stdin")
    .option("--count <n>", "publish the message this many times", "1")
    .option(
      "--timeout <seconds>",
      "how long to keep trying while JetStream does not answer (a leader election)",
      "10",
    );
  addConnectionOptions(pub).action(
    action(async (subject: string, data: string, flags: PubFlags) => {
      const count = parseCount(flags.count);
      const timeoutMs = parseTimeout(flags.timeout);
      const payload = data === "-" ? await buffer(process.stdin) : data;
      await withNats(flags, async (nc) => {
        // Fails with a clear sentence when JetStream is off, so a later "no responders"
        // means that no stream captures the subject, or that its stream has no leader now.
        const jsm = await openJetStreamManager(nc, flags);
        for (let published = 0; published < count; published++) {
          process.stdout.write(`${await publish(nc, jsm, subject, payload, timeoutMs)}\n`);
        }
      });
    }),
  );
}

/** One attempt's wait for the stream's answer. */
const ATTEMPT_TIMEOUT_MS = 2_000;
const RETRY_WAIT_MS = 250;

/**
 * Publishes one message; returns `published to SUBJECT: stream NAME seq N`. While a stream
 * elects a leader (after a NATS node failure) nobody answers for a few seconds: the message is
 * sent again, with the same message id, so JetStream stores it once however many tries it takes.
 */
async function publish(
  nc: NatsConnection,
  jsm: JetStreamManager,
  subject: string,
  payload: string | Uint8Array,
  timeoutMs: number,
): Promise<string> {
  const msgID = nuid.next();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const ack = await jetstream(nc).publish(subject, payload, {
        msgID,
        timeout: Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now())),
      });
      return `published to ${subject}: stream ${ack.stream} seq ${ack.seq}`;
    } catch (error) {
      const unanswered = noResponders(error)
        ? "no_responders"
        : isTimeout(error)
          ? "timeout"
          : null;
      if (unanswered === null) throw error;
      if (unanswered === "no_responders" && (await streamFor(jsm, subject)) === null) {
        throw new UserError(
          `no stream captures subject ${JSON.stringify(subject)}; create one with \`nuts stream add NAME --subjects '${suggestedWildcard(subject)}'\``,
          { cause: error },
        );
      }
      if (Date.now() + RETRY_WAIT_MS >= deadline) {
        throw new UserError(
          `JetStream did not answer within ${timeoutMs / 1000} s: its stream may be electing a leader after a NATS node failure; retrying is safe (or give more time with --timeout)`,
          { cause: error },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_WAIT_MS));
    }
  }
}

/**
 * The stream that captures `subject`, null when none does, or undefined when JetStream did not
 * say (its meta leader may be in an election too).
 */
async function streamFor(
  jsm: JetStreamManager,
  subject: string,
): Promise<string | null | undefined> {
  try {
    return await jsm.streams.find(subject);
  } catch (error) {
    return error instanceof Error && /no stream matches subject/i.test(error.message)
      ? null
      : undefined;
  }
}

function noResponders(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof RequestError && cause.isNoResponders()) return true;
  }
  return false;
}

function isTimeout(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof TimeoutError) return true;
  }
  return false;
}

/** `x.y` → `x.>`: the usual shape of a stream's subjects; a one-token subject stays as it is. */
function suggestedWildcard(subject: string): string {
  const firstToken = subject.split(".")[0];
  return subject.includes(".") ? `${firstToken}.>` : subject;
}

function parseCount(value: string): number {
  const count = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new UserError(`--count takes a positive whole number, got ${JSON.stringify(value)}`);
  }
  return count;
}

function parseTimeout(value: string): number {
  const seconds = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new UserError(
      `--timeout takes seconds, more than 0 and at most 3600, got ${JSON.stringify(value)}`,
    );
  }
  return seconds * 1000;
}
