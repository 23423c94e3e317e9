/**
 * A Mercure update and how it is kept in JetStream. One update is one stream message:
 *
 * - subject `<subject_prefix>id.<sha256 of the id, base64url>`: one subject per id, so any node
 *   finds the update of an id (a Last-Event-ID) with one direct lookup by subject, after
 *   restarts too;
 * - body: the update's `data`, as UTF-8;
 * - headers: `Mercure-Id`, `Mercure-Topic` (once per topic, in order), `Mercure-Type`,
 *   `Mercure-Retry`, `Mercure-Private: 1`. Values are percent-encoded outside printable ASCII
 *   (and `%` itself), since NATS header values are one line of text.
 */
import { createHash, randomUUID } from "node:crypto";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";

export interface Update {
  id: string;
  topics: string[];
  data: string;
  private: boolean;
  type?: string;
  retry?: number;
}

export const Header = {
  Id: "Mercure-Id",
  Topic: "Mercure-Topic",
  Type: "Mercure-Type",
  Retry: "Mercure-Retry",
  Private: "Mercure-Private",
} as const;

/** A new id, as Mercure's hub makes them. */
export function generateId(): string {
  return `urn:uuid:${randomUUID()}`;
}

/** The subject an update with this id is stored under. */
export function idSubject(subjectPrefix: string, id: string): string {
  return `${subjectPrefix}id.${createHash("sha256").update(id).digest("base64url")}`;
}

export function updateHeaders(update: Update): MsgHdrs {
  const headers = natsHeaders();
  headers.set(Header.Id, encodeHeader(update.id));
  for (const topic of update.topics) headers.append(Header.Topic, encodeHeader(topic));
  if (update.type !== undefined) headers.set(Header.Type, encodeHeader(update.type));
  if (update.retry !== undefined) headers.set(Header.Retry, String(update.retry));
  if (update.private) headers.set(Header.Private, "1");
  return headers;
}

/** What a subscriber's filter needs to know about a stored update. */
export interface UpdateMeta {
  id: string;
  topics: string[];
  private: boolean;
}

/** The update a stream message holds, or undefined when it was not written as one. */
export function updateOf(headers: MsgHdrs | undefined, data: Uint8Array): Update | undefined {
  const id = headers?.get(Header.Id);
  const topics = headers?.values(Header.Topic) ?? [];
  if (headers === undefined || !id || topics.length === 0) return undefined;
  try {
    const type = headers.get(Header.Type);
    const retry = headers.get(Header.Retry);
    return {
      id: decodeHeader(id),
      topics: topics.map(decodeHeader),
      data: decoder.decode(data),
      private: headers.has(Header.Private),
      ...(type ? { type: decodeHeader(type) } : {}),
      ...(/^\d+$/.test(retry) ? { retry: Number(retry) } : {}),
    };
  } catch {
    return undefined; // a header that does not decode: not written by a hub
  }
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Percent-encodes `%` and everything outside printable ASCII. */
export function encodeHeader(text: string): string {
  return text.replace(/[^\x20-\x24\x26-\x7e]/gu, (char) => encodeURIComponent(char));
}

export function decodeHeader(text: string): string {
  return decodeURIComponent(text);
}
