// The review queue on the reviewer page: the requests the service kept for a person (newest first: why, P(FAKE),
// threshold, model tag, a thumbnail), each labelled REAL or FAKE with a note. /review_items and /review_label
// need the admin key; /review_label is the code path of `deepfake review label`, so the label lands in the
// feedback dataset (data.feedback_dir) exactly as from the CLI. Uses call() and $() of reviewer.js.
"use strict";

function queueEntry(entry) {
  const item = entry.item;
  const li = document.createElement("li");
  li.className = "queue-item";
  li.dataset.id = item.id;
  li.dataset.label = item.label || "";
  const img = document.createElement("img");
  img.className = "queue-thumb";
  img.alt = "first face crop";
  if (entry.thumbnail) img.src = `data:image/jpeg;base64,${entry.thumbnail}`;
  li.appendChild(img);
  const meta = document.createElement("div");
  meta.className = "queue-meta";
  const verdict = item.score >= item.threshold ? "FAKE" : "REAL";
  const line1 = document.createElement("div");
  line1.textContent = `${item.time.replace("T", " ").slice(0, 19)} · kept: ${item.reason} · ` +
    `P(FAKE) ${item.score.toFixed(3)} (threshold ${item.threshold.toFixed(3)}: ${verdict})`;
  const line2 = document.createElement("div");
  line2.className = "hint";
  line2.textContent = `${item.file} · model ${item.model_tag} · ${item.crops.length} face crop(s) · ${item.id}`;
  meta.append(line1, line2);
  const note = document.createElement("input");
  note.className = "note";
  note.placeholder = "note (why)";
  note.maxLength = 1000;
  note.value = item.note || "";
  const state = document.createElement("span");
  state.className = "state";
  state.textContent = item.label ? `labelled ${item.label}` : "";
  const buttons = ["REAL", "FAKE"].map((label) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `label-${label.toLowerCase()}`;
    b.textContent = label;
    b.addEventListener("click", () => labelItem(li, item.id, label));
    return b;
  });
  meta.append(note, ...buttons, state);
  li.appendChild(meta);
  return li;
}

async function loadQueue() {
  const box = $("queue-box");
  box.dataset.state = "busy";
  $("queue-status").textContent = "Loading …";
  let listing;
  try {
    listing = await call("review_items", JSON.stringify({ labelled: $("queue-labelled").checked }), true);
  } catch (exc) {
    box.dataset.state = "error";
    $("queue-status").textContent = exc.message;
    return;
  }
  $("queue").replaceChildren(...listing.items.map(queueEntry));
  $("queue-status").textContent = `${listing.waiting} waiting for a label, ${listing.labelled} labelled` +
    (listing.enabled ? "" : " (the service keeps no crops: serve.review.keep_crops is off)");
  box.dataset.state = "loaded";
}

async function labelItem(li, id, label) {
  const state = li.querySelector(".state");
  state.textContent = "saving …";
  try {
    const item = await call("review_label", JSON.stringify({ item_id: id, label, note: li.querySelector(".note").value }),
      true);
    li.dataset.label = item.label;
    state.textContent = `labelled ${item.label}`;
  } catch (exc) {
    li.dataset.label = "error";
    state.textContent = exc.message;
  }
}

$("queue-load").addEventListener("click", loadQueue);
$("queue-labelled").addEventListener("change", loadQueue);
