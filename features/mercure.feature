Feature: A Mercure hub on NATS
  A Caddyfile written for Mercure's hub, with only the NATS transport added, runs under
  `nuts run`: publishers post forms, subscribers use Mercure's selectors and tokens, and the
  updates live in the MERCURE JetStream stream.

  Background:
    Given the JetStream stream "MERCURE" captures "mercure.>"
    And nuts run serves the Mercure example "caddy/examples/mercure.Caddyfile"

  Scenario: Updates reach the subscribers whose selectors match, once, with their id, type and data
    When a subscriber "exact" subscribes to the hub with "topic=https://example.com/books/1"
    And a subscriber "template" subscribes to the hub with "topic=https://example.com/books/{id}"
    And a subscriber "several" subscribes to the hub with "topic=https://example.com/books/1&topic=https://example.com/authors/1"
    And a subscriber "everything" subscribes to the hub with "topic=*"
    And a subscriber "elsewhere" subscribes to the hub with "topic=https://example.com/movies/{id}"
    And a publisher posts to the hub:
      | topic | https://example.com/books/1   |
      | topic | https://example.com/authors/1 |
      | data  | line 1\nline 2                |
      | id    | book-1-v1                     |
      | type  | book                          |
    Then the hub answers 200 with the body "book-1-v1"
    When a publisher posts to the hub:
      | topic | https://example.com/books/2 |
      | data  | {"title":"Two"}             |
      | id    | book-2-v1                   |
    Then the hub answers 200 with the body "book-2-v1"
    And "exact" receives exactly these events:
      | id        | event | data           |
      | book-1-v1 | book  | line 1\nline 2 |
    And "several" receives exactly these events:
      | id        | event | data           |
      | book-1-v1 | book  | line 1\nline 2 |
    And "template" receives exactly these events:
      | id        | event | data            |
      | book-1-v1 | book  | line 1\nline 2  |
      | book-2-v1 |       | {"title":"Two"} |
    And "everything" receives exactly these events:
      | id        | event | data            |
      | book-1-v1 | book  | line 1\nline 2  |
      | book-2-v1 |       | {"title":"Two"} |
    And "elsewhere" receives nothing

  Scenario: Private updates reach only subscribers whose token allows one of their topics
    When a subscriber "allowed" with a token for "https://example.com/users/{id}" subscribes to the hub with "topic=https://example.com/users/7"
    And a subscriber "other-claim" with a token for "https://example.com/admin" subscribes to the hub with "topic=https://example.com/users/7"
    And a subscriber "anonymous" subscribes to the hub with "topic=https://example.com/users/7"
    And a publisher posts to the hub:
      | topic   | https://example.com/users/7 |
      | data    | private profile             |
      | id      | user-7-private              |
      | private | on                          |
    And a publisher posts to the hub:
      | topic | https://example.com/users/7 |
      | data  | public profile              |
      | id    | user-7-public               |
    Then "allowed" receives exactly these events:
      | id             | event | data            |
      | user-7-private |       | private profile |
      | user-7-public  |       | public profile  |
    And "other-claim" receives exactly these events:
      | id            | event | data           |
      | user-7-public |       | public profile |
    And "anonymous" receives exactly these events:
      | id            | event | data           |
      | user-7-public |       | public profile |

  Scenario: A subscriber resumes after any id the hub issued, and is told where replay started
    When a publisher posts to the hub:
      | topic | https://example.com/feed |
      | data  | first                    |
      | id    | feed-1                   |
    And a publisher posts to the hub:
      | topic | https://example.com/feed |
      | data  | second                   |
    And a publisher posts to the hub:
      | topic | https://example.com/feed |
      | data  | third                    |
      | id    | feed-3                   |
    And a subscriber "resumed" resumes after "feed-1" with "topic=https://example.com/feed"
    And a subscriber "from-the-start" resumes after "earliest" with "topic=https://example.com/feed"
    And a subscriber "unknown" resumes after "no-such-id" with "topic=https://example.com/feed"
    Then "resumed" receives 2 events, the last with id "feed-3"
    And the response to "resumed" says replay started after "feed-1"
    And "from-the-start" receives 3 events, the last with id "feed-3"
    And the response to "from-the-start" says replay started after "earliest"
    And "unknown" receives 3 events, the last with id "feed-3"
    And the response to "unknown" says replay started after "earliest"

  Scenario: Publishing is refused without a valid token, with bad fields, or past the limits
    When a publisher with the token "forged.token.here" posts to the hub:
      | topic | https://example.com/books/1 |
    Then the hub answers 401 with the error "unauthorized"
    When a publisher posts to the hub:
      | data | no topic |
    Then the hub answers 400 with the error "missing_topic"
    When a publisher posts to the hub:
      | topic | https://example.com/books/1 |
      | id    | #fragment                   |
    Then the hub answers 400 with the error "invalid_id"
    When a publisher posts to the hub:
      | topic | https://example.com/books/1 |
      | type  | mercure                     |
    Then the hub answers 400 with the error "invalid_type"
    When a publisher posts to the hub:
      | topic | https://example.com/books/1 |
      | retry | soon                        |
    Then the hub answers 400 with the error "invalid_retry"

  Scenario: Subscribers coming and going are published as subscription events and listed by the API
    When a subscriber "watcher" with a token for "/.well-known/mercure/subscriptions{/topic}{/subscriber}" subscribes to the hub with "topic=/.well-known/mercure/subscriptions/{topic}/{subscriber}"
    And a subscriber "reader" subscribes to the hub with "topic=https://example.com/rooms/1"
    Then "watcher" receives the subscription event: a subscriber of "https://example.com/rooms/1" is active
    And the subscriptions API lists 1 subscription to "https://example.com/rooms/1", the one of that event
    When "reader" leaves
    Then "watcher" receives the subscription event: a subscriber of "https://example.com/rooms/1" is inactive
    And the subscriptions API lists 0 subscriptions to "https://example.com/rooms/1"
    And the subscriptions API answers 401 without a token and 403 to a token for "https://example.com/rooms/1"

  @browser
  Scenario: A browser publishes with fetch and receives with EventSource
    When a visitor opens the hub's page in Chromium
    Then the browser's EventSources receive exactly what their selectors and tokens allow

  @browser
  Scenario: The hub's page subscribes and publishes with its own forms
    When a visitor opens the hub's page in Chromium
    And the visitor subscribes with the page's form to "https://example.com/books/{id}"
    And the visitor publishes with the page's form to "https://example.com/books/1" the data "{\"title\":\"Hello\"}" with id "ui-1" and type "book"
    Then the page says "published ui-1"
    And the page lists exactly the update "ui-1" of type "book" with the data "{\"title\":\"Hello\"}"
    When the visitor publishes with the page's form without a token
    Then the page says "401 " followed by the hub's error "unauthorized"
