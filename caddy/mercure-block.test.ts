import { describe, expect, it } from "vitest";
import { adaptCaddyfile } from "./caddyfile-adapter.js";
import { CaddyfileError } from "./errors.js";

const listen = "unix:/run/nuts/nuts.sock";
const KEY = "publisher-secret-0123456789abcdef-xyz";

/** A site whose mercure block starts on line 2 and holds `lines` from line 3 on. */
function site(...lines: string[]): string {
  return `:8080 {\n\tmercure {\n${lines.map((line) => `\t\t${line}\n`).join("")}\t}\n}\n`;
}

const transport = ["transport nats {", "\turl nats://localhost:4222", "\tstream MERCURE", "}"];

async function adaptError(text: string, env: Record<string, string> = {}): Promise<string> {
  try {
    await adaptCaddyfile(text, "Caddyfile", { listen, env });
  } catch (error) {
    expect(error).toBeInstanceOf(CaddyfileError);
    return (error as CaddyfileError).message;
  }
  throw new Error("expected a CaddyfileError");
}

describe("the mercure block's errors name the file and line", () => {
  it.each([
    [
      [`publisher_jwt ${KEY}`, "anonymous", "bogus 1", ...transport],
      'Caddyfile:5: unknown mercure option "bogus"; the options are publisher_jwt, subscriber_jwt, publisher_jwks_url, subscriber_jwks_url, anonymous, subscriptions, cors_origins, publish_origins, heartbeat, write_timeout, cookie_name, ui, demo, max_request_body_size, transport, path',
    ],
    [
      [`publisher_jwt ${KEY}`, "anonymous", "heartbeat soon", ...transport],
      'Caddyfile:5: heartbeat takes a duration like 40s or 500ms, got "soon"',
    ],
    [
      [`publisher_jwt ${KEY}`, "anonymous yes", ...transport],
      "Caddyfile:4: anonymous takes no value",
    ],
    [
      [`publisher_jwt ${KEY}`, "anonymous", "anonymous", ...transport],
      "Caddyfile:5: anonymous is set twice (also on line 4); keep one",
    ],
    [
      [`publisher_jwt ${KEY}`, "anonymous", "max_request_body_size 1MB", ...transport],
      'Caddyfile:5: max_request_body_size takes bytes as a whole number, got "1MB"',
    ],
    [
      [`publisher_jwt ${KEY}`, "anonymous", "transport_url bolt://mercure.db"],
      "Caddyfile:5: NUTS keeps a hub's updates in NATS JetStream, not in a transport URL; replace transport_url with: transport nats { url nats://localhost:4222 stream MERCURE }",
    ],
    [
      [`publisher_jwt ${KEY}`, "anonymous", "transport bolt {", "\tpath mercure.db", "}"],
      "Caddyfile:5: NUTS's transport is NATS: transport nats { url nats://localhost:4222 stream MERCURE }",
    ],
    [
      [
        `publisher_jwt ${KEY}`,
        "anonymous",
        "transport nats {",
        "\tstream MERCURE",
        "\tsubjects x",
        "}",
      ],
      'Caddyfile:7: unknown transport nats option "subjects"; the options are url, stream, subject_prefix, token, user, password, credentials',
    ],
    [
      ["publisher_jwt short", "anonymous", ...transport],
      'Caddyfile:2: mercure hub "mercure": publisher_jwt: an HS256 key must be at least 32 bytes (256 bits); generate one with `openssl rand -base64 32`',
    ],
    [
      [`publisher_jwt ${KEY}`, ...transport],
      'Caddyfile:2: mercure hub "mercure": subscribers need either subscriber_jwt <key> [alg], subscriber_jwks_url <url> or anonymous',
    ],
    [
      [`publisher_jwt ${KEY}`, "anonymous", "cors_origins example.com", ...transport],
      'Caddyfile:2: mercure hub "mercure": cors_origins: "example.com" is not an origin like "https://example.com" (scheme and host, no path)',
    ],
    [
      ["publisher_jwks_url ftp://keys.example/jwks.json", "anonymous", ...transport],
      'Caddyfile:2: mercure hub "mercure": publisher_jwks_url "ftp://keys.example/jwks.json" must be an http(s) URL',
    ],
    [
      [
        `publisher_jwt ${KEY}`,
        "publisher_jwks_url https://keys.example/jwks.json",
        "anonymous",
        ...transport,
      ],
      'Caddyfile:2: mercure hub "mercure": set publisher_jwt or publisher_jwks_url, not both',
    ],
  ])("%j", async (lines, expected) => {
    expect(await adaptError(site(...lines))).toBe(expected);
  });

  it("names the imported file and its line", async () => {
    const { memoryFiles } = await import("./testing/memory-files.js");
    const files = memoryFiles({
      "/site/hub.caddy": `mercure {\n\tpublisher_jwt ${KEY}\n\theartbeat never\n}\n`,
    });
    await expect(
      adaptCaddyfile(
        ":8080 {\n\timport /site/hub.caddy\n}\n",
        "/site/Caddyfile",
        { listen, env: {} },
        files,
      ),
    ).rejects.toThrow(
      '/site/hub.caddy:3: heartbeat takes a duration like 40s or 500ms, got "never"',
    );
  });
});

describe("the mercure block's secrets", () => {
  it("go to sidecar.json, never into the generated Caddyfile", async () => {
    const env = {
      PUB: "env-publisher-secret-0123456789abcdef",
      SUB: "env-subscriber-secret-0123456789abcdef",
      NATS_PASSWORD: "env-nats-password",
    };
    const adapted = await adaptCaddyfile(
      site(
        "publisher_jwt {env.PUB}",
        "subscriber_jwt {$SUB} HS384",
        "transport nats {",
        "\tstream MERCURE",
        "\tuser hub",
        "\tpassword {env.NATS_PASSWORD}",
        "}",
      ),
      "Caddyfile",
      { listen, env },
    );
    const caddy = adapted.caddy.format === "caddyfile" ? adapted.caddy.text : "";
    for (const secret of [...Object.values(env), "PUB", "SUB", "NATS_PASSWORD", "hub\n"]) {
      expect(caddy).not.toContain(secret);
    }
    expect(adapted.sidecar.mercure?.mercure).toMatchObject({
      publisher_jwt: { key: env.PUB },
      subscriber_jwt: { key: env.SUB, alg: "HS384" },
      nats_user: "hub",
      nats_password: env.NATS_PASSWORD,
    });
  });
});
