Feature: Subscribing to topics
  A page opens an EventSource on a NUTS route and receives, as Server-Sent Events, the
  messages published to the NATS subjects of the topics it names. Each event's id is the
  message's JetStream sequence.

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
          }
        }
      }
      """

  Scenario: A subscriber receives the messages of its topic
    Given an EventSource "alice" is connected to "/events?topic=orders"
    When these messages are published:
      | subject         | payload                  |
      | events.orders   | {"order":1,"total":12.5} |
      | events.shipping | {"parcel":7}             |
      | events.orders   | order two, not JSON      |
    Then "alice" receives exactly these messages:
      | id | topic  | payload                  |
      | 1  | orders | {"order":1,"total":12.5} |
      | 3  | orders | "order two, not JSON"    |
    And each message "alice" received carries the time "EVENTS" stored it at

  Scenario: The connected event says where the client starts
    Given these messages are published:
      | subject       | payload |
      | events.orders | 1       |
      | events.other  | 2       |
    When an EventSource "alice" opens "/events?topic=orders"
    Then "alice" first receives a connected event with id 2 and data '{"topics":["orders"]}'

  Scenario: Without a cursor a client gets only the messages published after it connected
    Given 2 messages are published to "events.orders"
    And an EventSource "alice" is connected to "/events?topic=orders"
    When 2 messages are published to "events.orders"
    Then "alice" receives exactly the messages 3 and 4

  Scenario: One connection follows several topics
    Given an EventSource "alice" is connected to "/events?topic=orders&topic=invoices"
    When these messages are published:
      | subject         | payload       |
      | events.invoices | {"invoice":1} |
      | events.shipping | {"parcel":2}  |
      | events.orders   | {"order":3}   |
    Then "alice" first receives a connected event with id 0 and data '{"topics":["orders","invoices"]}'
    And "alice" receives exactly these messages:
      | id | topic    | payload       |
      | 1  | invoices | {"invoice":1} |
      | 3  | orders   | {"order":3}   |

  Scenario: The path after the route names the topic
    Given an EventSource "alice" is connected to "/events/chat/room-1"
    When these messages are published:
      | subject            | payload         |
      | events.chat.room-2 | {"text":"nope"} |
      | events.chat.room-1 | {"text":"hi"}   |
    Then "alice" first receives a connected event with id 0 and data '{"topics":["chat.room-1"]}'
    And "alice" receives exactly these messages:
      | id | topic       | payload       |
      | 2  | chat.room-1 | {"text":"hi"} |

  Scenario: A message published with nuts pub reaches the subscribers
    Given an EventSource "alice" is connected to "/events?topic=deploys"
    And an EventSource "bob" is connected to "/events?topic=deploys"
    When '{"version":"1.2.3"}' is published to "events.deploys" with nuts pub
    Then "alice" receives exactly these messages:
      | id | topic   | payload             |
      | 1  | deploys | {"version":"1.2.3"} |
    And "bob" receives exactly these messages:
      | id | topic   | payload             |
      | 1  | deploys | {"version":"1.2.3"} |
