/** Debian's Chromium, headless, driven by playwright-core (scripts/install-chromium.sh). */
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.NUTS_CHROMIUM ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
