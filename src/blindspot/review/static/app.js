// blindspot review: the page. Plain JavaScript, no library, nothing fetched from elsewhere.
// The server keeps the files; this page shows one file at a time, edits its review (faces,
// plates and text: boxes at key frames, start/end frames, keep or drop, mode; the speech of a
// video or a sound file: spans of its sound, each kept, muted, disguised or revoiced, and what
// the new voice says in a revoiced span: its lines, as the server transcribed them, edited
// here) and sends it back after each change. A sound file has no picture: its waveform, its
// spans over it, and a player.
"use strict";

const TOKEN = document.querySelector('meta[name="blindspot-token"]').content;
const SVG = "http://www.w3.org/2000/svg";  // a namespace name, never fetched
const MODES = ["solid", "mosaic", "blur"];
// "1 file", "2 files": a count and its noun agreeing (as blindspot.wording.count).
const counted = (n, noun, plural) => `${n} ${n === 1 ? noun : plural || noun + "s"}`;
// What a box covers (blindspot.review.state.REVIEW_KINDS); a box saved without one is a face.
const KIND_NAMES = { face: "Face", plate: "Plate", text: "Text", person: "Person" };
const DRAW_KINDS = ["face", "text", "person"];  // what a drawn box can be (T goes round them)
// What happens to a speech span (blindspot.options.VOICES).
const VOICES = ["keep", "mute", "disguise", "revoice"];
const VOICE_DONE = { keep: "kept", mute: "muted", disguise: "disguised", revoice: "revoiced" };
// Where spans overlap, the edit that the export applies (blindspot.audio.edit: a mute wins,
// then a disguise, then a revoice; a keep changes nothing).
const WINS = { keep: 0, revoice: 1, disguise: 2, mute: 3 };
const WORD_KINDS = { name: "a name?", number: "a number?", place: "a place?" };
const MIN_SPEECH = 0.05;  // seconds: a span marked shorter than this is dropped
const $ = (id) => document.getElementById(id);

const ui = {
  page: 0, pages: 1, files: [], total: 0,
  key: null, file: null, review: null,  // the open file and its review
  frame: 0, selected: null, preview: false, version: 0, drawKind: "face",
  playing: false, drag: null, saving: Promise.resolve(), saveTimer: null,
  savedIds: new Set(), savedVersion: 0,  // the faces the server knows (it makes their thumbnails)
  speechSelected: null, marking: null,  // the selected speech span; {start} while marking one
  playUntil: null, waveDrag: null,  // a sound: where playing a span stops; a drag on its waveform
  polling: false,  // asking the server for lines still being transcribed
};

// ------------------------------------------------------------------ server

async function api(method, url, body) {
  const options = { method, headers: { "X-Blindspot-Token": TOKEN } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

const enc = (key) => key.split("/").map(encodeURIComponent).join("/");

// ------------------------------------------------------------------ file list

async function loadPage(number) {
  const data = await api("GET", `/api/files?page=${number}`);
  Object.assign(ui, { page: data.page, pages: data.pages, files: data.files, total: data.total });
  $("pageInfo").textContent = `${data.page + 1} / ${data.pages} · ${counted(data.total, "file")}`;
  $("problems").textContent = data.problems.join("\n");
  renderFileList();
  return data;
}

function renderFileList() {
  const list = $("fileList");
  list.replaceChildren();
  for (const f of ui.files) {
    const li = document.createElement("li");
    li.dataset.key = f.key;
    li.className = f.key === ui.key ? "current" : "";
    let img;
    if (f.kind === "sound") {  // no picture: a sign
      img = document.createElement("span");
      img.className = "thumb sound";
      img.textContent = "♪";
    } else {
      img = document.createElement("img");
      img.loading = "lazy";
      img.alt = "";
      img.src = `/api/thumb/${enc(f.key)}`;
    }
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = f.name;
    const badges = document.createElement("span");
    badges.className = "badges";
    badges.textContent = ({ video: "▶ ", sound: "♪ " }[f.kind] || "") + (f.reviewed ? "✓ reviewed " : "")
      + (f.exported ? "⬆ exported" : "");
    li.append(img, name, badges);
    li.addEventListener("click", () => openFile(f.key));
    list.append(li);
  }
  const reviewed = ui.files.filter((f) => f.reviewed).length;
  $("reviewCount").textContent = `${reviewed} of ${ui.files.length} reviewed on this page`;
}

async function step(delta) {
  const index = ui.files.findIndex((f) => f.key === ui.key);
  let next = index + delta;
  if (next >= ui.files.length && ui.page + 1 < ui.pages) {
    await loadPage(ui.page + 1);
    next = 0;
  } else if (next < 0 && ui.page > 0) {
    await loadPage(ui.page - 1);
    next = ui.files.length - 1;
  }
  if (next >= 0 && next < ui.files.length) await openFile(ui.files[next].key);
}

// ------------------------------------------------------------------ one file

async function openFile(key) {
  await flushSave();
  stopPlaying();
  Object.assign(ui, { key, file: null, review: null, selected: null, frame: 0,
    speechSelected: null, marking: null });
  renderFileList();
  $("picture").removeAttribute("src");
  $("overlay").replaceChildren();
  $("faceList").replaceChildren();
  $("speechPanel").hidden = true;
  closeSound();
  for (;;) {
    const data = await api("GET", `/api/file/${enc(key)}`);
    if (ui.key !== key) return;  // another file was chosen meanwhile
    $("fileTitle").textContent = `${data.name} → ${data.output}`;
    if (data.status === "error") return message(`Cannot open ${data.name}: ${data.error}`);
    if (data.status === "ready") {
      ui.file = data;
      ui.review = data.review;
      ui.savedIds = new Set(data.review.faces.map((f) => f.id));
      break;
    }
    message(`${data.name}: ${data.progress || "loading"}…`, true);
    await sleep(400);
  }
  message("");
  const video = ui.file.kind === "video";
  const sound = ui.file.kind === "sound";
  $("viewer").classList.toggle("sound", sound);
  $("faces").hidden = sound;
  for (const id of ["drawKind", "previewLabel"]) $(id).hidden = sound;
  $("speechPanel").hidden = !(video || sound);
  if (video || sound) {
    const voice = ui.file.voice && ui.file.voice !== "keep" ? ui.file.voice : "mute";
    $("markVoice").value = voice;
  }
  pollTranscripts();
  if (sound) return openSound();
  setDrawKind(ui.drawKind);
  $("player").hidden = ui.review.frames < 2;
  $("playBtn").hidden = !video;
  $("videoModeLabel").hidden = !video;
  $("videoMode").value = ui.review.mode;
  $("timeline").max = String(ui.review.frames - 1);
  $("overlay").setAttribute("viewBox", `0 0 ${ui.review.width} ${ui.review.height}`);
  // Boxes stay in stored pixels; a video whose pixels are not square is shown as displayed.
  $("overlay").setAttribute("preserveAspectRatio", "none");
  $("canvas").dataset.ready = "1";
  fitPicture();
  renderSpeech();
  showFrame(0);
  renderFaces();
}

// The picture as large as the stage allows (small videos are enlarged up to 3×), as it is
// displayed: a video's pixels widened (or heightened) to their aspect ratio, as a player does.
function fitPicture() {
  if (!ui.review || isSound()) return;
  const stage = $("stage").getBoundingClientRect();
  const aspect = (ui.file && ui.file.aspect) || 1;
  const width = ui.review.width * Math.max(1, aspect), height = ui.review.height * Math.max(1, 1 / aspect);
  const scale = Math.min(3, (stage.width - 16) / width, (stage.height - 16) / height);
  $("picture").style.width = `${Math.max(1, Math.floor(width * scale))}px`;
  $("picture").style.height = `${Math.max(1, Math.floor(height * scale))}px`;
  drawOverlay();
}

function message(text, busy = false) {
  $("message").textContent = text;
  $("message").className = busy ? "busy" : "";
  $("canvas").hidden = Boolean(text) || isSound();
  $("soundView").hidden = Boolean(text) || !isSound() || !ui.review;
}

const isSound = () => Boolean(ui.file && ui.file.kind === "sound");

function showFrame(frame) {
  if (!ui.review || isSound()) return;
  ui.frame = Math.max(0, Math.min(ui.review.frames - 1, frame));
  const anon = ui.preview ? "&anon=1" : "";
  $("picture").src = `/api/frame/${enc(ui.key)}?n=${ui.frame}${anon}&v=${ui.version}`;
  $("timeline").value = String(ui.frame);
  if (ui.file.kind === "video") {
    const t = ui.file.times[ui.frame] || 0;
    $("timeText").textContent = `${fmtTime(t)} · frame ${ui.frame + 1} / ${ui.review.frames}`;
    showSpeechNow(t);
  } else {
    $("timeText").textContent = `frame ${ui.frame + 1} / ${ui.review.frames}`;
    if (ui.review.frames > 1) renderFaces();  // an animation's cards are per frame
  }
  drawOverlay();
}

const fmtShort = (t) => `${Math.floor(t / 60)}:${(t % 60).toFixed(1).padStart(4, "0")}`;
const fmtTime = (t) => `${Math.floor(t / 60)}:${(t % 60).toFixed(2).padStart(5, "0")}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ faces: geometry

function boxAt(face, frame) {
  if (frame < face.start || frame > face.end || !face.keys.length) return null;
  const keys = face.keys;
  if (frame <= keys[0][0]) return keys[0].slice(1);
  const last = keys[keys.length - 1];
  if (frame >= last[0]) return last.slice(1);
  let i = 1;
  while (keys[i][0] < frame) i++;
  const [a, b] = [keys[i - 1], keys[i]];
  const t = (frame - a[0]) / (b[0] - a[0]);
  return [1, 2, 3, 4].map((c) => a[c] + t * (b[c] - a[c]));
}

function setKey(face, frame, box) {
  const key = [frame, ...box.map((v) => Math.round(v * 10) / 10)];
  const at = face.keys.findIndex((k) => k[0] === frame);
  if (at >= 0) face.keys[at] = key;
  else {
    face.keys.push(key);
    face.keys.sort((a, b) => a[0] - b[0]);
  }
  face.start = Math.min(face.start, frame);
  face.end = Math.max(face.end, frame);
}

const kindOf = (face) => face.kind || "face";
const faceLabel = (face) => (face.source === "drawn" ? `Added ${kindOf(face)} ` : `${KIND_NAMES[kindOf(face)]} `)
  + face.id.replace(/^[a-z]/, "");
// A plate or text not covered is "left visible" (the session did not cover its kind, or the
// reviewer left it); a face not covered is "dropped" (not a face).
const notKept = (face) => (kindOf(face) === "face" ? "dropped" : "left visible");

function visibleFaces() {
  return ui.review.faces.map((face) => [face, boxAt(face, ui.frame)]).filter(([, box]) => box);
}

// ------------------------------------------------------------------ faces: drawing

function drawOverlay() {
  const svg = $("overlay");
  svg.replaceChildren();
  if (!ui.review) return;
  const scale = ui.file.mask_scale;
  const unit = ui.review.width / Math.max(1, $("picture").clientWidth || ui.review.width);
  for (const [face, box] of visibleFaces()) {
    const [x1, y1, x2, y2] = box;
    const g = document.createElementNS(SVG, "g");
    g.classList.add("face", face.keep ? "kept" : "dropped");
    if (face.id === ui.selected) g.classList.add("selected");
    g.dataset.id = face.id;
    g.dataset.kind = kindOf(face);
    // The mask as the export makes it: an ellipse around a face, a rectangle padded by
    // shares of its height around other kinds (blindspot.redact.PADS).
    const [padX, pad] = ((ui.file.pads || {})[kindOf(face)] || [0, 0]).map((share) => share * (y2 - y1));
    let mask;
    if (kindOf(face) === "face") {
      mask = document.createElementNS(SVG, "ellipse");
      attrs(mask, { cx: (x1 + x2) / 2, cy: (y1 + y2) / 2, rx: Math.max((x2 - x1) * scale / 2, 0.5),
        ry: Math.max((y2 - y1) * scale / 2, 0.5) });
    } else {
      mask = document.createElementNS(SVG, "rect");
      attrs(mask, { x: x1 - padX, y: y1 - pad, width: x2 - x1 + 2 * padX, height: y2 - y1 + 2 * pad });
    }
    mask.classList.add("mask");
    mask.setAttribute("stroke-width", String(2 * unit));
    const rect = document.createElementNS(SVG, "rect");
    attrs(rect, { x: x1, y: y1, width: x2 - x1, height: y2 - y1, "stroke-width": 1.5 * unit, class: "box" });
    const text = document.createElementNS(SVG, "text");
    attrs(text, { x: x1, y: y1 - pad - 4 * unit, "font-size": 13 * unit });
    text.textContent = faceLabel(face) + (face.keep ? "" : ` (${notKept(face)})`);
    g.append(mask, rect, text);
    if (face.id === ui.selected) {
      for (const [cx, cy] of [[x1, y1], [x2, y1], [x1, y2], [x2, y2]]) {
        const h = document.createElementNS(SVG, "rect");
        attrs(h, { x: cx - 4 * unit, y: cy - 4 * unit, width: 8 * unit, height: 8 * unit,
          class: "handle" });
        g.append(h);
      }
    }
    svg.append(g);
  }
  if (ui.drag && ui.drag.kind === "draw") {
    const [x1, y1, x2, y2] = ui.drag.box;
    const rect = document.createElementNS(SVG, "rect");
    attrs(rect, { x: x1, y: y1, width: x2 - x1, height: y2 - y1, class: "drawing",
      "stroke-width": 2 * unit });
    rect.dataset.kind = ui.drawKind;
    svg.append(rect);
  }
}

function attrs(element, values) {
  for (const [k, v] of Object.entries(values)) element.setAttribute(k, String(v));
}

// Picture coordinates of a pointer event.
function toPicture(event) {
  const r = $("overlay").getBoundingClientRect();
  return [(event.clientX - r.left) * ui.review.width / r.width,
    (event.clientY - r.top) * ui.review.height / r.height];
}

function onPointerDown(event) {
  if (!ui.review || event.button !== 0) return;
  event.preventDefault();
  stopPlaying();
  const [x, y] = toPicture(event);
  const r = $("overlay").getBoundingClientRect();
  const near = 10 * ui.review.width / r.width;  // 10 screen px
  const visible = visibleFaces();
  const selected = visible.find(([face]) => face.id === ui.selected);
  if (selected) {
    const [, [x1, y1, x2, y2]] = selected;
    const corners = [[x1, y1, 0, 1], [x2, y1, 2, 1], [x1, y2, 0, 3], [x2, y2, 2, 3]];
    const corner = corners.find(([cx, cy]) => Math.abs(cx - x) < near && Math.abs(cy - y) < near);
    if (corner) {
      ui.drag = { kind: "resize", face: selected[0], box: [x1, y1, x2, y2], cx: corner[2], cy: corner[3] };
      $("overlay").setPointerCapture(event.pointerId);
      return;
    }
  }
  // The smallest face under the pointer (a small one inside a big one stays reachable).
  const hits = visible.filter(([, b]) => x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3])
    .sort((a, b) => (a[1][2] - a[1][0]) * (a[1][3] - a[1][1]) - (b[1][2] - b[1][0]) * (b[1][3] - b[1][1]));
  if (hits.length) {
    const [face, box] = hits.find(([f]) => f.id === ui.selected) || hits[0];
    select(face.id);
    ui.drag = { kind: "move", face, box: box.slice(), start: [x, y], from: box.slice(), moved: false };
  } else {
    select(null);
    ui.drag = { kind: "draw", start: [x, y], box: [x, y, x, y] };
  }
  $("overlay").setPointerCapture(event.pointerId);
}

function onPointerMove(event) {
  const drag = ui.drag;
  if (!drag) return;
  const [x, y] = toPicture(event);
  if (drag.kind === "draw") {
    const [sx, sy] = drag.start;
    drag.box = [Math.min(sx, x), Math.min(sy, y), Math.max(sx, x), Math.max(sy, y)];
    drawOverlay();
    return;
  }
  if (drag.kind === "move") {
    const [dx, dy] = [x - drag.start[0], y - drag.start[1]];
    if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
    drag.box = [drag.from[0] + dx, drag.from[1] + dy, drag.from[2] + dx, drag.from[3] + dy];
  } else {
    drag.box[drag.cx] = x;
    drag.box[drag.cy] = y;
  }
  previewDrag(drag);
}

// While dragging, draw the face at its new place without changing the review yet.
function previewDrag(drag) {
  const saved = drag.face.keys;
  const [start, end] = [drag.face.start, drag.face.end];
  drag.face.keys = saved.map((k) => k.slice());
  setKey(drag.face, ui.frame, normal(drag.box));
  drawOverlay();
  drag.face.keys = saved;
  [drag.face.start, drag.face.end] = [start, end];
}

function normal([a, b, c, d]) {
  return [Math.min(a, c), Math.min(b, d), Math.max(a, c), Math.max(b, d)];
}

function onPointerUp() {
  const drag = ui.drag;
  ui.drag = null;
  if (!drag) return;
  if (drag.kind === "draw") {
    const [x1, y1, x2, y2] = drag.box;
    if (x2 - x1 >= 4 && y2 - y1 >= 4) addFace(drag.box);
    else drawOverlay();
    return;
  }
  if (drag.kind === "move" && !drag.moved) return drawOverlay();
  const box = normal(drag.box);
  if (box[2] - box[0] < 2 || box[3] - box[1] < 2) return drawOverlay();
  setKey(drag.face, ui.frame, box);
  changed();
}

function addFace(box) {
  const taken = new Set(ui.review.faces.map((f) => f.id));
  let n = 1;
  while (taken.has(`d${n}`)) n++;
  const video = ui.file.kind === "video";
  const kind = ui.drawKind;
  const face = { id: `d${n}`, source: "drawn", keep: true, mode: defaultMode(kind), kind,
    start: ui.frame, end: video ? ui.review.frames - 1 : ui.frame, score: 1, keys: [] };
  setKey(face, ui.frame, box);
  ui.review.faces.push(face);
  select(face.id);
  changed();
}

// The mode of a new box of `kind`: its kind's (--mode text=blur), else the video's own mode
// or the mode of every kind.
function defaultMode(kind) {
  const named = (ui.file.kind_modes || {})[kind];
  if (named) return named;
  if (ui.file.kind === "video") return ui.review.mode;
  return ui.file.default_mode || "solid";
}

function setDrawKind(kind) {
  ui.drawKind = DRAW_KINDS.includes(kind) ? kind : "face";
  for (const b of document.querySelectorAll("#drawKind button")) {
    b.setAttribute("aria-pressed", String(b.dataset.kind === ui.drawKind));
  }
  const what = { face: "a face", text: "text", person: "a person" }[ui.drawKind];
  const next = { face: "text", text: "a person", person: "a face" }[ui.drawKind];
  $("hint").textContent = `Drag on the picture to cover ${what} that was missed (T: draw ${next} instead). Click a box to select it; drag it to move, its corners to resize.`;
}

// ------------------------------------------------------------------ faces: the cards

// "Faces", "Faces and text", "Faces, text and people": what the list holds.
function listTitle(kinds) {
  const names = ["Faces"];
  if (kinds.has("plate") || kinds.has("text")) names.push("text");
  if (kinds.has("person")) names.push("people");
  return names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

function renderFaces() {
  const list = $("faceList");
  list.replaceChildren();
  const video = ui.file.kind === "video";
  const faces = ui.review.faces.filter((f) => video || (f.start <= ui.frame && ui.frame <= f.end));
  const count = (test) => faces.filter(test).length;
  const counts = [`${count((f) => f.keep)} covered`];
  const dropped = count((f) => !f.keep && kindOf(f) === "face");
  const left = count((f) => !f.keep && kindOf(f) !== "face");
  if (dropped || !left) counts.push(`${dropped} dropped`);
  if (left) counts.push(`${left} left visible`);
  $("faceCount").textContent = counts.join(" · ");
  $("facesTitle").textContent = listTitle(new Set(ui.review.faces.map(kindOf)));
  for (const face of faces) {
    const kind = kindOf(face);
    const card = document.createElement("div");
    card.className = `card ${face.keep ? "kept" : "dropped"}${face.id === ui.selected ? " selected" : ""}`;
    card.dataset.id = face.id;
    card.dataset.kind = kind;
    const strip = document.createElement("div");
    strip.className = "strip";
    const samples = video ? 5 : 1;
    for (let i = 0; i < samples; i++) {
      const img = document.createElement("img");
      strip.append(img);
      if (!ui.savedIds.has(face.id)) continue;  // shown once saved
      img.alt = "";
      img.src = `/api/face/${enc(ui.key)}?id=${encodeURIComponent(face.id)}&i=${i}&v=${ui.savedVersion}`;
      if (video) {
        const frame = face.start + Math.round((face.end - face.start) * i / 4);
        img.title = `frame ${frame + 1}`;
        img.addEventListener("click", (e) => { e.stopPropagation(); select(face.id); showFrame(frame); });
      }
    }
    const title = document.createElement("div");
    title.className = "title";
    const badge = document.createElement("span");
    badge.className = "kind";
    badge.textContent = kind;
    // A detected face or person (or track) under its kind's sure score is "uncertain":
    // covered, but not counted in the summary (blindspot.detections.SURE_SCORES).
    const uncertain = face.score < ((ui.file.sure_scores || {})[kind] || 0);
    const what = face.source === "drawn" ? "added by you"
      : `${uncertain ? "uncertain" : "detected"}, score ${face.score.toFixed(2)}`;
    const words = document.createElement("span");
    words.textContent = `${faceLabel(face)} · ${what}` + (face.keep || kind === "face" ? "" : " · left visible");
    title.append(badge, words);
    card.append(strip, title);
    if (video) {
      const span = document.createElement("div");
      span.className = "muted";
      const t = (f) => fmtTime(ui.file.times[f] || 0);
      span.textContent = `${t(face.start)} – ${t(face.end)} (frames ${face.start + 1}–${face.end + 1}, ${counted(face.keys.length, "key")})`;
      card.append(span);
    }
    const row = document.createElement("div");
    row.className = "row";
    const label = kind === "face"
      ? (face.keep ? "Covered — drop (D)" : "Dropped — cover again (D)")
      : (face.keep ? "Covered — leave visible (D)" : "Left visible — cover (D)");
    const keep = button(label, () => toggleKeep(face));
    keep.className = face.keep ? "keep" : "drop";
    row.append(keep);
    const mode = document.createElement("select");
    mode.title = `How this ${kind} is covered (1 / 2 / 3)`;
    for (const m of MODES) mode.append(new Option(m, m, false, m === face.mode));
    mode.addEventListener("change", () => { face.mode = mode.value; changed(); });
    mode.addEventListener("click", (e) => e.stopPropagation());
    row.append(mode);
    if (video) {
      row.append(button("Starts here [", () => setRange(face, "start")),
        button("Ends here ]", () => setRange(face, "end")));
    }
    if (face.source === "drawn") row.append(button("Remove", () => removeFace(face)));
    card.append(row);
    card.addEventListener("click", () => {
      select(face.id);
      if (video && (ui.frame < face.start || ui.frame > face.end)) showFrame(face.start);
    });
    list.append(card);
  }
  renderTrackBars();
}

function button(text, action) {
  const b = document.createElement("button");
  b.textContent = text;
  b.addEventListener("click", (e) => { e.stopPropagation(); action(); });
  return b;
}

function renderTrackBars() {
  const bars = $("trackBars");
  bars.replaceChildren();
  if (!ui.review || ui.file.kind !== "video") return;
  const n = Math.max(1, ui.review.frames - 1);
  const rows = Math.min(8, ui.review.faces.length);
  bars.style.height = `${rows * 5}px`;
  for (const [i, face] of ui.review.faces.entries()) {
    const bar = document.createElement("div");
    bar.className = `bar ${face.keep ? "kept" : "dropped"}${face.id === ui.selected ? " selected" : ""}`;
    bar.style.left = `${100 * face.start / n}%`;
    bar.style.width = `${Math.max(0.5, 100 * (face.end - face.start) / n)}%`;
    bar.style.top = `${(i % 8) * 5}px`;
    bar.title = faceLabel(face);
    bars.append(bar);
  }
}

function select(id) {
  ui.selected = id;
  if (id !== null && ui.speechSelected !== null) selectSpeech(null);
  for (const card of document.querySelectorAll(".card")) card.classList.toggle("selected", card.dataset.id === id);
  drawOverlay();
  renderTrackBars();
  const card = document.querySelector(`.card[data-id="${CSS.escape(id || "")}"]`);
  if (card) card.scrollIntoView({ block: "nearest" });
}

const selectedFace = () => ui.review && ui.review.faces.find((f) => f.id === ui.selected);

function toggleKeep(face) {
  face.keep = !face.keep;
  changed();
}

function removeFace(face) {
  ui.review.faces = ui.review.faces.filter((f) => f !== face);
  if (ui.selected === face.id) ui.selected = null;
  changed();
}

function setRange(face, end) {
  if (end === "start") face.start = Math.min(ui.frame, face.end);
  else face.end = Math.max(ui.frame, face.start);
  changed();
}

// The selected box's mode; in a video with nothing selected (or from the video's Mode menu:
// `all`), the video's mode and every box's.
function setMode(mode, all = false) {
  const face = selectedFace();
  if (ui.file.kind === "video" && (all || !face)) {
    ui.review.mode = mode;
    $("videoMode").value = mode;
    for (const f of ui.review.faces) f.mode = mode;
  } else {
    if (!face) return;
    face.mode = mode;
  }
  changed();
}

// ------------------------------------------------------------------ speech

// Speech can be reviewed: a video whose sound was searched for speech (and is kept), a sound file.
const hasSpeech = () => Boolean(ui.review && ["video", "sound"].includes(ui.file.kind));
const speechOn = () => hasSpeech() && ui.review.sound > 0;
const speechSpans = () => (ui.review && ui.review.speech) || [];
const timeOf = (frame) => (ui.file.times[frame] || 0);
// The time the player is at: a sound's <audio>, a video's frame.
const nowTime = () => (isSound() ? $("audio").currentTime : timeOf(ui.frame));
// Where time `t` lies across the speech bands, 0…100: a sound's waveform, a video's timeline.
const spanPercent = (t) => (isSound() ? 100 * Math.max(0, Math.min(1, t / ui.review.sound))
  : timelinePercent(t));

// Where time `t` (seconds) lies on the timeline, 0…100: between the frames around it (the
// timeline is in frames), past the last frame by one frame's time at most.
function timelinePercent(t) {
  const times = ui.file.times;
  const n = times.length;
  if (n < 2) return 0;
  let lo = 0;
  let hi = n - 1;
  if (t >= times[hi]) return 100 * Math.min(n - 1, hi + (t - times[hi]) * (ui.file.fps || 25)) / (n - 1);
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= t) lo = mid; else hi = mid;
  }
  const frac = times[hi] > times[lo] ? (t - times[lo]) / (times[hi] - times[lo]) : 0;
  return 100 * Math.max(0, lo + frac) / (n - 1);
}

// The first frame shown at or after time `t`.
function frameAtTime(t) {
  const times = ui.file.times;
  const i = times.findIndex((x) => x >= t - 1e-6);
  return i < 0 ? times.length - 1 : i;
}

const speechLabel = (span) => `${span.source === "marked" ? "Marked speech" : "Speech"} `
  + `${fmtShort(span.start)}–${fmtShort(span.end)}`;

function renderSpeech() {
  if (!hasSpeech()) return;
  const list = $("speechList");
  const focus = focusedLine();
  list.replaceChildren();
  const on = speechOn();
  $("markBtn").hidden = !on;
  $("markVoiceLabel").hidden = !on;
  $("speechLegend").hidden = !on;
  $("wordLegend").hidden = !speechSpans().some((x) => x.voice === "revoice" && x.lines && x.lines.length);
  const spans = speechSpans().slice().sort((a, b) => a.start - b.start);
  if (!on) {
    $("speechCount").textContent = ui.review.sound === 0 ? `no sound in this ${isSound() ? "file" : "video"}`
      : (ui.file.keep_audio === false ? "the sound is removed (--no-audio)" : "not looked for");
  } else {
    const seconds = {};
    for (const span of spans) seconds[span.voice] = (seconds[span.voice] || 0) + span.end - span.start;
    const parts = VOICES.filter((v) => seconds[v]).map((v) => `${seconds[v].toFixed(1)} s ${VOICE_DONE[v]}`);
    $("speechCount").textContent = spans.length
      ? `${spans.length} span${spans.length > 1 ? "s" : ""} · ${parts.join(" · ")}`
      : `none found · mark any by hand (S${isSound() ? ", or drag on the waveform" : ""})`;
  }
  for (const span of spans) {
    const li = document.createElement("li");
    li.dataset.id = span.id;
    li.dataset.voice = span.voice;
    li.dataset.source = span.source;
    if (span.id === ui.speechSelected) li.classList.add("selected");
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = speechLabel(span) + ` · ${span.voice}`;
    const voices = document.createElement("span");
    voices.className = "voices";
    voices.setAttribute("role", "group");
    voices.setAttribute("aria-label", "What happens to this speech");
    for (const voice of VOICES) {
      const b = button(voice, () => setVoice(span, voice));
      b.dataset.voice = voice;
      b.setAttribute("aria-pressed", String(voice === span.voice));
      voices.append(b);
    }
    li.append(what, voices);
    if (isSound()) {
      const listen = button("▶ Listen", () => playSpan(span));
      listen.className = "listen";
      listen.title = "Play this span (the original sound)";
      li.append(listen);
    }
    if (span.source === "marked") {
      const remove = button("Remove", () => removeSpeech(span));
      remove.className = "remove";
      li.append(remove);
    }
    if (span.voice === "revoice") li.append(renderLines(span));
    li.addEventListener("click", () => seekSpeech(span));
    list.append(li);
  }
  restoreFocus(focus);
  renderSpeechBars();
  showSpeechNow(nowTime());
}

function renderSpeechBars() {
  const bars = $(isSound() ? "waveSpans" : "speechBars");
  bars.replaceChildren();
  if (isSound()) drawWave();
  if (!speechOn()) return;
  const band = (start, end) => {
    const b = document.createElement("div");
    b.className = "band";
    const left = spanPercent(start);
    b.style.left = `${left}%`;
    b.style.width = `${Math.max(0, spanPercent(end) - left)}%`;
    return b;
  };
  for (const span of speechSpans()) {
    const b = band(span.start, span.end);
    b.dataset.id = span.id;
    b.dataset.voice = span.voice;
    b.dataset.source = span.source;
    if (span.id === ui.speechSelected) b.classList.add("selected");
    b.title = `${speechLabel(span)} · ${VOICE_DONE[span.voice]}`;
    if (isSound()) {  // its name on the waveform: a click on it goes to the span's start
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = VOICE_DONE[span.voice];
      tag.addEventListener("pointerdown", (e) => e.stopPropagation());
      tag.addEventListener("click", () => seekSpeech(span));
      b.append(tag);
    } else {
      b.addEventListener("click", () => seekSpeech(span));
    }
    bars.append(b);
  }
  if (ui.waveDrag && ui.waveDrag.moved) {
    const [a, b] = [ui.waveDrag.start, ui.waveDrag.end];
    const mark = band(Math.min(a, b), Math.max(a, b));
    mark.classList.add("marking");
    bars.append(mark);
  }
  if (ui.marking) {
    const now = nowTime();
    const b = band(Math.min(ui.marking.start, now), Math.max(ui.marking.start, now));
    b.classList.add("marking");
    b.title = `marking speech from ${fmtShort(ui.marking.start)}`;
    bars.append(b);
  }
}

// The spans the player is in now: their rows lit.
function showSpeechNow(t) {
  if (ui.marking) renderSpeechBars();
  const byId = new Map(speechSpans().map((s) => [s.id, s]));
  for (const li of $("speechList").children) {
    const span = byId.get(li.dataset.id);
    li.classList.toggle("now", Boolean(span && span.start <= t && t < span.end));
  }
}

function selectSpeech(id) {
  if (id !== null) select(null);
  ui.speechSelected = id;
  for (const el of document.querySelectorAll("#speechList li, #speechBars .band, #waveSpans .band")) {
    el.classList.toggle("selected", el.dataset.id === id);
  }
  const row = document.querySelector(`#speechList li[data-id="${CSS.escape(id || "")}"]`);
  if (row) row.scrollIntoView({ block: "nearest" });
}

function seekSpeech(span) {
  selectSpeech(span.id);
  if (isSound()) return seekSound(span.start);
  stopPlaying();
  showFrame(frameAtTime(span.start));
}

function setVoice(span, voice) {
  span.voice = voice;
  selectSpeech(span.id);
  speechChanged();
  if (voice === "revoice") pollTranscripts();  // its lines, once sent and transcribed
}

function removeSpeech(span) {
  ui.review.speech = speechSpans().filter((s) => s !== span);
  if (ui.speechSelected === span.id) ui.speechSelected = null;
  speechChanged();
}

// S: the first press starts a span at the current time, the second ends it there (at the last
// frame: the end of the sound). The new span gets the voice chosen beside the button.
function markSpeech() {
  if (!speechOn()) return;
  const now = nowTime();
  if (!ui.marking) {
    ui.marking = { start: now };
    showMarking();
    return;
  }
  let [start, end] = [ui.marking.start, now];
  if (end < start) [start, end] = [end, start];
  const atEnd = isSound() ? now >= ui.review.sound - 0.05 : ui.frame >= ui.review.frames - 1;
  if (atEnd && end === now) end = ui.review.sound;
  ui.marking = null;
  showMarking();
  addSpeech(start, end);
}

// A span marked by hand, from `start` to `end` seconds, in the voice chosen beside the button.
function addSpeech(start, end) {
  start = Math.max(0, Math.min(start, ui.review.sound));
  end = Math.min(end, ui.review.sound);
  if (end - start < MIN_SPEECH) return renderSpeechBars();
  const taken = new Set(speechSpans().map((s) => s.id));
  let n = 1;
  while (taken.has(`m${n}`)) n++;
  const round = (t) => Math.round(t * 1000) / 1000;
  const span = { id: `m${n}`, source: "marked", start: round(start), end: round(end),
    voice: $("markVoice").value };
  ui.review.speech = [...speechSpans(), span];
  ui.speechSelected = span.id;
  speechChanged();
}

function cancelMarking() {
  if (!ui.marking) return;
  ui.marking = null;
  showMarking();
  renderSpeechBars();
}

function showMarking() {
  const marking = Boolean(ui.marking);
  $("markBtn").setAttribute("aria-pressed", String(marking));
  $("markBtn").textContent = marking ? `End here (S) · from ${fmtShort(ui.marking.start)}` : "Mark speech (S)";
  renderSpeechBars();
}

function speechChanged() {
  renderSpeech();
  saveSoon();
}

function saveSoon(ms = 250) {
  clearTimeout(ui.saveTimer);
  ui.saveTimer = setTimeout(save, ms);
}

// ------------------------------------------------------------------ revoiced lines

// A revoiced span's lines: what the new voice says, each an editable field with the words
// that may name someone marked (the server's `marks`: blindspot.audio.words), its times, its
// voice and a button to remove it (its time stays silent). A line in a language no voice
// speaks is muted: shown, not editable. Before the lines come: the transcription's progress,
// or why it failed.
function renderLines(span) {
  const box = document.createElement("div");
  box.className = "lines";
  box.addEventListener("click", (e) => e.stopPropagation());
  if (!span.lines) {
    const info = ((ui.file.transcripts || {})[span.id]) || { status: "queued" };
    const note = document.createElement("div");
    note.className = info.status === "error" ? "transcript error" : "transcript busy";
    note.textContent = info.status === "error" ? info.error
      : `${info.status === "queued" ? "waiting to transcribe" : "transcribing"} `
        + `${(span.end - span.start).toFixed(1)} s of speech…`;
    box.append(note);
    return box;
  }
  if (!span.lines.length) {
    const note = document.createElement("div");
    note.className = "transcript muted";
    note.textContent = "no words: this span stays silent";
    box.append(note);
  }
  span.lines.forEach((line, index) => box.append(renderLine(span, line, index)));
  return box;
}

function renderLine(span, line, index) {
  const row = document.createElement("div");
  row.className = "line";
  row.dataset.edit = line.edit;
  const when = button(`${fmtShort(line.start)}–${fmtShort(line.end)}`, () => playLine(line));
  when.className = "when mono";
  when.title = isSound() ? "Listen to this line (the original sound)" : "Show this line's first frame";
  row.append(when);
  if (line.edit !== "revoice") {
    const muted = document.createElement("span");
    muted.className = "notsaid";
    muted.textContent = "[not in English: muted]";
    muted.title = `heard as ${line.language || "an unknown language"}: no voice speaks it, so it is muted`;
    row.append(muted);
    return row;
  }
  const voices = ui.file.new_voices || 4;
  const voice = document.createElement("select");
  voice.className = "speaker";
  voice.title = "Which new voice says this line";
  for (let v = 0; v < voices; v++) voice.append(new Option(`voice ${v + 1}`, String(v)));
  voice.value = String(line.speaker % voices);
  voice.addEventListener("change", () => { line.speaker = Number(voice.value); saveSoon(); });
  const field = document.createElement("div");
  field.className = "field";
  const words = document.createElement("div");
  words.className = "words";
  words.setAttribute("aria-hidden", "true");
  const text = document.createElement("textarea");
  text.rows = 1;
  text.spellcheck = false;
  text.value = line.text;
  text.dataset.span = span.id;
  text.dataset.line = String(index);
  text.setAttribute("aria-label", `What the new voice says from ${fmtShort(line.start)}`);
  text.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); text.blur(); } });
  text.addEventListener("input", () => editLine(line, text, words));
  field.append(words, text);
  showMarks(words, line);
  const remove = button("Remove", () => removeLine(span, line));
  remove.className = "remove";
  remove.title = "Remove this line: nothing is said in its time";
  row.append(voice, field, remove);
  return row;
}

// The words of a line behind its field, those to check marked (the field's own text on top).
function showMarks(words, line) {
  words.replaceChildren();
  let at = 0;
  for (const [start, end, kind] of line.marks || []) {
    if (start < at || end > line.text.length) continue;
    words.append(line.text.slice(at, start));
    const mark = document.createElement("mark");
    mark.dataset.kind = kind;
    mark.title = WORD_KINDS[kind] || kind;
    mark.textContent = line.text.slice(start, end);
    words.append(mark);
    at = end;
  }
  words.append(line.text.slice(at) + "\u200b");  // a last line as tall as the field's
}

// Typing: the text changes, its marks wait for the server (sent after a pause).
function editLine(line, text, words) {
  if (/[\r\n\t]/.test(text.value)) text.value = text.value.replace(/[\r\n\t]+/g, " ");
  line.text = text.value;
  line.marks = [];
  showMarks(words, line);
  saveSoon(600);
}

function removeLine(span, line) {
  span.lines = span.lines.filter((x) => x !== line);
  speechChanged();
}

function playLine(line) {
  if (!isSound()) {
    stopPlaying();
    return showFrame(frameAtTime(line.start));
  }
  seekSound(line.start);
  ui.playUntil = line.end;
  $("audio").play().catch((e) => alertLine(`Cannot play: ${e.message}`));
}

// The marks the server found in the lines it was sent, for the lines whose text has not
// changed since.
function applyMarks(sent, marks) {
  if (!ui.review || !marks) return;
  for (const span of speechSpans()) {
    const before = (sent.speech || []).find((s) => s.id === span.id);
    const found = marks[span.id];
    if (!before || !found || !span.lines || !before.lines) continue;
    span.lines.forEach((line, i) => {
      if (before.lines[i] && before.lines[i].text === line.text && found[i]) line.marks = found[i];
    });
  }
  for (const text of document.querySelectorAll("#speechList .line textarea")) {
    const line = lineOf(text);
    if (line) showMarks(text.previousElementSibling, line);
  }
}

const lineOf = (text) => {
  const span = speechSpans().find((s) => s.id === text.dataset.span);
  return span && span.lines ? span.lines[Number(text.dataset.line)] : null;
};

// The line field being typed in (re-rendering the list keeps it, and where the caret was).
function focusedLine() {
  const el = document.activeElement;
  if (!el || el.tagName !== "TEXTAREA" || !el.closest("#speechList")) return null;
  return { span: el.dataset.span, line: el.dataset.line, from: el.selectionStart, to: el.selectionEnd };
}

function restoreFocus(focus) {
  if (!focus) return;
  const el = document.querySelector(`#speechList textarea[data-span="${CSS.escape(focus.span)}"][data-line="${focus.line}"]`);
  if (!el) return;
  el.focus({ preventScroll: true });
  el.setSelectionRange(focus.from, focus.to);
}

// A revoiced span without lines whose transcription has not failed (a failure is not tried
// again before the export).
const untranscribed = () => speechSpans().some((s) => s.voice === "revoice" && !s.lines
  && (((ui.file.transcripts || {})[s.id] || {}).status !== "error"));

// While a revoiced span waits for its lines, ask for them every second: they join the page's
// review (a span the page still has without lines, with the same times).
async function pollTranscripts() {
  if (ui.polling || !untranscribed()) return;
  ui.polling = true;
  const key = ui.key;
  try {
    while (ui.key === key && untranscribed()) {
      await sleep(1000);
      if (ui.key !== key) break;
      const data = await api("GET", `/api/file/${enc(key)}`);
      if (ui.key !== key || !data.review) break;
      mergeLines(data);
    }
  } catch (e) {
    alertLine(`Cannot get the transcript: ${e.message}`);
  } finally {
    ui.polling = false;
  }
}

function mergeLines(data) {
  let changed = JSON.stringify(ui.file.transcripts) !== JSON.stringify(data.transcripts);
  ui.file.transcripts = data.transcripts;
  for (const span of speechSpans()) {
    const got = (data.review.speech || []).find((s) => s.id === span.id);
    const same = got && Math.abs(got.start - span.start) < 0.002 && Math.abs(got.end - span.end) < 0.002;
    if (!span.lines && same && got.lines) {
      span.lines = got.lines;
      changed = true;
    }
  }
  if (changed) renderSpeech();
}

// ------------------------------------------------------------------ saving

function changed() {
  ui.version++;
  renderFaces();
  showFrame(ui.frame);
  clearTimeout(ui.saveTimer);
  ui.saveTimer = setTimeout(save, 250);
}

function save() {
  ui.saveTimer = null;
  // The marks are the server's answer, not part of the review.
  const copy = JSON.parse(JSON.stringify(ui.review, (k, v) => (k === "marks" ? undefined : v)));
  const [key, review, version] = [ui.key, copy, ui.version];
  ui.saving = ui.saving.then(() => api("PUT", `/api/file/${enc(key)}`, review))
    .then(({ marks, ...summary }) => {
      const f = ui.files.find((x) => x.key === key);
      if (f) { Object.assign(f, summary); renderFileList(); }
      if (key !== ui.key) return;
      applyMarks(review, marks);
      ui.savedIds = new Set(review.faces.map((x) => x.id));
      ui.savedVersion = version;
      renderFaces();
      if (ui.preview) showFrame(ui.frame);
    })
    .catch((e) => alertLine(`Not saved: ${e.message}`));
  return ui.saving;
}

async function flushSave() {
  if (ui.saveTimer) { clearTimeout(ui.saveTimer); save(); }
  await ui.saving;
}

function alertLine(text) {
  $("exportStatus").hidden = false;
  $("exportText").textContent = text;
}

async function markReviewed() {
  if (!ui.review) return;
  ui.review.reviewed = true;
  clearTimeout(ui.saveTimer);
  await save();
  await step(1);
}

// ------------------------------------------------------------------ video player

function togglePlay() {
  if (isSound() && ui.review) return toggleSound();
  if (!ui.review || ui.file.kind !== "video") return;
  if (ui.playing) return stopPlaying();
  ui.playing = true;
  $("playBtn").textContent = "❚❚";
  if (ui.frame >= ui.review.frames - 1) showFrame(0);
  const t0 = performance.now() - 1000 * (ui.file.times[ui.frame] || 0);
  const tick = () => {
    if (!ui.playing) return;
    const now = (performance.now() - t0) / 1000;
    let f = ui.frame;
    while (f + 1 < ui.review.frames && ui.file.times[f + 1] <= now) f++;
    if (f >= ui.review.frames - 1) { showFrame(f); return stopPlaying(); }
    if (f !== ui.frame) showFrame(f);
    // The next picture is asked for once this one has arrived: slow machines skip frames.
    $("picture").decode().catch(() => {}).then(() => setTimeout(tick, 10));
  };
  tick();
}

function stopPlaying() {
  ui.playing = false;
  $("playBtn").textContent = "▶";
  if (isSound() && !$("audio").paused) $("audio").pause();
}

// ------------------------------------------------------------------ a sound file

// The page of a sound file: its waveform with the speech over it, its list, its player.
function openSound() {
  $("player").hidden = true;
  $("hint").textContent = "Click the waveform to listen from there (Space: play / pause); drag across it, "
    + "or press S at a span's start and end, to mark speech that was missed. Each span: keep, mute, disguise or "
    + "revoice (its words said by a new voice: edit them under it).";
  const info = ui.file.sound || {};
  const channels = { 1: "mono", 2: "stereo" }[info.channels] || `${info.channels} channels`;
  $("soundInfo").textContent = info.rate
    ? `the original: ${fmtShort(ui.review.sound)} · ${info.rate} Hz ${channels} · ${info.codec}` : "";
  const audio = $("audio");
  audio.src = `/api/sound/${enc(ui.key)}`;
  message("");
  renderSpeech();
  renderAxis();
  showSoundTime();
}

function closeSound() {
  const audio = $("audio");
  $("viewer").classList.remove("sound");
  $("soundView").hidden = true;
  $("waveSpans").replaceChildren();
  ui.playUntil = null;
  ui.waveDrag = null;
  if (audio.getAttribute("src")) {
    audio.pause();
    audio.removeAttribute("src");
    audio.load();  // let the file go
  }
}

// The waveform: the lowest and highest level of each stretch (from the server), one column
// per screen pixel, in the colour of the span it lies in (its voice), grey outside speech.
function drawWave() {
  const canvas = $("wave");
  const wave = ui.file && ui.file.sound && ui.file.sound.wave;
  if (!wave || $("soundView").hidden) return;
  const ratio = window.devicePixelRatio || 1;
  const [cssW, cssH] = [canvas.clientWidth, canvas.clientHeight];
  const [w, h] = [Math.max(1, Math.round(cssW * ratio)), Math.max(1, Math.round(cssH * ratio))];
  if (canvas.width !== w || canvas.height !== h) [canvas.width, canvas.height] = [w, h];
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, w, h);
  const css = getComputedStyle(document.documentElement);
  const colour = Object.fromEntries(VOICES.map((v) => [v, css.getPropertyValue(`--voice-${v}`).trim()]));
  const n = wave.low.length;
  const mid = h / 2;
  g.fillStyle = "#3a3e45";
  g.fillRect(0, Math.floor(mid), w, Math.max(1, Math.round(ratio)));
  if (!n) return;
  // Quiet recordings drawn larger (at most 8×), so speech stands out however it was recorded.
  const peak = Math.max(...wave.low.map(Math.abs), ...wave.high.map(Math.abs)) / 1000;
  const gain = (0.46 * h) / Math.max(peak, 0.125) / 1000;
  const spans = speechSpans();
  const seconds = ui.review.sound;
  for (let x = 0; x < w; x++) {
    const a = Math.floor((x * n) / w);
    const b = Math.max(a + 1, Math.floor(((x + 1) * n) / w));
    let [lo, hi] = [Infinity, -Infinity];
    for (let i = a; i < b && i < n; i++) {
      lo = Math.min(lo, wave.low[i]);
      hi = Math.max(hi, wave.high[i]);
    }
    if (lo > hi) continue;
    const t = ((x + 0.5) / w) * seconds;
    let voice = null;  // where spans overlap, what the export does there wins
    for (const s of spans) {
      if (s.start <= t && t < s.end && WINS[s.voice] > (WINS[voice] ?? -1)) voice = s.voice;
    }
    g.fillStyle = voice ? colour[voice] : "#9aa0a8";
    const top = mid - hi * gain;
    g.fillRect(x, top, 1, Math.max(ratio, mid - lo * gain - top));
  }
  canvas.dataset.drawn = String(n);
}

// Seconds along the waveform, under it: as many marks as fit, at round steps.
function renderAxis() {
  const axis = $("waveAxis");
  axis.replaceChildren();
  const seconds = ui.review.sound;
  const width = $("waveBox").clientWidth;
  if (!(seconds > 0) || !width) return;
  const steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const stepSize = steps.find((s) => (s / seconds) * width >= 70) || 7200;
  for (let t = 0; t <= seconds + 1e-6; t += stepSize) {
    const mark = document.createElement("span");
    mark.style.left = `${(100 * t) / seconds}%`;
    mark.textContent = stepSize < 1 ? fmtShort(t) : `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, "0")}`;
    axis.append(mark);
  }
}

function showSoundTime() {
  const t = $("audio").currentTime || 0;
  $("playhead").style.left = `${spanPercent(t)}%`;
  $("soundTime").textContent = `${fmtTime(t)} / ${fmtTime(ui.review.sound)}`;
  showSpeechNow(t);
}

function seekSound(t) {
  const audio = $("audio");
  audio.currentTime = Math.max(0, Math.min(ui.review.sound, t));
  if (ui.playUntil !== null && (t < ui.playUntil - 60 || t >= ui.playUntil)) ui.playUntil = null;
  showSoundTime();
}

function toggleSound() {
  const audio = $("audio");
  ui.playUntil = null;
  if (audio.paused) audio.play().catch((e) => alertLine(`Cannot play: ${e.message}`));
  else audio.pause();
}

// Listen to one span: from its start, paused at its end.
function playSpan(span) {
  selectSpeech(span.id);
  seekSound(span.start);
  ui.playUntil = span.end;
  $("audio").play().catch((e) => alertLine(`Cannot play: ${e.message}`));
}

// While the sound plays: the playhead moves, the spans under it are lit, a span played alone stops.
function followSound() {
  const audio = $("audio");
  if (!isSound() || audio.paused) return;
  if (ui.playUntil !== null && audio.currentTime >= ui.playUntil) {
    audio.pause();
    ui.playUntil = null;
  }
  showSoundTime();
  requestAnimationFrame(followSound);
}

const waveTime = (event) => {
  const r = $("waveBox").getBoundingClientRect();
  return Math.max(0, Math.min(1, (event.clientX - r.left) / r.width)) * ui.review.sound;
};

// On the waveform: a click listens from there (and selects the span there), a drag marks speech.
function onWaveDown(event) {
  if (!isSound() || !ui.review || event.button !== 0) return;
  event.preventDefault();
  const t = waveTime(event);
  ui.waveDrag = { start: t, end: t, x: event.clientX, moved: false };
  $("waveBox").setPointerCapture(event.pointerId);
}

function onWaveMove(event) {
  const drag = ui.waveDrag;
  if (!drag) return;
  drag.end = waveTime(event);
  if (Math.abs(event.clientX - drag.x) > 4) drag.moved = true;
  if (drag.moved) renderSpeechBars();
}

function onWaveUp() {
  const drag = ui.waveDrag;
  ui.waveDrag = null;
  if (!drag) return;
  if (drag.moved && speechOn()) {
    addSpeech(Math.min(drag.start, drag.end), Math.max(drag.start, drag.end));
    return;
  }
  const span = speechSpans().find((s) => s.start <= drag.start && drag.start < s.end);
  selectSpeech(span ? span.id : null);
  seekSound(drag.start);
}

// ------------------------------------------------------------------ export

async function exportAll() {
  await flushSave();
  $("exportBtn").disabled = true;
  $("exportStatus").hidden = false;
  $("exportText").textContent = "starting…";
  try {
    await api("POST", "/api/export", { overwrite: $("overwrite").checked });
    for (;;) {
      const s = await api("GET", "/api/export");
      $("exportProgress").max = Math.max(1, s.total);
      $("exportProgress").value = s.done;
      $("exportText").textContent = s.running
        ? `exporting ${s.done + 1} of ${s.total}: ${s.current}`
        : `exported ${s.written.length} of ${s.total}` + (s.errors.length ? ` · ${s.errors.length} failed: ${s.errors.join("; ")}` : " · done");
      $("exportStatus").dataset.state = s.running ? "running" : (s.errors.length ? "failed" : "done");
      if (!s.running) break;
      await sleep(300);
    }
    await loadPage(ui.page);
  } catch (e) {
    $("exportText").textContent = `export failed: ${e.message}`;
    $("exportStatus").dataset.state = "failed";
  } finally {
    $("exportBtn").disabled = false;
  }
}

// ------------------------------------------------------------------ keys and wiring

function onKey(event) {
  if (event.target.closest("input[type=number], input[type=text], select, textarea")) return;
  // The player's own controls take their keys (Space plays, arrows seek) when focused.
  if (event.target.closest("audio") && [" ", "ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const k = event.key;
  const name = k.length === 1 ? k.toLowerCase() : k;
  const face = selectedFace();
  const sound = isSound();
  const handled = {
    j: () => step(1), k: () => step(-1), r: markReviewed, e: exportAll,
    p: () => { $("previewToggle").checked = !ui.preview; togglePreview(); },
    d: () => face && toggleKeep(face),
    Delete: () => (face ? dropFace(face) : removeSelectedSpeech()),
    Backspace: () => (face ? dropFace(face) : removeSelectedSpeech()),
    1: () => setMode("solid"), 2: () => setMode("mosaic"), 3: () => setMode("blur"),
    t: () => setDrawKind(DRAW_KINDS[(DRAW_KINDS.indexOf(ui.drawKind) + 1) % DRAW_KINDS.length]),
    " ": togglePlay,
    ArrowRight: () => (sound ? seekSound(nowTime() + (event.shiftKey ? 5 : 1))
      : (stopPlaying(), showFrame(ui.frame + (event.shiftKey ? fps() : 1)))),
    ArrowLeft: () => (sound ? seekSound(nowTime() - (event.shiftKey ? 5 : 1))
      : (stopPlaying(), showFrame(ui.frame - (event.shiftKey ? fps() : 1)))),
    Home: () => (sound ? seekSound(0) : (stopPlaying(), showFrame(0))),
    End: () => (sound ? seekSound(ui.review.sound) : (stopPlaying(), showFrame(ui.review.frames - 1))),
    "[": () => face && ui.file.kind === "video" && setRange(face, "start"),
    "]": () => face && ui.file.kind === "video" && setRange(face, "end"),
    Tab: () => nextFace(event.shiftKey ? -1 : 1),
    s: markSpeech,
    Escape: () => { $("help").hidden = true; cancelMarking(); select(null); selectSpeech(null); },
    "?": () => { $("help").hidden = !$("help").hidden; },
  }[name];
  if (handled && (ui.review || ["j", "k", "?", "e", "t", "Escape"].includes(name))) {
    event.preventDefault();
    handled();
  }
}

const dropFace = (face) => (face.source === "drawn" ? removeFace(face) : face.keep && toggleKeep(face));

// Delete with a span marked by hand selected removes it (a span found stays: set it to keep).
function removeSelectedSpeech() {
  const span = speechSpans().find((s) => s.id === ui.speechSelected);
  if (span && span.source === "marked") removeSpeech(span);
}

const fps = () => Math.max(1, Math.round(ui.file ? ui.file.fps || 25 : 25));

function nextFace(delta) {
  const faces = ui.file.kind === "video" ? ui.review.faces : visibleFaces().map(([f]) => f);
  if (!faces.length) return;
  const i = faces.findIndex((f) => f.id === ui.selected);
  const next = faces[(i + delta + faces.length) % faces.length];
  select(next.id);
  if (ui.file.kind === "video" && (ui.frame < next.start || ui.frame > next.end)) showFrame(next.start);
}

function togglePreview() {
  ui.preview = $("previewToggle").checked;
  $("canvas").classList.toggle("preview", ui.preview);
  showFrame(ui.frame);
}

function wire() {
  const overlay = $("overlay");
  overlay.addEventListener("pointerdown", onPointerDown);
  overlay.addEventListener("pointermove", onPointerMove);
  overlay.addEventListener("pointerup", onPointerUp);
  overlay.addEventListener("pointercancel", onPointerUp);
  $("picture").addEventListener("load", drawOverlay);
  window.addEventListener("resize", () => { fitPicture(); if (isSound() && ui.review) { drawWave(); renderAxis(); } });
  const waveBox = $("waveBox");
  waveBox.addEventListener("pointerdown", onWaveDown);
  waveBox.addEventListener("pointermove", onWaveMove);
  waveBox.addEventListener("pointerup", onWaveUp);
  waveBox.addEventListener("pointercancel", onWaveUp);
  const audio = $("audio");
  audio.addEventListener("play", () => { ui.playing = true; requestAnimationFrame(followSound); });
  audio.addEventListener("pause", () => { ui.playing = false; if (isSound()) showSoundTime(); });
  audio.addEventListener("seeked", () => { if (isSound()) showSoundTime(); });
  audio.addEventListener("timeupdate", () => { if (isSound() && audio.paused) showSoundTime(); });
  document.addEventListener("keydown", onKey);
  $("prevPage").addEventListener("click", () => loadPage(ui.page - 1));
  $("nextPage").addEventListener("click", () => loadPage(ui.page + 1));
  $("prevFile").addEventListener("click", () => step(-1));
  $("nextFile").addEventListener("click", () => step(1));
  $("previewToggle").addEventListener("change", togglePreview);
  $("videoMode").addEventListener("change", () => setMode($("videoMode").value, true));
  for (const b of document.querySelectorAll("#drawKind button")) {
    b.addEventListener("click", () => setDrawKind(b.dataset.kind));
  }
  $("reviewedBtn").addEventListener("click", markReviewed);
  $("exportBtn").addEventListener("click", exportAll);
  $("playBtn").addEventListener("click", togglePlay);
  $("timeline").addEventListener("input", () => { stopPlaying(); showFrame(Number($("timeline").value)); });
  $("helpBtn").addEventListener("click", () => { $("help").hidden = false; });
  $("markBtn").addEventListener("click", markSpeech);
  $("markVoice").addEventListener("change", () => $("markVoice").blur());  // S marks again
  $("helpClose").addEventListener("click", () => { $("help").hidden = true; });
}

async function start() {
  wire();
  const data = await loadPage(0);
  $("overwrite").checked = data.overwrite;
  if (data.files.length) await openFile(data.files[0].key);
  else message("No photos, videos or sound files to review.");
}

start().catch((e) => message(`Error: ${e.message}`));
