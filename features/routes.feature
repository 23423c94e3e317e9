Feature: Routing topics to streams
  Each nuts block is a route: the stream it reads, the subject prefix its topics live
  under, the path it is mounted at. A Caddy JSON config with a "nuts" handler works the
  same as a Caddyfile.

  Scenario: The topic prefix keeps clients inside their part of the subject space
    Given the JetStream stream "TENANTS" captures "tenant-a.>" and "tenant-b.>"
    And nuts run serves this Caddyfile:
      """
      :{$PORT} {
        route /a/events* {
          nuts {
            nats_url {$NATS_URL}
            stream_name TENANTS
            topic_prefix tenant-a.
          }
        }
      }
      """
    And an EventSource "alice" is connected to "/a/events?topic=orders"
    When these messages are published:
      | subject         | payload        |
      | tenant-b.orders | {"tenant":"b"} |
      | tenant-a.orders | {"tenant":"a"} |
    Then "alice" receives exactly these messages:
      | id | topic  | payload        |
      | 2  | orders | {"tenant":"a"} |

  Scenario: Two nuts blocks serve two streams
    Given the JetStream stream "SHOP" captures "shop.>"
    And the JetStream stream "AUDIT" captures "audit.>"
    And nuts run serves this Caddyfile:
      """
      :{$PORT} {
        route /shop* {
          nuts {
            nats_url {$NATS_URL}
            stream_name SHOP
            topic_prefix shop.
          }
        }
        route /audit* {
          nuts {
            nats_url {$NATS_URL}
            stream_name AUDIT
            topic_prefix audit.
          }
        }
      }
      """
    And an EventSource "shopper" is connected to "/shop?topic=created"
    And an EventSource "auditor" is connected to "/audit/created"
    When these messages are published:
      | subject       | payload     |
      | shop.created  | {"cart":1}  |
      | audit.created | {"entry":1} |
      | shop.created  | {"cart":2}  |
      | audit.created | {"entry":2} |
    Then "shopper" receives exactly these messages:
      | id | topic   | payload    |
      | 1  | created | {"cart":1} |
      | 2  | created | {"cart":2} |
    And "auditor" receives exactly these messages:
      | id | topic   | payload     |
      | 1  | created | {"entry":1} |
      | 2  | created | {"entry":2} |

  Scenario: A Caddy JSON config with the nuts handler
    Given the JetStream stream "EVENTS" captures "events.>"
    And nuts run serves this Caddy JSON config:
      """
      {
        "apps": {
          "http": {
            "servers": {
              "main": {
                "listen": [":{$PORT}"],
                "routes": [
                  {
                    "match": [{ "path": ["/events*"] }],
                    "handle": [
                      {
                        "handler": "nuts",
                        "nats_url": "{$NATS_URL}",
                        "stream_name": "EVENTS",
                        "topic_prefix": "events."
                      }
                    ]
                  }
                ]
              }
            }
          }
        }
      }
      """
    And an EventSource "alice" is connected to "/events?topic=orders"
    When these messages are published:
      | subject       | payload    |
      | events.orders | {"json":1} |
    Then "alice" receives exactly these messages:
      | id | topic  | payload    |
      | 1  | orders | {"json":1} |

  Scenario: A route with publish on lets a page publish, one without refuses
    Given the JetStream stream "EVENTS" captures "events.>"
    And nuts run serves this Caddyfile:
      """
      :{$PORT} {
        route /open* {
          nuts {
            nats_url {$NATS_URL}
            stream_name EVENTS
            topic_prefix events.
            publish
          }
        }
        route /events* {
          nuts {
            nats_url {$NATS_URL}
            stream_name EVENTS
            topic_prefix events.
          }
        }
      }
      """
    And an EventSource "alice" is connected to "/events?topic=orders"
    When a client posts '{"from":"page"}' to "/open?topic=orders"
    Then the response status is 200
    And the response body is the JSON:
      """
      {"topic":"orders","seq":1}
      """
    And "alice" receives exactly these messages:
      | id | topic  | payload         |
      | 1  | orders | {"from":"page"} |
    When a client posts '{"from":"elsewhere"}' to "/events?topic=orders"
    Then the response status is 405
    And the response body is the JSON:
      """
      {"error":"publish_disabled","message":"publishing is off for this route; turn it on with `publish`"}
      """
