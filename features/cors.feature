Feature: Cross-origin subscribers
  A route lists the origins whose pages may subscribe. A listed origin is echoed back, with
  Vary: Origin for caches; any other origin gets no Access-Control-Allow-Origin, so its
  browser refuses to hand the events to the page.

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
            allowed_origins https://app.example.com https://admin.example.com
          }
        }
      }
      """

  Scenario: A preflight from a listed origin is allowed
    When a client sends OPTIONS "/events?topic=orders" with the headers:
      | Origin                         | https://app.example.com |
      | Access-Control-Request-Method  | GET                     |
      | Access-Control-Request-Headers | last-event-id           |
    Then the response status is 204
    And the response has the headers:
      | Access-Control-Allow-Origin      | https://app.example.com                    |
      | Access-Control-Allow-Credentials | true                                       |
      | Access-Control-Allow-Methods     | GET, OPTIONS                               |
      | Access-Control-Allow-Headers     | Last-Event-ID, Cache-Control, Content-Type |
      | Vary                             | Origin                                     |

  Scenario: A page on a listed origin may read the stream
    When a client sends GET "/events?topic=orders" with the headers:
      | Origin | https://admin.example.com |
      | Accept | text/event-stream         |
    Then the response status is 200
    And the response has the headers:
      | Content-Type                     | text/event-stream         |
      | Access-Control-Allow-Origin      | https://admin.example.com |
      | Access-Control-Allow-Credentials | true                      |
      | Vary                             | Origin                    |

  Scenario: A page on another origin is not allowed to read the stream
    When a client sends GET "/events?topic=orders" with the headers:
      | Origin | https://evil.example.net |
      | Accept | text/event-stream        |
    Then the response status is 200
    And the response has the header "Vary": "Origin"
    And the response has no "Access-Control-Allow-Origin" header
    And the response has no "Access-Control-Allow-Credentials" header
