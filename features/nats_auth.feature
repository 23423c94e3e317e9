Feature: Logging in to NATS
  The Caddyfile gives the route the secret its NATS server asks for: a token, a user and
  password, or a credentials file. The secret goes to the sidecar only.

  Scenario Outline: Messages flow from a NATS server that requires <what>
    Given <server>
    And the JetStream stream "EVENTS" captures "events.>"
    And nuts run serves this Caddyfile:
      """
      :{$PORT} {
        route /events* {
          nuts {
            nats_url {$NATS_URL}
            stream_name EVENTS
            topic_prefix events.
            <login>
          }
        }
      }
      """
    And an EventSource "alice" is connected to "/events?topic=orders"
    When these messages are published:
      | subject       | payload      |
      | events.orders | {"secure":1} |
    Then "alice" receives exactly these messages:
      | id | topic  | payload      |
      | 1  | orders | {"secure":1} |

    Examples:
      | what                | server                                                           | login                              |
      | a token             | a NATS server that requires the token "s3cret-token"             | nats_token s3cret-token            |
      | a user and password | a NATS server that requires the user "nuts" with password "pa55" | nats_user nuts\nnats_password pa55 |
      | a credentials file  | a NATS server in operator mode that requires a credentials file  | nats_credentials {$NATS_CREDS}     |

  Scenario: A wrong token leaves subscribers told that NATS is unavailable
    Given a NATS server that requires the token "s3cret-token"
    And the JetStream stream "EVENTS" captures "events.>"
    And nuts run serves this Caddyfile:
      """
      :{$PORT} {
        route /events* {
          nuts {
            nats_url {$NATS_URL}
            stream_name EVENTS
            topic_prefix events.
            nats_token wrong-token
            retry 500
          }
        }
      }
      """
    When a client requests "/events?topic=orders" as an EventSource does
    Then the response status is 200
    And the response body is exactly:
      """
      event: unavailable
      retry: 500
      data: {"error":"nats_unavailable","message":"NATS is not reachable right now; retry shortly"}
      """
