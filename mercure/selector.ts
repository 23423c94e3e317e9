/**
 * Mercure topic selectors: `*` (every topic), an exact topic, or a URI template (RFC 6570)
 * matched against topics, the way Mercure's hub reads a `topic` parameter. Templates are
 * compiled once into steps matched in linear time (no regular expression a subscriber could
 * make backtrack); compiled selectors and match results are cached, so 5,000
 * subscribers with the same selector cost one compilation and one match per update.
 */

/** A compiled selector. */
export type Selector =
  | { type: "all" }
  | { type: "exact"; topic: string }
  | { type: "template"; template: string; matcher: TemplateMatcher };

/** Why a selector or topic was refused. */
export class SelectorError extends Error {
  override name = "SelectorError";
}

/** Longest selector (and topic) accepted, in characters. */
export const MAX_SELECTOR_LENGTH = 2048;
/** Most expressions in one URI template. */
export const MAX_TEMPLATE_EXPRESSIONS = 32;

// C0, DEL, C1 controls and Unicode format characters (Cf), which the spec forbids in topics,
// selectors, ids and types.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\p{Cf}]/u;

/** Throws SelectorError when a topic, selector, id or type holds what the spec forbids. */
export function checkText(what: string, text: string): void {
  if (text.length > MAX_SELECTOR_LENGTH) {
    throw new SelectorError(`${what} is longer than ${MAX_SELECTOR_LENGTH} characters`);
  }
  if (FORBIDDEN.test(text)) {
    throw new SelectorError(
      `${what} ${JSON.stringify(text.slice(0, 64))} contains control or format characters`,
    );
  }
}

const UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%";
const RESERVED = ":/?#[]@!$&'()*+,;=";
const VAR = /^[A-Za-z0-9_](?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9]\d{0,3}|\*)?$/;

/** Characters an expression's expansion may hold: a table for ASCII; anything beyond is allowed. */
type CharClass = readonly boolean[];

function charClass(chars: string): CharClass {
  const table = new Array<boolean>(128).fill(false);
  for (const char of chars) table[char.charCodeAt(0)] = true;
  return table;
}

function inClass(table: CharClass, code: number): boolean {
  return code >= 128 || table[code] === true;
}

/**
 * One step of a compiled template: a literal character, or an expression, which matches the
 * empty string or (after its operator's prefix character, if any) a run of its class.
 */
type Step =
  | { type: "literal"; code: number }
  | { type: "expression"; prefix: number | null; chars: CharClass };

/**
 * A URI template (RFC 6570) as steps matched without backtracking: every position in the topic
 * is read once against the set of steps that can be active there, so matching costs
 * topic length x template length however the template is written (no regex to blow up).
 */
export class TemplateMatcher {
  private constructor(private readonly steps: readonly Step[]) {}

  static compile(template: string): TemplateMatcher {
    const steps: Step[] = [];
    let expressions = 0;
    let index = 0;
    while (index < template.length) {
      const char = template[index] as string;
      if (char === "}") {
        throw new SelectorError(`URI template ${JSON.stringify(template)} has a "}" without "{"`);
      }
      if (char !== "{") {
        steps.push({ type: "literal", code: char.charCodeAt(0) });
        index++;
        continue;
      }
      const end = template.indexOf("}", index);
      if (end === -1) {
        throw new SelectorError(`URI template ${JSON.stringify(template)} has an unclosed "{"`);
      }
      if (++expressions > MAX_TEMPLATE_EXPRESSIONS) {
        throw new SelectorError(
          `a URI template may hold at most ${MAX_TEMPLATE_EXPRESSIONS} expressions`,
        );
      }
      steps.push(expressionStep(template.slice(index + 1, end), template));
      index = end + 1;
    }
    return new TemplateMatcher(steps);
  }

  matches(topic: string): boolean {
    const count = this.steps.length;
    // State 2i: at the start of step i; 2i+1: inside expression i, after its prefix.
    let active = new Uint8Array(2 * count + 2);
    let next = new Uint8Array(2 * count + 2);
    active[0] = 1;
    this.close(active);
    for (let at = 0; at < topic.length; at++) {
      const code = topic.charCodeAt(at);
      next.fill(0);
      let any = false;
      for (let i = 0; i < count; i++) {
        const step = this.steps[i] as Step;
        if (step.type === "literal") {
          if (active[2 * i] && step.code === code) {
            next[2 * i + 2] = 1;
            any = true;
          }
          continue;
        }
        if (active[2 * i]) {
          if (step.prefix === null ? inClass(step.chars, code) : step.prefix === code) {
            next[2 * i + 1] = 1;
            any = true;
          }
        }
        if (active[2 * i + 1] && inClass(step.chars, code)) {
          next[2 * i + 1] = 1;
          any = true;
        }
      }
      if (!any) return false;
      this.close(next);
      [active, next] = [next, active];
    }
    return active[2 * count] === 1;
  }

  /** Adds the states reachable without reading: an expression may match nothing. */
  private close(states: Uint8Array): void {
    for (let i = 0; i < this.steps.length; i++) {
      if (this.steps[i]?.type === "expression" && (states[2 * i] || states[2 * i + 1])) {
        states[2 * i + 2] = 1;
      }
    }
  }
}

const SIMPLE = charClass(`${UNRESERVED},`);
const WIDE = charClass(UNRESERVED + RESERVED);
const LABELS = charClass(`${UNRESERVED}.`);
const SEGMENTS = charClass(`${UNRESERVED}/`);
const PARAMETERS = charClass(`${UNRESERVED};=,`);
const QUERY = charClass(`${UNRESERVED}=&,`);

function expressionStep(expression: string, template: string): Step {
  const operator = /^[+#./;?&]/.test(expression) ? (expression[0] as string) : "";
  const variables = expression.slice(operator.length).split(",");
  if (variables.some((variable) => !VAR.test(variable))) {
    throw new SelectorError(
      `URI template ${JSON.stringify(template)}: "{${expression}}" is not a valid expression`,
    );
  }
  const prefixed = (prefix: string, chars: CharClass): Step => ({
    type: "expression",
    prefix: prefix.charCodeAt(0),
    chars,
  });
  switch (operator) {
    case "+":
      return { type: "expression", prefix: null, chars: WIDE };
    case "#":
      return prefixed("#", WIDE);
    case ".":
      return prefixed(".", LABELS);
    case "/":
      return prefixed("/", SEGMENTS);
    case ";":
      return prefixed(";", PARAMETERS);
    case "?":
      return prefixed("?", QUERY);
    case "&":
      return prefixed("&", QUERY);
    default:
      return { type: "expression", prefix: null, chars: SIMPLE };
  }
}

/** Compiles a selector; throws SelectorError for a malformed template or forbidden text. */
export function compileSelector(text: string): Selector {
  checkText("topic selector", text);
  if (text === "*") return { type: "all" };
  if (!text.includes("{") && !text.includes("}")) return { type: "exact", topic: text };
  return { type: "template", template: text, matcher: TemplateMatcher.compile(text) };
}

export function selectorMatches(selector: Selector, topic: string): boolean {
  switch (selector.type) {
    case "all":
      return true;
    case "exact":
      return selector.topic === topic;
    case "template":
      return selector.matcher.matches(topic);
  }
}

/**
 * Compiled selectors and template match results, bounded: when full, the oldest half goes (a
 * client sending ever new selectors cannot grow it without limit).
 */
export class SelectorCache {
  private readonly selectors = new Map<string, Selector>();
  private readonly matches = new Map<string, boolean>();

  constructor(private readonly capacity = 10_000) {}

  compile(text: string): Selector {
    let selector = this.selectors.get(text);
    if (selector === undefined) {
      selector = compileSelector(text);
      this.remember(this.selectors, text, selector);
    }
    return selector;
  }

  matchesAny(selectors: readonly Selector[], topics: readonly string[]): boolean {
    for (const selector of selectors) {
      for (const topic of topics) if (this.match(selector, topic)) return true;
    }
    return false;
  }

  private match(selector: Selector, topic: string): boolean {
    if (selector.type !== "template") return selectorMatches(selector, topic);
    const key = `${selector.template}\u0000${topic}`;
    let result = this.matches.get(key);
    if (result === undefined) {
      result = selector.matcher.matches(topic);
      this.remember(this.matches, key, result);
    }
    return result;
  }

  private remember<T>(map: Map<string, T>, key: string, value: T): void {
    if (map.size >= this.capacity) {
      let drop = map.size / 2;
      for (const old of map.keys()) {
        map.delete(old);
        if (--drop <= 0) break;
      }
    }
    map.set(key, value);
  }
}
