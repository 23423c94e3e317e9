Feature: Refusing malformed subscriptions
  A request that can never succeed gets a 400 with a JSON body that says what is wrong,
  before any stream starts. A topic can never widen a subscription beyond the route.

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
            max_topics 2
          }
        }
      }
      """

  Scenario Outline: <request> is refused
    When a client requests "<request>" as an EventSource does
    Then the response status is 400
    And the response has the header "Content-Type": "application/json"
    And the response body is the JSON:
      """
      {"error":"<error>","message":"<message>"}
      """

    Examples:
      | request                                | error           | message                                                                                        |
      | /events?topic=a%20b                    | invalid_topic   | topic \\"a b\\" may not contain spaces                                                         |
      | /events?topic=orders.*                 | invalid_topic   | topic \\"orders.*\\" may not contain the wildcards * or > (they need subscriber authorization) |
      | /events?topic=%3E                      | invalid_topic   | topic \\">\\" may not contain the wildcards * or > (they need subscriber authorization)        |
      | /events?topic=orders..eu               | invalid_topic   | topic \\"orders..eu\\" may not have empty parts (a leading, trailing or double dot)            |
      | /events/orders%2Eeu                    | invalid_topic   | path segment \\"orders%2Eeu\\" may not hold an encoded dot; separate topic parts with \\"/\\"  |
      | /events                                | missing_topic   | name a topic: ?topic=orders (repeat for more) or a path such as /events/orders                 |
      | /events?topic=a&topic=b&topic=c        | too_many_topics | at most 2 topics per connection, got 3                                                         |
      | /events?topic=orders&last-id=yesterday | invalid_last_id | last-id must be a stream sequence number (digits only, at most 16), got \\"yesterday\\"        |
