Feature: Riding out NATS trouble
  Open streams survive a NATS restart without losing or repeating a message. While a stream
  is missing, a browser is told to come back later instead of being turned away for good.

  Scenario: A NATS restart loses no message and repeats none
    Given the JetStream stream "EVENTS" captures "events.>"
    And nuts run serves this Caddyfile:
      """
      :{$PORT} {
        route /events* {
          nuts {
            nats_url {$NATS_URL}
            stream_name EVENTS
            topic_prefix events.
            reconnect_wait 0.2
          }
        }
      }
      """
    And an EventSource "alice" is connected to "/events?topic=orders"
    And 2 messages are published to "events.orders"
    And "alice" receives exactly the messages 1 and 2
    When the NATS server restarts
    And 2 messages are published to "events.orders"
    Then "alice" receives exactly the messages 1, 2, 3 and 4
    And "alice" has made 1 request

  Scenario: A missing stream is reported to each kind of client in its own way
    Given nuts run serves this Caddyfile:
      """
      :{$PORT} {
        route /events* {
          nuts {
            nats_url {$NATS_URL}
            stream_name ORDERS
            topic_prefix orders.
            retry 500
          }
        }
      }
      """
    When a client requests "/events?topic=new" as an EventSource does
    Then the response status is 200
    And the response has the header "Content-Type": "text/event-stream"
    And the response body is exactly:
      """
      event: unavailable
      retry: 500
      data: {"error":"stream_not_found","message":"stream ORDERS does not exist yet; retry shortly"}
      """
    When a client requests "/events?topic=new"
    Then the response status is 503
    And the response has the header "Retry-After": "1"
    And the response body is the JSON:
      """
      {"error":"stream_not_found","message":"stream ORDERS does not exist yet; retry shortly"}
      """

  Scenario: A browser waiting for a missing stream connects once it is created
    Given nuts run serves this Caddyfile:
      """
      :{$PORT} {
        route /events* {
          nuts {
            nats_url {$NATS_URL}
            stream_name ORDERS
            topic_prefix orders.
            retry 300
            reconnect_wait 0.3
          }
        }
      }
      """
    And an EventSource "alice" opens "/events?topic=new"
    And "alice" is told the source is unavailable with error "stream_not_found"
    When the JetStream stream "ORDERS" captures "orders.>"
    Then "alice" connects once the stream exists
    When these messages are published:
      | subject    | payload      |
      | orders.new | {"order":42} |
    Then "alice" receives exactly these messages:
      | id | topic | payload      |
      | 1  | new   | {"order":42} |
