Feature: Resuming where a client left off
  A client that names the last id it saw gets every retained message after it, in order,
  then live messages: nothing lost, nothing twice. A browser's EventSource does this on its
  own when its connection breaks, by sending Last-Event-ID.

  Background:
    Given the JetStream stream "EVENTS" captures "events.>"
    And nuts run serves this Caddyfile:
      """
      :{$PORT} {
        route /events* {
          nuts {
            nats_url {$NATS_URL}
            stream_name EVENTS
            topic_prefix events.
            retry 300
          }
        }
      }
      """

  Scenario Outline: A client resumes after a known id with <method>
    Given these messages are published:
      | subject       | payload |
      | events.orders | 1       |
      | events.orders | 2       |
      | events.other  | 3       |
      | events.orders | 4       |
    When an EventSource "alice" resumes "/events?topic=orders" after id 1 with <method>
    Then "alice" first receives a connected event with id 1 and data '{"topics":["orders"]}'
    And "alice" receives exactly the messages 2 and 4
    When 1 message is published to "events.orders"
    Then "alice" receives exactly the messages 2, 4 and 5

    Examples:
      | method                      |
      | the last-id query parameter |
      | the Last-Event-ID header    |

  Scenario: A client whose network drops resumes from its last id
    Given an EventSource "alice" is connected to "/events?topic=orders" over a network that can fail
    And 3 messages are published to "events.orders"
    And "alice" receives exactly the messages 1, 2 and 3
    When the network drops the connection
    And 2 messages are published to "events.orders"
    Then "alice" reconnects on its own, sending Last-Event-ID "3"
    And "alice" receives exactly the messages 1, 2, 3, 4 and 5

  # Fails today: Caddy answers the reconnect with 502 while the sidecar restarts, and an
  # EventSource gives up for good on any status but 200 (see the report on the adapter).
  Scenario: A client resumes from its last id after the sidecar crashes
    Given an EventSource "alice" is connected to "/events?topic=orders"
    And 3 messages are published to "events.orders"
    And "alice" receives exactly the messages 1, 2 and 3
    When the sidecar process dies
    And 2 messages are published to "events.orders"
    Then "alice" reconnects on its own, sending Last-Event-ID "3"
    And "alice" receives exactly the messages 1, 2, 3, 4 and 5
