/**
 * `nuts pub SUBJECT DATA`: publish through JetStream and print where each message was stored,
 * so a stream's sequence numbers (the SSE event ids) can be seen without the NATS CLI.
 */
import { buffer } from "node:stream/consumers";
import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, RequestError } from "@nats-io/transport-node";
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
}

export function registerPub(program: Command): void {
  const pub = program
    .command("pub")
    .description("publish a message to a JetStream stream")
    .argument("<subject>", "subject to publish to, like events.orders")
    .argument("<data>", "message body, or - to read it from stdin")
    .option("--count <n>", "publish the message this many times", "1");
  addConnectionOptions(pub).action(
    action(async (subject: string, data: string, flags: PubFlags) => {
      const count = parseCount(flags.count);
      const payload = data === "-" ? await buffer(process.stdin) : data;
      await withNats(flags, async (nc) => {
        // Fails with a clear sentence when JetStream is off, so a later "no responders"
        // can only mean that no stream captures the subject.
        await openJetStreamManager(nc, flags);
        for (let published = 0; published < count; published++) {
          process.stdout.write(`${await publish(nc, subject, payload)}\n`);
        }
      });
    }),
  );
}

/** Publishes one message; returns `published to SUBJECT: stream NAME seq N`. */
async function publish(
  nc: NatsConnection,
  subject: string,
  payload: string | Uint8Array,
): Promise<string> {
  try {
    const ack = await jetstream(nc).publish(subject, payload);
    return `published to ${subject}: stream ${ack.stream} seq ${ack.seq}`;
  } catch (error) {
    if (noResponders(error)) {
      throw new UserError(
        `no stream captures subject ${JSON.stringify(subject)}; create one with \`nuts stream add NAME --subjects '${suggestedWildcard(subject)}'\``,
        { cause: error },
      );
    }
    throw error;
  }
}

function noResponders(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof RequestError && cause.isNoResponders()) return true;
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
