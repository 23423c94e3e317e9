Feature: Heartbeats keep idle streams open
  Proxies and load balancers close connections that stay silent. After heartbeat_interval
  seconds without a message, NUTS sends a comment line, which EventSource ignores.

  Scenario: An idle stream carries heartbeat comments
    Given the JetStream stream "EVENTS" captures "events.>"
    And nuts run serves this Caddyfile:
      """
      :{$PORT} {
        route /events* {
          nuts {
            nats_url {$NATS_URL}
            stream_name EVENTS
            topic_prefix events.
            heartbeat_interval 1
          }
        }
      }
      """
    When a client requests "/events?topic=orders" as an EventSource does
    Then the response status is 200
    And the response has the headers:
      | Content-Type  | text/event-stream |
      | Cache-Control | no-cache          |
    And the event stream begins with:
      """
      id: 0
      event: connected
      data: {"topics":["orders"]}
      """
    And the event stream goes on with nothing but heartbeats, at least 2 of them
