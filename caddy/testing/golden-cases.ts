/** The golden corpus shared by golden.test.ts and caddy-validate.test.ts. */
import { readdirSync } from "node:fs";

export const GOLDEN_LISTEN = "unix:/run/nuts/nuts.sock";

/** The environment the golden cases are adapted with (process.env is never read). */
export const GOLDEN_ENV: Record<string, string> = {
  NATS_URL: "nats://nats.example:4222",
  NATS_TOKEN: "token-from-env",
  NATS_PASSWORD: "password-from-env",
  ORIGINS: "https://a.example https://b.example",
  HEARTBEAT: "45s",
};

export interface GoldenCase {
  input: string;
  caddyOut: string;
  sidecarOut: string;
  format: "caddyfile" | "json";
}

const TESTDATA = "caddy/testdata";
const EXAMPLES = "caddy/examples";
const MY_EXAMPLES = ["quick-start", "chat", "dashboard", "nats-auth", "manual-reverse-proxy"];

export function goldenCases(): GoldenCase[] {
  const cases: GoldenCase[] = [];
  for (const name of readdirSync(TESTDATA).sort()) {
    const match = /^([\w-]+)\.(Caddyfile|json)$/.exec(name);
    if (!match) continue;
    const [, base, extension] = match as unknown as [string, string, string];
    const json = extension === "json";
    cases.push({
      input: `${TESTDATA}/${name}`,
      caddyOut: `${TESTDATA}/${base}.out.${json ? "json" : "Caddyfile"}`,
      sidecarOut: `${TESTDATA}/${base}.sidecar.json`,
      format: json ? "json" : "caddyfile",
    });
  }
  for (const base of MY_EXAMPLES) {
    cases.push({
      input: `${EXAMPLES}/${base}.Caddyfile`,
      caddyOut: `${TESTDATA}/examples/${base}.out.Caddyfile`,
      sidecarOut: `${TESTDATA}/examples/${base}.sidecar.json`,
      format: "caddyfile",
    });
  }
  return cases;
}
