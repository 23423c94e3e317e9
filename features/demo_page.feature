@browser
Feature: The demo page in a real browser
  The demo page that `make run` serves subscribes with the browser's own EventSource and
  publishes through NUTS with its form.

  Scenario: A visitor publishes from the page and sees the message arrive
    Given the JetStream stream "EVENTS" captures "events.>"
    And nuts run serves the example "caddy/examples/demo.Caddyfile"
    When a visitor opens the demo page in Chromium
    And subscribes to the topic "news"
    And publishes "hello from the page" with the page's form
    Then the page says the message was stored as #1 on "news"
    And the page lists event #1 on topic "news" with payload "hello from the page"
    When these messages are published:
      | subject     | payload           |
      | events.news | {"source":"nats"} |
    Then the page lists event #2 on topic "news" with payload '{"source":"nats"}'
