/**
 * The state of one scenario: the NATS server it talks to, the `nuts run` it started, its
 * EventSource clients and the last plain HTTP response. Hooks (hooks.ts) clean all of it up.
 */
import { setDefaultTimeout, setWorldConstructor, World } from "@cucumber/cucumber";
import type { Browser, Page } from "playwright-core";
import { freePort } from "../../testing/processes.js";
import type { HttpResponse } from "./http.js";
import type { TestNats } from "./nats.js";
import { NetworkLink } from "./network.js";
import { NutsRun } from "./nuts-run.js";
import { SseClient } from "./sse-client.js";

/** A step waits for conditions with its own deadlines; this only stops a step that hangs. */
setDefaultTimeout(60_000);

export class NutsWorld extends World {
  /** The NATS server of this scenario: the feature's shared one unless a step replaced it. */
  natsServer: TestNats | undefined;
  /** Servers this scenario started for itself, stopped after it. */
  readonly ownNatsServers: TestNats[] = [];
  nutsRun: NutsRun | undefined;
  readonly clients = new Map<string, SseClient>();
  /** Plain HTTP responses, in the order the requests were sent. */
  readonly responses: HttpResponse[] = [];
  /** Stream sequences of the messages this scenario published, in order. */
  readonly published: { subject: string; payload: string; seq: number }[] = [];
  /** A relay in front of Caddy whose connections a step can drop. */
  networkLink: NetworkLink | undefined;
  browser: Browser | undefined;
  page: Page | undefined;

  get nats(): TestNats {
    if (!this.natsServer)
      throw new Error("no NATS server: the Before hook should have started one");
    return this.natsServer;
  }

  get stack(): NutsRun {
    if (!this.nutsRun)
      throw new Error('NUTS is not running: start it with a "nuts run serves" step');
    return this.nutsRun;
  }

  /**
   * Starts `nuts run` with a config. Its environment sets `PORT` (a free port the config's
   * site should listen on), the NATS placeholders and `extraEnv`; with `expandInText`, the
   * same `{$VAR}` placeholders are replaced in the text first (Caddy JSON has none of its own).
   */
  async startNuts(
    fileName: string,
    text: string,
    options: { extraEnv?: (port: number) => Record<string, string>; expandInText?: boolean } = {},
  ): Promise<void> {
    if (this.nutsRun) throw new Error("NUTS is already running in this scenario");
    const port = await freePort();
    const env: Record<string, string> = {
      PORT: String(port),
      ...this.nats.placeholders(),
      ...options.extraEnv?.(port),
    };
    const config = options.expandInText
      ? text.replace(/\{\$(\w+)\}/g, (placeholder, name: string) => env[name] ?? placeholder)
      : text;
    this.nutsRun = await NutsRun.start({ fileName, text: config, port, env });
  }

  url(path: string): string {
    return `${this.stack.baseUrl}${path}`;
  }

  openEventSource(name: string, path: string, headers: Record<string, string> = {}): SseClient {
    return this.addClient(name, new SseClient(this.url(path), headers));
  }

  /** An EventSource whose connections go through `networkLink`, so they can be dropped. */
  async openEventSourceOverLink(name: string, path: string): Promise<SseClient> {
    this.networkLink ??= await NetworkLink.open(Number(new URL(this.stack.baseUrl).port));
    return this.addClient(name, new SseClient(`http://127.0.0.1:${this.networkLink.port}${path}`));
  }

  private addClient(name: string, client: SseClient): SseClient {
    if (this.clients.has(name)) throw new Error(`there is already a client named ${name}`);
    this.clients.set(name, client);
    return client;
  }

  client(name: string): SseClient {
    const client = this.clients.get(name);
    if (!client) throw new Error(`no EventSource named ${name}`);
    return client;
  }

  /** The response to the last plain HTTP request. */
  response(): HttpResponse {
    const response = this.responses.at(-1);
    if (!response) throw new Error("no HTTP request has been sent yet");
    return response;
  }
}

setWorldConstructor(NutsWorld);
