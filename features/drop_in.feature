Feature: Add NUTS to the Caddy you run
  A stock Caddy imports NUTS's snippet (caddy/nuts.caddy), and each route says in one line
  which stream and topic prefix it serves. The sidecar runs as its own service with the NATS
  settings; no nuts command runs when Caddy starts or reloads, and `caddy reload` alone
  applies an edit. Caddy removes every X-Nuts header a client sends.

  Background:
    Given the JetStream stream "EVENTS" captures "events.>" and "news.>"
    And the sidecar runs on its own with this config:
      """
      {"header_routes": {"nats_url": "{$NATS_URL}", "reconnect_wait": 0.2}}
      """

  Scenario: A route of one import line streams live messages and replays missed ones
    Given stock Caddy runs this Caddyfile:
      """
      {
        admin 127.0.0.1:{$ADMIN_PORT}
      }
      import {$NUTS_SNIPPET}

      :{$PORT} {
        route /events* {
          import nuts EVENTS events. "path_prefix=/events retry=500"
        }
      }
      """
    And these messages are published:
      | subject       | payload |
      | events.orders | {"n":1} |
      | news.orders   | {"n":2} |
      | events.orders | {"n":3} |
    When an EventSource "alice" opens "/events/orders" through Caddy
    Then "alice" first receives a connected event with id 3 and data "{\"topics\":[\"orders\"]}"
    When 1 message is published to "events.orders"
    Then "alice" receives exactly the messages 4
    When an EventSource "bob" resumes "/events?topic=orders" through Caddy after id 0
    Then "bob" receives exactly these messages:
      | id | topic  | payload |
      | 1  | orders | {"n":1} |
      | 3  | orders | {"n":3} |
      | 4  | orders | {"n":4} |

  Scenario: caddy reload adds a route, and open streams go on
    Given stock Caddy runs this Caddyfile:
      """
      {
        admin 127.0.0.1:{$ADMIN_PORT}
      }
      import {$NUTS_SNIPPET}

      :{$PORT} {
        route /events* {
          import nuts EVENTS events.
        }
      }
      """
    And an EventSource "alice" is connected to "/events?topic=orders" through Caddy
    When Caddy is reloaded with this Caddyfile:
      """
      {
        admin 127.0.0.1:{$ADMIN_PORT}
      }
      import {$NUTS_SNIPPET}

      :{$PORT} {
        route /events* {
          import nuts EVENTS events.
        }
        route /news* {
          import nuts EVENTS news.
        }
      }
      """
    And an EventSource "bob" is connected to "/news?topic=orders" through Caddy
    And these messages are published:
      | subject       | payload |
      | events.orders | {"n":1} |
      | news.orders   | {"n":2} |
      | events.orders | {"n":3} |
    Then "alice" receives exactly the messages 1 and 3
    And "bob" receives exactly the messages 2
    And "alice" has made 1 request

  Scenario: caddy reload changes a route's topic prefix: open streams go on, reconnects move, nothing is lost
    Given stock Caddy runs this Caddyfile:
      """
      {
        admin 127.0.0.1:{$ADMIN_PORT}
      }
      import {$NUTS_SNIPPET}

      :{$PORT} {
        route /events* {
          import nuts EVENTS events. "retry=200"
        }
      }
      """
    And an EventSource "alice" is connected to "/events?topic=orders" through Caddy over a network that can fail
    And these messages are published:
      | subject       | payload |
      | events.orders | {"n":1} |
      | news.orders   | {"n":2} |
    And "alice" receives exactly the messages 1
    When Caddy is reloaded with this Caddyfile:
      """
      {
        admin 127.0.0.1:{$ADMIN_PORT}
      }
      import {$NUTS_SNIPPET}

      :{$PORT} {
        route /events* {
          import nuts EVENTS news. "retry=200"
        }
      }
      """
    And these messages are published:
      | subject       | payload |
      | events.orders | {"n":3} |
      | news.orders   | {"n":4} |
    And an EventSource "bob" is connected to "/events?topic=orders" through Caddy
    And 1 message is published to "news.orders"
    Then "alice" receives exactly the messages 1 and 3
    And "bob" receives exactly the messages 5
    When the network drops the connection
    Then "alice" reconnects on its own, sending Last-Event-ID "3"
    And "alice" receives exactly the messages 1, 3, 4 and 5

  Scenario: The sidecar restarts under the running Caddy and browsers resume where they were
    Given stock Caddy runs this Caddyfile:
      """
      {
        admin 127.0.0.1:{$ADMIN_PORT}
      }
      import {$NUTS_SNIPPET}

      :{$PORT} {
        route /events* {
          import nuts EVENTS events. "retry=200"
        }
      }
      """
    And an EventSource "alice" is connected to "/events?topic=orders" through Caddy
    And 2 messages are published to "events.orders"
    And "alice" receives exactly the messages 1 and 2
    When the sidecar stops
    And 2 messages are published to "events.orders"
    And the sidecar starts again
    Then "alice" reconnects on its own, sending Last-Event-ID "2"
    And "alice" receives exactly the messages 1, 2, 3 and 4
    When 1 message is published to "events.orders"
    Then "alice" receives exactly the messages 1, 2, 3, 4 and 5
    And "alice" has made 2 requests

  Scenario: Caddy passes on only the route headers the snippet sets, whatever a client sends
    Given stock Caddy runs this Caddyfile, with a recording server in the sidecar's place:
      """
      {
        admin 127.0.0.1:{$ADMIN_PORT}
      }
      import {$NUTS_SNIPPET}

      :{$PORT} {
        route /events* {
          import nuts EVENTS events. "max_topics=4"
        }
      }
      """
    When a client sends GET "/events?topic=orders" through Caddy with the headers:
      | X-Nuts-Stream       | OTHER                       |
      | x-nuts-topic-prefix | secret.                     |
      | X-NUTS-OPTIONS      | publish=on max_topics=1000  |
      | X-Nuts-Route        | admin                       |
      | X-Nuts-Nats-Token   | stolen                      |
      | X_Nuts_Stream       | OTHER                       |
    Then the sidecar's place received exactly these X-Nuts headers:
      | x-nuts-stream       | EVENTS       |
      | x-nuts-topic-prefix | events.      |
      | x-nuts-options      | max_topics=4 |

  Scenario: Spoofed route headers neither widen nor change what a client reads
    Given stock Caddy runs this Caddyfile:
      """
      {
        admin 127.0.0.1:{$ADMIN_PORT}
      }
      import {$NUTS_SNIPPET}

      :{$PORT} {
        route /events* {
          import nuts EVENTS events.
        }
      }
      """
    And these messages are published:
      | subject       | payload |
      | news.orders   | {"n":1} |
      | events.orders | {"n":2} |
    When an EventSource "mallory" resumes "/events?topic=orders" through Caddy after id 0, also sending:
      | X-Nuts-Topic-Prefix | news.                   |
      | X-Nuts-Stream       | OTHER                   |
      | X-Nuts-Options      | publish=on max_topics=1 |
      | X-Nuts-Route        | admin                   |
    Then "mallory" receives exactly these messages:
      | id | topic  | payload |
      | 2  | orders | {"n":2} |
    When a client sends POST "/events?topic=orders" through Caddy with the headers:
      | X-Nuts-Options | publish=on |
    Then the response status is 405
    And the response body is the JSON:
      """
      {"error":"publish_disabled","message":"publishing is off for this route; turn it on with `publish`"}
      """

  Scenario: A mistake in the import line is a 400 that says how to fix it
    Given stock Caddy runs this Caddyfile:
      """
      {
        admin 127.0.0.1:{$ADMIN_PORT}
      }
      import {$NUTS_SNIPPET}

      :{$PORT} {
        route /events* {
          import nuts EVENTS events. max_topics=0 publish=on
        }
        route /feed* {
          import nuts EVENTS events. "max_topics=0"
        }
      }
      """
    When a client sends GET "/events?topic=orders" through Caddy
    Then the response status is 400
    And the response body is the JSON:
      """
      {"error":"invalid_route_header","message":"X-Nuts-Options: the options after the topic prefix must be one quoted argument: import nuts EVENTS events. \"max_topics=8 publish=on\"; fix the route's import line in the Caddyfile, then run caddy reload"}
      """
    When a client sends GET "/feed?topic=orders" through Caddy
    Then the response status is 400
    And the response body is the JSON:
      """
      {"error":"invalid_route_header","message":"X-Nuts-Options: max_topics takes a whole number from 1 to 1024, got 0; fix the route's import line in the Caddyfile, then run caddy reload"}
      """
