/**
 * The hub's debugging page (`ui` option), like Mercure's own: subscribe to selectors and watch
 * updates arrive, publish an update with a publisher token. Everything is escaped as text; the
 * page holds no secrets of its own.
 */
export function UI_PAGE(hubPath: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<meta charset="utf-8">
<title>NUTS Mercure hub</title>
<style>
body{font:15px system-ui,sans-serif;margin:2em auto;max-width:56em;padding:0 1em}
fieldset{margin-bottom:1.5em}label{display:block;margin:.4em 0}
input[type=text],textarea{width:100%;box-sizing:border-box;font:inherit}
#updates li{font-family:monospace;white-space:pre-wrap;border-bottom:1px solid #ddd;padding:.3em 0}
</style>
<h1>Mercure hub on NATS</h1>
<p>Hub URL: <code id="hub"></code></p>
<fieldset><legend>Subscribe</legend>
<form id="subscribe">
<label>Topic selectors (one per line; exact topics, URI templates or *)<textarea id="selectors" rows="3">https://example.com/books/{id}</textarea></label>
<label>Subscriber token (optional)<input type="text" id="subscriber-token" autocomplete="off"></label>
<label>Last event ID (optional)<input type="text" id="last-event-id" autocomplete="off"></label>
<button type="submit" id="subscribe-button">Subscribe</button> <button type="button" id="unsubscribe">Unsubscribe</button>
<span id="status">not subscribed</span>
</form>
<ol id="updates"></ol>
</fieldset>
<fieldset><legend>Publish</legend>
<form id="publish">
<label>Topics (one per line)<textarea id="topics" rows="2">https://example.com/books/1</textarea></label>
<label>Data<textarea id="data" rows="3">{"title":"Hello"}</textarea></label>
<label><input type="checkbox" id="private"> private</label>
<label>ID (optional)<input type="text" id="id" autocomplete="off"></label>
<label>Type (optional)<input type="text" id="type" autocomplete="off"></label>
<label>Publisher token<input type="text" id="publisher-token" autocomplete="off"></label>
<button type="submit" id="publish-button">Publish</button> <output id="published"></output>
</form>
</fieldset>
<script>
const hub = new URL(${JSON.stringify(hubPath)}, location.href);
document.getElementById("hub").textContent = hub.href;
let source;
const lines = (id) => document.getElementById(id).value.split("\\n").map((s) => s.trim()).filter(Boolean);
const value = (id) => document.getElementById(id).value.trim();
document.getElementById("subscribe").addEventListener("submit", (event) => {
  event.preventDefault();
  source?.close();
  const url = new URL(hub);
  for (const selector of lines("selectors")) url.searchParams.append("topic", selector);
  if (value("subscriber-token")) url.searchParams.set("authorization", value("subscriber-token"));
  if (value("last-event-id")) url.searchParams.set("lastEventID", value("last-event-id"));
  source = new EventSource(url);
  const status = document.getElementById("status");
  status.textContent = "connecting";
  source.onopen = () => { status.textContent = "subscribed"; };
  source.onerror = () => { status.textContent = source.readyState === 2 ? "closed" : "reconnecting"; };
  source.onmessage = show;
  const shown = new Set(["message"]);
  window.listenFor = (type) => { if (!shown.has(type)) { shown.add(type); source.addEventListener(type, show); } };
});
function show(event) {
  const item = document.createElement("li");
  item.dataset.id = event.lastEventId;
  item.dataset.type = event.type;
  item.textContent = event.type + " " + event.lastEventId + "\\n" + event.data;
  document.getElementById("updates").append(item);
}
document.getElementById("unsubscribe").addEventListener("click", () => {
  source?.close();
  document.getElementById("status").textContent = "not subscribed";
});
document.getElementById("publish").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new URLSearchParams();
  for (const topic of lines("topics")) form.append("topic", topic);
  form.set("data", document.getElementById("data").value);
  if (document.getElementById("private").checked) form.set("private", "on");
  if (value("id")) form.set("id", value("id"));
  if (value("type")) { form.set("type", value("type")); window.listenFor?.(value("type")); }
  const response = await fetch(hub, { method: "POST", body: form, headers: { Authorization: "Bearer " + value("publisher-token") } });
  const text = await response.text();
  document.getElementById("published").textContent = response.ok ? "published " + text : response.status + " " + text;
});
</script>
</html>
`;
}
