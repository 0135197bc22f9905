// The reviewer page: one file in, its verdict, a P(FAKE) timeline (one line per person when the response
// has `people`, else the fakest face of each frame), face thumbnails cut from the file by the browser,
// Grad-CAM overlays on request (explain=true), and every error as a sentence. Same origin as the API;
// the API key is kept in sessionStorage and sent as X-API-Key with every call (empty when none is set).
"use strict";

const KEY_STORE = "deepfake-api-key";
const SVG_NS = "http://www.w3.org/2000/svg";
const VIDEO_SUFFIXES = ["mp4", "m4v", "mov", "avi", "webm", "mkv"];
const COLORS = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e", "#283593"];
const MAX_THUMBS = 32;
const ERROR_TITLES = {
  400: "Bad request", 401: "API key needed", 404: "Not found", 413: "File too large",
  415: "Unsupported file", 422: "Cannot score this file", 429: "Service busy, try again shortly",
  504: "Took too long", 500: "Server error", 503: "Service not ready",
};

const $ = (id) => document.getElementById(id);
let model = null;               // the /model answer
let current = null;             // {file, result}
let requestSeq = 0;             // a newer request makes older answers stale
let thumbSeq = 0;               // a newer rendering stops the thumbnails of an older one

class ApiError extends Error {
  constructor(status, payload, fallback) {
    const detail = (payload && (payload.detail || payload.error)) || fallback || "no detail";
    const title = ERROR_TITLES[status] || (status >= 500 ? "Server error" : "Request refused");
    let text = `${title} (${status}): ${detail}`;
    if (status === 401) text += ". Enter the service's API key above.";
    super(text);
    this.status = status;
  }
}

function setState(state, text, isError = false) {
  document.body.dataset.state = state;
  $("message").textContent = text || "";
  $("message").className = isError ? "error" : "";
  $("explain").disabled = state === "busy" || !current;
}

async function call(endpoint, body, json = false) {
  // always sent, empty when no key is set: the guard refuses a form or multipart POST without it (a page
  // of another site cannot send a custom header without a preflight the service never grants)
  const headers = { "X-API-Key": sessionStorage.getItem(KEY_STORE) || "" };
  if (json) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`../${endpoint}`, { method: "POST", headers, body });
  } catch (exc) {
    throw new Error(`Cannot reach the service: ${exc.message}`);
  }
  const text = await response.text();
  let payload = null;
  try { payload = JSON.parse(text); } catch { /* a non-JSON answer: its text is the detail */ }
  if (!response.ok) throw new ApiError(response.status, payload, text.slice(0, 300));
  return payload;
}

// ------------------------------------------------------------------ model and key

async function loadModel() {
  try {
    model = await call("model", "{}", true);
  } catch (exc) {
    model = null;
    $("model").textContent = "model: –";
    setState("error", exc.message, true);
    return;
  }
  $("model").textContent = `model: ${model.tag} (${model.family}) · threshold ${model.threshold.toFixed(3)}`;
  $("limits").textContent = `Videos up to ${model.max_upload_mb} MB and ${model.max_duration_s} s ` +
    `(${model.frames_per_video} frames sampled, clip = ${model.aggregation} of its faces); JPEG, PNG, WebP images.`;
  setState("idle", "Ready: drop a file.");
}

function useKey(event) {
  event.preventDefault();
  const key = $("key").value.trim();
  if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
  $("key").value = "";
  $("key").placeholder = key ? "key set for this tab" : "X-API-Key, if the service needs one";
  loadModel();
}

// ------------------------------------------------------------------ scoring

function isVideo(file) {
  const suffix = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  return file.type.startsWith("video/") || VIDEO_SUFFIXES.includes(suffix);
}

async function score(file, explain) {
  const seq = ++requestSeq;
  if (!explain) { current = null; $("result").hidden = true; }
  setState("busy", `${explain ? "Computing Grad-CAM for" : "Scoring"} ${file.name} …`);
  const form = new FormData();
  form.append("file", file, file.name);
  if (explain) form.append("explain", "true");
  let result;
  try {
    result = await call(isVideo(file) ? "score_video" : "score_image", form);
  } catch (exc) {
    if (seq !== requestSeq) return;
    if (!explain) $("result").hidden = true;
    setState("error", exc.message, true);
    return;
  }
  if (seq !== requestSeq) return;
  current = { file, result };
  render(result, file, explain);
  const seconds = result.timings && result.timings.total_s;
  setState("done", `${file.name}: scored in ${seconds == null ? "?" : seconds.toFixed(1)} s.`);
}

function pick(file) {
  if (file) score(file, false);
}

// ------------------------------------------------------------------ rendering

function fmt(p) { return p == null ? "–" : p.toFixed(3); }

// p with enough digits (3 to 6) to tell it from the threshold: 0.49998 is not shown as 0.500.
function fmtAgainst(p, threshold) {
  let digits = 3;
  while (digits < 6 && p.toFixed(digits) === threshold.toFixed(digits) && p !== threshold) digits += 1;
  return p.toFixed(digits);
}

function render(result, file, explained) {
  $("result").hidden = false;
  const verdict = $("verdict");
  verdict.textContent = result.label;
  verdict.className = `verdict ${result.label}`;
  $("probability").textContent = result.probability == null
    ? `No face found: no score (threshold ${fmt(result.threshold)})`
    : `P(FAKE) ${fmtAgainst(result.probability, result.threshold)} · threshold ${fmt(result.threshold)} · ` +
      (result.probability >= result.threshold ? "at or above: FAKE" : "below: REAL");
  // ScoreResult.unfamiliar, for its reasons: most faces lie far from the training faces' embeddings,
  // or the clip carries fewer bits per pixel than the training clips (heavier compression)
  const why = (result.unfamiliar_reasons || []).map((r) => r === "faces"
    ? `${Math.round(100 * result.unfamiliar_share)}% of faces unlike the training faces`
    : `compressed harder than the training clips (${Number(result.media.bits_per_pixel).toFixed(4)} bits per pixel)`);
  $("unfamiliar").hidden = result.unfamiliar !== true;
  $("unfamiliar").textContent = result.unfamiliar
    ? `Unlike the training data: verdict unreliable (${why.join("; ")})`
    : "";
  const where = result.kind === "video"
    ? `${result.faces_found} faces in ${result.frames_with_faces} of ${result.frames_sampled} sampled frames`
    : `${result.faces_found} face(s) in the image`;
  $("details").textContent = `${result.file} · ${where} · model ${result.model_tag}` +
    (result.bento_tag ? ` (${result.bento_tag})` : "");
  $("raw").textContent = JSON.stringify(result, null, 2);
  $("timeline-box").hidden = result.kind !== "video";
  if (result.kind === "video") drawTimeline(result);
  drawFaces(result, file);
  $("explain").textContent = explained ? "Hide Grad-CAM" : "Show Grad-CAM";
  $("faces").classList.toggle("no-heatmaps", !explained);
}

// One series per person when the response has `people` and its faces carry `person`; else one
// series: the fakest face of every frame that has a face (the per-frame list).
function timelineSeries(result) {
  const frames = result.frames.filter((fr) => fr.frame !== null);
  if (Array.isArray(result.people) && result.people.length) {
    const series = new Map(result.people.map((p) => [p.person, { name: personName(p), points: [] }]));
    for (const fr of frames) {
      for (const face of fr.faces) {
        if (face.person == null) continue;
        if (!series.has(face.person)) series.set(face.person, { name: `person ${face.person}`, points: [] });
        series.get(face.person).points.push({ frame: fr.frame, p: face.probability, face: face.face });
      }
    }
    const withPoints = [...series.values()].filter((s) => s.points.length);
    if (withPoints.length) return withPoints;
  }
  const points = frames.filter((fr) => fr.probability != null).map((fr) => ({ frame: fr.frame, p: fr.probability }));
  return [{ name: "fakest face of each frame", points }];
}

// "person 1 · P(FAKE) 0.731" (+ "· not deciding" when too few frames to count towards the clip)
function personName(p) {
  const score = p.probability == null ? "" : ` · P(FAKE) ${fmt(p.probability)}`;
  return `person ${p.person}${score}${p.deciding === false ? " · not deciding" : ""}`;
}

function svg(tag, attrs, parent, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text != null) el.textContent = text;
  if (parent) parent.appendChild(el);
  return el;
}

function drawTimeline(result) {
  const box = $("timeline");
  box.replaceChildren();
  const W = 800, H = 240, L = 44, R = 28, T = 12, B = 34;
  const lastFrame = Math.max(1, (result.media && result.media.frames ? result.media.frames : 1) - 1,
    ...result.frames.map((fr) => fr.frame || 0));
  const x = (frame) => L + (frame / lastFrame) * (W - L - R);
  const y = (p) => T + (1 - p) * (H - T - B);
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    svg("line", { x1: L, x2: W - R, y1: y(tick), y2: y(tick), class: "grid" }, box);
    svg("text", { x: L - 6, y: y(tick) + 4, "text-anchor": "end" }, box, tick.toFixed(2));
  }
  svg("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }, box);
  svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }, box);
  const fps = result.media && result.media.fps;
  const sampled = result.frames.filter((f) => f.frame !== null);
  const every = Math.ceil(sampled.length / 12);  // at most 12 labels: 32 sampled frames would overlap
  for (const fr of sampled.filter((_, i) => i % every === 0)) {
    const label = fps ? `${(fr.frame / fps).toFixed(1)}s` : `${fr.frame}`;
    svg("text", { x: x(fr.frame), y: H - B + 16, "text-anchor": "middle", class: "tick" }, box, label);
  }
  svg("text", { x: (L + W - R) / 2, y: H - 2, "text-anchor": "middle" }, box, fps ? "time in the clip" : "frame");
  const thr = result.threshold;
  svg("line", { x1: L, x2: W - R, y1: y(thr), y2: y(thr), class: "threshold" }, box);
  svg("text", { x: L + 6, y: y(thr) - 8, "text-anchor": "start" }, box, `threshold ${fmt(thr)}`);
  const series = timelineSeries(result);
  const legend = [];
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map((pt, j) => `${j ? "L" : "M"}${x(pt.frame).toFixed(1)},${y(pt.p).toFixed(1)}`).join(" ");
    svg("path", { d, stroke: color, class: "series", "data-name": s.name }, box);
    for (const pt of s.points) {
      const dot = svg("circle", { cx: x(pt.frame), cy: y(pt.p), r: 5, fill: color, class: "point",
        "data-frame": pt.frame }, box);
      svg("title", {}, dot, `${s.name} · frame ${pt.frame} · P(FAKE) ${fmt(pt.p)}`);
      dot.addEventListener("click", () => highlightFrame(pt.frame));
    }
    legend.push(`<span style="color:${color}">●</span> ${s.name} (${s.points.length} frames)`);
  });
  $("legend").innerHTML = legend.join(" &nbsp; ");
}

function highlightFrame(frame) {
  for (const el of document.querySelectorAll("#timeline .point, #faces figure")) {
    el.classList.toggle("picked", String(el.dataset.frame) === String(frame));
  }
  const fig = document.querySelector(`#faces figure[data-frame="${frame}"]`);
  if (fig) fig.scrollIntoView({ block: "nearest" });
}

// ------------------------------------------------------------------ faces

function faceList(result) {
  const faces = [];
  for (const fr of result.frames) for (const face of fr.faces) faces.push({ frame: fr.frame, ...face });
  return faces.slice(0, MAX_THUMBS);
}

function drawFaces(result, file) {
  const box = $("faces");
  box.replaceChildren();
  const faces = faceList(result);
  if (!faces.length) {
    box.textContent = "No face found.";
    return;
  }
  const items = faces.map((face) => {
    const fig = document.createElement("figure");
    fig.dataset.frame = face.frame;
    const canvas = document.createElement("canvas");
    canvas.className = "thumb pending";
    canvas.width = canvas.height = 112;
    fig.appendChild(canvas);
    if (face.heatmap_png) {
      const img = document.createElement("img");
      img.className = "heatmap";
      img.alt = "Grad-CAM overlay";
      img.src = `data:image/png;base64,${face.heatmap_png}`;
      fig.appendChild(img);
    }
    const cap = document.createElement("figcaption");
    const who = face.person != null ? `person ${face.person} · ` : "";
    const when = face.frame == null ? "" : `frame ${face.frame} · `;
    cap.innerHTML = `${who}${when}<span class="${face.label}-text">${fmt(face.probability)} ${face.label}</span>`;
    fig.appendChild(cap);
    fig.addEventListener("click", () => face.frame != null && highlightFrame(face.frame));
    box.appendChild(fig);
    return { face, canvas };
  });
  if (!file) return;  // a response rendered without its file: captions only
  cutThumbnails(items, file, result, ++thumbSeq).catch((exc) => {
    box.insertAdjacentText("beforeend", ` (thumbnails unavailable: ${exc.message})`);
  });
}

function drawCrop(source, scale, canvas, box) {
  const [bx, by, bw, bh] = box.map((v) => v * scale);
  const side = Math.max(bw, bh) * 1.2;
  const cx = bx + bw / 2, cy = by + bh / 2;
  canvas.getContext("2d").drawImage(source, cx - side / 2, cy - side / 2, side, side, 0, 0, canvas.width, canvas.height);
  canvas.classList.remove("pending");
}

function once(el, ok, bad = "error") {
  return new Promise((resolve, reject) => {
    el.addEventListener(ok, resolve, { once: true });
    el.addEventListener(bad, () => reject(new Error("the browser cannot decode this file")), { once: true });
  });
}

// The faces are cut from the file in the browser: boxes are in the file's pixels, frames are indices.
async function cutThumbnails(items, file, result, seq) {
  const url = URL.createObjectURL(file);
  try {
    if (result.kind !== "video") {
      const img = new Image();
      const loaded = once(img, "load");
      img.src = url;
      await loaded;
      const scale = result.media && result.media.width ? img.naturalWidth / result.media.width : 1;
      for (const { face, canvas } of items) drawCrop(img, scale, canvas, face.box);
      return;
    }
    const video = document.createElement("video");
    video.muted = true;
    video.preload = "auto";
    const ready = once(video, "loadeddata");
    video.src = url;
    await ready;
    const fps = (result.media && result.media.fps) || 25;
    const scale = result.media && result.media.width ? video.videoWidth / result.media.width : 1;
    for (const { face, canvas } of items) {
      if (seq !== thumbSeq) return;
      const seeked = once(video, "seeked");
      video.currentTime = Math.min((face.frame + 0.5) / fps, Math.max(0, video.duration - 0.001));
      await seeked;
      drawCrop(video, scale, canvas, face.box);
    }
  } finally {
    URL.revokeObjectURL(url);
  }
}

// ------------------------------------------------------------------ wiring

function explainClicked() {
  if (!current) return;
  const shown = $("explain").textContent.startsWith("Hide");
  const hasHeatmaps = document.querySelector("#faces img.heatmap");
  if (shown) {
    $("faces").classList.add("no-heatmaps");
    $("explain").textContent = "Show Grad-CAM";
  } else if (hasHeatmaps) {
    $("faces").classList.remove("no-heatmaps");
    $("explain").textContent = "Hide Grad-CAM";
  } else {
    score(current.file, true);
  }
}

function wire() {
  $("key-form").addEventListener("submit", useKey);
  $("file").addEventListener("change", (e) => { pick(e.target.files[0]); e.target.value = ""; });
  $("explain").addEventListener("click", explainClicked);
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); pick(e.dataTransfer.files[0]); });
  if (sessionStorage.getItem(KEY_STORE)) $("key").placeholder = "key set for this tab";
  setState("idle", "Connecting …");
  loadModel();
}

wire();
