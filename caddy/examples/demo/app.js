// The demo page: one EventSource on /events?topic=<topic>, and a form that publishes with
// POST /events?topic=<topic>. Plain browser JavaScript, no build step.

const MAX_SHOWN = 200;

const topicInput = document.querySelector("#topic");
const statusLabel = document.querySelector("#status");
const eventList = document.querySelector("#events");
const messageInput = document.querySelector("#message");
const publishResult = document.querySelector("#publish-result");

/** @type {EventSource | undefined} */
let source;

function setStatus(state, text = state) {
  statusLabel.dataset.state = state;
  statusLabel.textContent = text;
}

function connect() {
  const topic = topicInput.value.trim();
  if (topic === "") return;
  source?.close();
  eventList.replaceChildren();
  setStatus("connecting", `connecting to ${topic}…`);

  const current = new EventSource(`/events?topic=${encodeURIComponent(topic)}`);
  source = current;
  current.addEventListener("connected", () => setStatus("connected", `connected to ${topic}`));
  current.addEventListener("message", (event) => showEvent(event));
  current.addEventListener("unavailable", (event) => {
    setStatus("unavailable", `unavailable: ${describeError(event.data)}`);
  });
  current.addEventListener("error", () => {
    if (source !== current) return;
    // EventSource retries on its own while readyState is CONNECTING; CLOSED means it gave up
    // (for instance a 4xx answer for an invalid topic).
    if (current.readyState === EventSource.CLOSED) setStatus("closed", "closed; press Connect");
    else setStatus("reconnecting", "reconnecting…");
  });
}

/** Each event's data is {"topic", "payload", "time"}; its id is the JetStream sequence. */
function showEvent(event) {
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    message = { topic: "?", payload: event.data, time: "" };
  }
  const item = document.createElement("li");
  item.dataset.id = event.lastEventId;
  item.append(
    field("id", `#${event.lastEventId}`),
    field("topic", message.topic),
    field("payload", formatPayload(message.payload)),
    field("time", formatTime(message.time)),
  );
  eventList.prepend(item);
  while (eventList.children.length > MAX_SHOWN) eventList.lastElementChild.remove();
}

function field(name, text) {
  const span = document.createElement("span");
  span.className = name;
  span.textContent = text;
  return span;
}

function formatPayload(payload) {
  return typeof payload === "string" ? payload : JSON.stringify(payload);
}

function formatTime(iso) {
  const time = new Date(iso);
  return Number.isNaN(time.getTime()) ? iso : time.toLocaleTimeString();
}

function describeError(text) {
  try {
    const body = JSON.parse(text);
    return body.message ?? body.error ?? text;
  } catch {
    return text;
  }
}

async function publish() {
  const topic = topicInput.value.trim();
  if (topic === "") return;
  publishResult.textContent = "publishing…";
  try {
    const response = await fetch(`/events?topic=${encodeURIComponent(topic)}`, {
      method: "POST",
      body: messageInput.value,
    });
    const text = await response.text();
    if (!response.ok) {
      publishResult.textContent = `failed (${response.status}): ${describeError(text)}`;
      return;
    }
    const { seq } = JSON.parse(text);
    publishResult.textContent = `stored as #${seq} on ${topic}`;
  } catch (error) {
    publishResult.textContent = `failed: ${error.message}`;
  }
}

document.querySelector("#subscribe-form").addEventListener("submit", (event) => {
  event.preventDefault();
  connect();
});
document.querySelector("#publish-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void publish();
});
// Subscribe to the default topic at once; #connect switches topics (and starts over).
connect();
