@docker
Feature: The demo in Docker
  The compose stack (`make docker-up`) serves the demo page on its published port, and a
  message the page's form publishes reaches a subscriber's EventSource.

  Scenario: The demo page is served and what it publishes reaches an EventSource
    Given I am connected to SSE endpoint "/events?topic=demo"
    When a visitor requests the demo page
    Then the demo page and its script are served
    When the page's form publishes '{"from": "the page"}' to the topic "demo"
    Then I should receive an SSE event with topic "demo"
    And the event should have an ID
