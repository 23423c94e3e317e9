@cluster
Feature: Many NUTS nodes on one NATS cluster lose no message
  A three-node NATS cluster holds the stream on three replicas; two NUTS nodes (nuts run: Caddy
  and its sidecar), each connected to every NATS node, serve it behind a load balancer (a stock
  Caddy with deploy/cluster/balancer.Caddyfile, whose health checks ask each node's /readyz:
  the node's Caddy passes it to its sidecar's admin listener). 100 EventSource clients (the `eventsource`
  package, which resumes with Last-Event-ID as browsers do) are spread over both nodes while a
  publisher sends 20 messages a second. Whatever is taken away, every client ends up with every
  published message exactly once and in order. Each scenario prints
  "fault <name>: published N, received N by each of 100 clients".

  Background:
    Given the NATS cluster holds the stream "EVENTS" on 3 replicas, capturing "events.>"
    And NUTS nodes "a" and "b" serve this Caddyfile behind the balancer:
      """
      :{$PORT} {
        header X-Served-By {$NUTS_NODE}
        handle /readyz {
          reverse_proxy {$NUTS_ADMIN_LISTEN}
        }
        route /events* {
          nuts {
            nats_url {$NATS_URL}
            stream_name EVENTS
            topic_prefix events.
            reconnect_wait 0.2
            retry 200
          }
        }
      }
      """
    And 100 EventSource clients are connected through the balancer to "/events?topic=ticks"
    And a publisher sends to "events.ticks" through the NATS cluster at 20 messages a second

  Scenario: The NATS node that leads the stream is killed, then comes back
    When the publisher has sent 20 messages
    And the NATS node that leads the stream "EVENTS" is killed
    And the publisher has sent 20 more messages
    And that NATS node is started again
    And the publisher has sent 20 more messages
    And the publisher stops
    Then every client receives every published message exactly once, in order, under fault "stream leader killed"
    And no client has reconnected

  Scenario: The NATS node that hosts a sidecar's live consumer is killed, then comes back
    When the publisher has sent 20 messages
    And the NATS node that hosts a sidecar's live consumer, but no sidecar's connection, is killed
    And the publisher has sent 20 more messages
    And that NATS node is started again
    And the publisher has sent 20 more messages
    And the publisher stops
    Then every client receives every published message exactly once, in order, under fault "live consumer's node killed"
    And no client has reconnected

  Scenario: A NATS node that holds a sidecar's connection stops answering, then answers again
    When the publisher has sent 20 messages
    And a NATS node that holds a sidecar's connection stops answering
    Then within 20 seconds both sidecars are connected to the other NATS nodes
    When the publisher has sent 20 more messages
    And that NATS node answers again
    And the publisher has sent 20 more messages
    And the publisher stops
    Then every client receives every published message exactly once, in order, under fault "nats node paused"
    And no client has reconnected

  Scenario: A NUTS node is killed; its clients resume on the other through the balancer
    When the publisher has sent 20 messages
    And NUTS node "a" is killed
    And the publisher has sent 40 more messages
    And the publisher stops
    Then the clients NUTS node "a" served have resumed on "b" with the last id they saw
    And every client now streams from NUTS node "b"
    And every client receives every published message exactly once, in order, under fault "nuts node killed"

  Scenario: A rolling restart of both NUTS nodes, one after the other
    When the publisher has sent 20 messages
    And NUTS node "a" is restarted, and the balancer sends it streams again
    And the publisher has sent 20 more messages
    And NUTS node "b" is restarted, and the balancer sends it streams again
    And the publisher has sent 20 more messages
    And the publisher stops
    Then every client has reconnected with the last id it saw, and was never refused
    And every client now streams from NUTS node "a"
    And every client receives every published message exactly once, in order, under fault "rolling restart"
