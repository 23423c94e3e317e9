export { HUB_HEADER, MercureHubs } from "./app.js";
export type { MercureHubConfig, MercureHubOptions } from "./config.js";
export { HUB_OPTION_NAMES, resolveHub, resolveHubs } from "./config.js";
export { MercureHub } from "./hub.js";
