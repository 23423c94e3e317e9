import { defineParameterType } from "@cucumber/cucumber";

/** A list of stream sequences as a sentence writes it: `3`, `1 and 2`, `1, 2, 3 and 4`. */
defineParameterType({
  name: "ids",
  regexp: /\d+(?:(?:, | and )\d+)*/,
  transformer: (text: string): number[] => text.split(/, | and /).map(Number),
});

/** How a client tells NUTS where to resume. */
defineParameterType({
  name: "resumeMethod",
  regexp: /the last-id query parameter|the Last-Event-ID header/,
  transformer: (text: string) => text,
});
