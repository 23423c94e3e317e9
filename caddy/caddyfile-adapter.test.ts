import { describe, expect, it } from "vitest";
import { adaptCaddyfile } from "./caddyfile-adapter.js";
import { CaddyfileError } from "./errors.js";
import { memoryFiles } from "./testing/memory-files.js";

const listen = "unix:/run/nuts/nuts.sock";

/** A site with one nuts block (the `nuts` keyword on line 3) holding `lines`. */
function site(...lines: string[]): string {
  return `:8080 {\n\troute /events* {\n\t\tnuts {\n${lines.map((line) => `\t\t\t${line}\n`).join("")}\t\t}\n\t}\n}\n`;
}

async function adaptError(
  text: string,
  files: Record<string, string> = {},
): Promise<CaddyfileError> {
  try {
    await adaptCaddyfile(text, "Caddyfile", { listen, env: {} }, memoryFiles(files));
  } catch (error) {
    expect(error).toBeInstanceOf(CaddyfileError);
    return error as CaddyfileError;
  }
  throw new Error("expected a CaddyfileError");
}

async function message(text: string, files: Record<string, string> = {}): Promise<string> {
  return (await adaptError(text, files)).message;
}

describe("adaptCaddyfile errors", () => {
  it("are user-facing, with a name and no need for a stack", async () => {
    const error = await adaptError(site("stream_nam EVENTS"));
    expect(error.name).toBe("CaddyfileError");
    expect(error.userFacing).toBe(true);
    expect(error.file).toBe("Caddyfile");
    expect(error.line).toBe(4);
  });

  it("suggest the nearest option for an unknown sub-directive", async () => {
    expect(await message(site("stream_name EVENTS", "heartbeat_intervall 5s"))).toBe(
      'Caddyfile:5: unknown nuts option "heartbeat_intervall"; did you mean "heartbeat_interval"?',
    );
  });

  it("name the nuts line when stream_name is missing", async () => {
    expect(await message(site("topic_prefix events."))).toBe(
      'Caddyfile:3: route "events": stream_name is required: name the JetStream stream, e.g. "EVENTS"',
    );
  });

  it("name the line of the auth option at fault when two auth modes are set", async () => {
    expect(
      await message(
        site("stream_name EVENTS", "nats_user bob", "nats_password pw", "nats_token abc"),
      ),
    ).toBe(
      'Caddyfile:7: route "events": choose one NATS auth mode, not nats_token and nats_user/nats_password',
    );
  });

  it("map other cross-field checks back to their line", async () => {
    expect(await message(site("stream_name EVENTS", "topic_prefix events"))).toBe(
      'Caddyfile:5: route "events": topic_prefix "events" must be empty or NATS tokens ending in a dot, e.g. "events."',
    );
    expect(await message(site("stream_name EVENTS", "max_topics 0"))).toBe(
      'Caddyfile:5: route "events": max_topics takes a whole number from 1 to 1024, got 0',
    );
  });

  it("reject values that are not numbers or durations", async () => {
    expect(await message(site("stream_name EVENTS", "heartbeat_interval ten"))).toBe(
      'Caddyfile:5: heartbeat_interval takes a duration like 30, 0.5, 500ms, 30s or 5m, got "ten"',
    );
    expect(await message(site("stream_name EVENTS", "ring_size lots"))).toBe(
      'Caddyfile:5: ring_size takes a whole number, got "lots"',
    );
    expect(await message(site("stream_name EVENTS", "publish maybe"))).toBe(
      'Caddyfile:5: publish takes on or off (or nothing, meaning on), got "maybe"',
    );
  });

  it("reject a wrong number of arguments", async () => {
    expect(await message(site("stream_name EVENTS MORE"))).toBe(
      'Caddyfile:4: stream_name takes one value, got 2; write "stream_name EVENTS"',
    );
    expect(await message(site("stream_name EVENTS", "allowed_origins"))).toBe(
      'Caddyfile:5: allowed_origins needs one or more origins; write "allowed_origins https://example.com https://www.example.com"',
    );
    expect(await message(":8080 {\n\tnuts /a* /b* {\n\t\tstream_name E\n\t}\n}\n")).toBe(
      "Caddyfile:2: nuts takes no arguments other than an optional matcher (like /events* or @events); put its options inside the block",
    );
  });

  it("reject an option set twice", async () => {
    expect(await message(site("stream_name A", "stream_name B"))).toBe(
      "Caddyfile:5: stream_name is set twice (also on line 4); keep one",
    );
  });

  it("reject nuts outside a site block", async () => {
    expect(await message("{\n\tadmin off\n}\n\nnuts {\n\tstream_name EVENTS\n}\n")).toBe(
      "Caddyfile:5: nuts must be inside a site block, e.g. :8080 { route /events* { nuts { stream_name EVENTS } } }",
    );
  });

  it("name an unset environment variable used in a nuts block", async () => {
    expect(await message(site("stream_name EVENTS", "nats_token {$NATS_TOKEN}"))).toBe(
      "Caddyfile:5: nats_token uses {$NATS_TOKEN}, which is not set; set the environment variable or give a default like {$NATS_TOKEN:value}",
    );
  });

  it("ask for path_prefix when the matcher gives no single prefix", async () => {
    const text =
      ":8080 {\n\t@two path /a/* /b/*\n\thandle @two {\n\t\tnuts {\n\t\t\tstream_name E\n\t\t}\n\t}\n}\n";
    expect(await message(text)).toBe(
      'Caddyfile:4: cannot tell which path this nuts block is mounted at: matcher @two: it matches several paths (/a/* /b/*); add "path_prefix /events" (the path before the topic) to the block',
    );
  });

  it("name the imported file and its line for mistakes in imported nuts blocks", async () => {
    const files = {
      "conf/events.caddy":
        "route /events* {\n\tnuts {\n\t\tstream_name EVENTS\n\t\tretry soon\n\t}\n}\n",
    };
    expect(await message(":8080 {\n\timport conf/events.caddy\n}\n", files)).toBe(
      'conf/events.caddy:4: retry takes a whole number, got "soon"',
    );
  });

  it("name the user's file and line for mistakes inside an import block", async () => {
    const snippets =
      "(feed) {\n\troute /events* {\n\t\tnuts {\n\t\t\tstream_name EVENTS\n\t\t\t{blocks.nuts}\n\t\t}\n\t}\n}\n";
    const text = `${snippets}:8080 {\n\timport feed {\n\t\tnuts {\n\t\t\tretry soon\n\t\t}\n\t}\n}\n`;
    expect(await message(text)).toBe('Caddyfile:12: retry takes a whole number, got "soon"');
    const files = { "conf/feed.caddy": snippets.replace(/^\(feed\) \{\n|\}\n$/g, "") };
    const viaFile =
      ":8080 {\n\timport conf/feed.caddy {\n\t\tnuts {\n\t\t\tretry soon\n\t\t}\n\t}\n}\n";
    expect(await message(viaFile, files)).toBe(
      'Caddyfile:4: retry takes a whole number, got "soon"',
    );
    expect(await message(`${snippets}:8080 {\n\timport feed {\n\t\tnuts {\n\t\t\t{\n`)).toBe(
      "Caddyfile:10: the block of this import is never closed; add a matching }",
    );
  });

  it("name file and line for syntax errors", async () => {
    expect(await message(":8080 {\n\troute /events* {\n")).toBe(
      "Caddyfile:2: this { is never closed; add a matching }",
    );
    expect(await message(':8080 {\n\trespond "hi\n}\n')).toBe(
      'Caddyfile:2: this quoted string is never closed; end it with "',
    );
    expect(await message(":8080 {\n\trespond <<EOF\n\thi\n}\n")).toBe(
      "Caddyfile:2: heredoc <<EOF is never closed; end it with a line EOF",
    );
    expect(await message(":8080 {\n\timport nosuch\n}\n")).toBe(
      'Caddyfile:2: unknown snippet "nosuch": define it with (nosuch) { ... } before this import',
    );
    expect(await message(":8080 {\n\timport conf/nosuch.caddy\n}\n")).toBe(
      "Caddyfile:2: import file not found: conf/nosuch.caddy",
    );
  });

  it("reject unknown or malformed global nuts options", async () => {
    expect(await message("{\n\tnuts {\n\t\tlisten 127.0.0.1:9000\n\t}\n}\n:8080 {\n}\n")).toBe(
      'Caddyfile:3: unknown global nuts option "listen"; the only one is sidecar_listen (per-route options go in a site\'s nuts block)',
    );
    expect(await message("{\n\tnuts {\n\t\tsidecar_listen nowhere\n\t}\n}\n:8080 {\n}\n")).toBe(
      'Caddyfile:3: sidecar_listen "nowhere" is not an address like unix:/run/nuts/nuts.sock or 127.0.0.1:9000',
    );
  });
});

describe("adaptCaddyfile output", () => {
  const secrets = site("stream_name EVENTS", "nats_user alice", "nats_password {$NATS_PASSWORD}");

  it("keeps secrets out of the Caddy config and puts them in the sidecar options", async () => {
    const env = { NATS_PASSWORD: "hunter2-password" };
    const adapted = await adaptCaddyfile(secrets, "Caddyfile", { listen, env });
    const caddy = adapted.caddy.format === "caddyfile" ? adapted.caddy.text : "";
    expect(caddy).not.toContain("hunter2");
    expect(caddy).not.toContain("NATS_PASSWORD");
    expect(caddy).not.toContain("alice");
    expect(adapted.sidecar.routes.events?.nats_password).toBe("hunter2-password");
  });

  it("leaves an environment variable passed to a snippet for Caddy to expand, and expands it in a nuts block", async () => {
    const text = [
      "(auth) {",
      "\theader X-Upstream-Token {args[0]}",
      "}",
      "(events) {",
      "\tnuts {",
      "\t\tstream_name EVENTS",
      "\t\tnats_token {args[0]}",
      "\t}",
      "}",
      ":8080 {",
      "\timport auth {$UPSTREAM_TOKEN}",
      "\troute /events* {",
      "\t\timport events {$NATS_TOKEN}",
      "\t}",
      "}",
      "",
    ].join("\n");
    const env = { UPSTREAM_TOKEN: "upstream-SECRET-1", NATS_TOKEN: "nats-SECRET-2" };
    const adapted = await adaptCaddyfile(text, "Caddyfile", { listen, env });
    const caddy = adapted.caddy.format === "caddyfile" ? adapted.caddy.text : "";
    expect(caddy).not.toMatch(/SECRET/);
    expect(caddy).toContain("header X-Upstream-Token {$UPSTREAM_TOKEN}");
    expect(adapted.sidecar.routes?.events?.nats_token).toBe("nats-SECRET-2");
  });

  it("keeps token and credentials secrets out too", async () => {
    for (const option of ["nats_token tok-SECRET-1", "nats_credentials /secret/SECRET-2.creds"]) {
      const adapted = await adaptCaddyfile(site("stream_name EVENTS", option), "Caddyfile", {
        listen,
        env: {},
      });
      const caddy = adapted.caddy.format === "caddyfile" ? adapted.caddy.text : "";
      expect(caddy).not.toMatch(/SECRET/);
      expect(JSON.stringify(adapted.sidecar)).toMatch(/SECRET/);
    }
  });

  it("reports the routes and the listen address for `nuts run`", async () => {
    const adapted = await adaptCaddyfile(
      site("stream_name EVENTS", "topic_prefix ev."),
      "conf/Caddyfile",
      { listen, env: {} },
    );
    expect(adapted.listen).toBe(listen);
    expect(adapted.routes).toEqual([
      {
        name: "events",
        pathPrefix: "/events",
        streamName: "EVENTS",
        topicPrefix: "ev.",
        file: "conf/Caddyfile",
        line: 3,
      },
    ]);
  });

  it("dials loopback TCP when the sidecar listens there", async () => {
    const adapted = await adaptCaddyfile(site("stream_name EVENTS"), "Caddyfile", {
      listen: "127.0.0.1:9000",
      env: {},
    });
    expect(adapted.caddy.format === "caddyfile" && adapted.caddy.text).toContain(
      "reverse_proxy 127.0.0.1:9000 {",
    );
  });
});
