/**
 * Environment placeholders: `{$VAR}` and `{$VAR:default}`. Caddy expands them in the file's text
 * before reading it; the adapter leaves them for Caddy everywhere except inside `nuts` blocks
 * (and import paths), whose values go to the sidecar instead.
 */
export type Env = Record<string, string | undefined>;

export interface Expansion {
  text: string;
  /** Variables that were unset and had no default (they expand to ""). */
  unset: string[];
}

const PLACEHOLDER = /\{\$([^}:]+)(?::([^}]*))?\}/g;

export function expandEnv(text: string, env: Env): Expansion {
  const unset: string[] = [];
  const expanded = text.replace(PLACEHOLDER, (_match, name: string, fallback?: string) => {
    const value = env[name];
    if (value !== undefined) return value;
    if (fallback !== undefined) return fallback;
    unset.push(name);
    return "";
  });
  return { text: expanded, unset };
}
