// The aeserve explorer: plain JavaScript over the public HTTP API (no build step, no framework).
// Every call below is one a curl user or the Python client makes too, so this file also shows the API.

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const state = { models: [], model: null, maps: new Map(), slots: [null, null] };

// api

class ApiError extends Error {
  constructor(status, title, detail) {
    super(`${status} ${title}: ${detail}`);
    this.status = status;
  }
}

// JSON answers parsed; with accept "image/png", the image as a data: URI
async function api(path, { method = "GET", json, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  const token = sessionStorage.getItem("aeserve-token");
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new Error(`the service did not answer (${error.message})`);
  }
  if (response.ok && accept === "image/png") {
    const bytes = new Uint8Array(await response.arrayBuffer());
    return `data:image/png;base64,${btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join(""))}`;
  }
  const text = await response.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON: reported below */ }
  if (!response.ok) {
    // problem details (RFC 9457): the detail says what to fix
    throw new ApiError(response.status, body?.title ?? response.statusText, body?.detail ?? text.slice(0, 300));
  }
  if (body === null) throw new Error(`${path} answered something that is not JSON`);
  return body;
}

const png = (base64) => `data:image/png;base64,${base64}`;
const model = () => state.model;
const takesLabel = (m) => m.labels_to_encode || m.labels_to_decode;

function encodeCall(images, labels) {
  const m = model();
  return api("/encode", { method: "POST", json: { model: m.name, images, labels: m.labels_to_encode ? labels : undefined } });
}

async function decodeCall(latents, labels) {
  const m = model();
  const body = await api("/decode", {
    method: "POST", json: { model: m.name, latents, labels: m.labels_to_decode ? labels : undefined },
  });
  return body.images;
}

// messages: API errors and anything unexpected show up here; the page itself stays

function showMessage(error) {
  $("#message-text").textContent = error instanceof Error ? error.message : String(error);
  $("#message").hidden = false;
}
function clearMessage() { $("#message").hidden = true; }

// Runs an event handler, turning any failure into a readable message.
const guarded = (handler) => async (...args) => {
  try { await handler(...args); } catch (error) { showMessage(error); }
};

// Decodes at most one request at a time and then the latest wish: dragging sends no backlog.
function latest(work) {
  let running = false, pending = null;
  return async function run(...args) {
    if (running) { pending = args; return; }
    running = true;
    try { await work(...args); } catch (error) { showMessage(error); } finally { running = false; }
    if (pending) { const next = pending; pending = null; await run(...next); }
  };
}

function figure(src, caption) {
  const element = document.createElement("figure");
  const image = new Image();
  image.src = src;
  image.alt = caption;
  const text = document.createElement("figcaption");
  text.textContent = caption;
  element.append(image, text);
  return element;
}

function className(index) {
  const classes = model().classes;
  return classes ? classes[index] : `class ${index}`;
}

function fillClassSelect(select, { any = false } = {}) {
  const m = model();
  const names = m.classes ?? [];
  select.replaceChildren(...(any ? [new Option("any class", "")] : []), ...names.map((name, i) => new Option(`${i}: ${name}`, String(i))));
}

// tabs: buttons with role=tab, arrow keys move between them, the hash remembers the view

const tabs = () => $$('[role="tab"]');

function showView(id) {
  const tab = tabs().find((t) => t.getAttribute("aria-controls") === id) ?? tabs()[0];
  for (const t of tabs()) {
    const selected = t === tab;
    t.setAttribute("aria-selected", String(selected));
    t.tabIndex = selected ? 0 : -1;
    document.getElementById(t.getAttribute("aria-controls")).hidden = !selected;
  }
  if (location.hash !== `#${tab.getAttribute("aria-controls")}`) history.replaceState(null, "", `#${tab.getAttribute("aria-controls")}`);
  if (tab.id === "tab-map") guarded(drawMap)();
}

function setUpTabs() {
  for (const tab of tabs()) {
    tab.addEventListener("click", () => showView(tab.getAttribute("aria-controls")));
    tab.addEventListener("keydown", (event) => {
      const all = tabs(), at = all.indexOf(tab);
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = all[(at + step + all.length) % all.length];
      next.focus();
      showView(next.getAttribute("aria-controls"));
    });
  }
  window.addEventListener("hashchange", () => showView(location.hash.slice(1)));
}

// models

function labelRole(m) {
  const sampler = m.sampler?.components ? " and picks the sampler's class mixture" : "";
  if (m.labels_to_encode && m.labels_to_decode) return "goes to encoder and decoder" + sampler;
  if (m.labels_to_decode) return "goes to the decoder" + sampler;
  if (m.sampler?.components) return "picks the sampler's class mixture";
  if (m.conditional) return "picks the prior's component";
  return "–";
}

const figureText = (value, digits = 3) => (value === undefined ? "–" : Number(value).toPrecision(digits));

async function loadModels() {
  const listed = await api("/models");
  state.models = listed.models;
  const select = $("#model");
  select.replaceChildren(...listed.models.map((m) => new Option(m.name, m.name)));
  const failed = Object.entries(listed.failed);
  $("#models-failed").hidden = failed.length === 0;
  $("#models-failed").textContent = failed.map(([name, why]) => `${name} did not load: ${why}`).join("; ");
  const wanted = new URLSearchParams(location.search).get("model");
  const chosen = listed.models.find((m) => m.name === wanted) ?? listed.models.find((m) => m.default) ?? listed.models[0];
  if (!chosen) throw new Error("the service serves no models");
  selectModel(chosen.name);
}

function renderModelsTable() {
  const rows = state.models.map((m) => {
    const row = document.createElement("tr");
    row.classList.toggle("current", m === model());
    const pick = document.createElement("button");
    pick.textContent = m.name + (m.default ? " (default)" : "");
    pick.addEventListener("click", () => selectModel(m.name));
    const cells = [
      `${m.kind} · ${m.variant}`, m.sampler ? `${m.sampler.name} (prior: ${m.prior?.name ?? "none"})` : (m.prior?.name ?? "–"), String(m.latent_dim), labelRole(m),
      figureText(m.evaluation.spaces?.cnn?.frechet_ratio_to_noise),
      figureText(m.evaluation.spaces?.cnn?.label_accuracy_ratio),
      figureText(m.evaluation.reconstruction_mse, 2),
    ];
    const first = document.createElement("td");
    first.append(pick);
    row.append(first, ...cells.map((text) => Object.assign(document.createElement("td"), { textContent: text })));
    return row;
  });
  $("#models-table tbody").replaceChildren(...rows);
}

function selectModel(name) {
  state.model = state.models.find((m) => m.name === name);
  const m = model();
  $("#model").value = name;
  const labels = takesLabel(m) || m.conditional ? `; a label ${labelRole(m)}` : "; takes no labels";
  $("#model-summary").textContent = `${m.kind} (${m.variant}), ${m.latent_dim}-D, prior ${m.prior?.name ?? "none"}${m.sampler ? `, samples from a ${m.sampler.name}` : ""}${labels}`;
  for (const element of $$(".needs-class")) element.hidden = !m.conditional;
  // a model that classifies finds the class of a drawing itself
  for (const element of $$(".needs-encode-class")) element.hidden = !takesLabel(m) || m.classifies;
  fillClassSelect($("#sample-class"), { any: true });
  for (const id of ["#reconstruct-class", "#interpolate-class", "#restyle-class", "#anomaly-class"]) fillClassSelect($(id));
  renderModelsTable();
  resetOutputs();
  suitability("#map", m.latent_map, "The latent map needs a model with 2-D codes", (x) => x.latent_map);
  suitability("#restyle", m.labels_to_decode, "Restyling needs a model whose decoder takes the label", (x) => x.labels_to_decode);
  if (!$("#map").hidden) guarded(drawMap)();
}

// Views that only some models support say so and offer the ones that do.
function suitability(view, suitable, why, test) {
  const note = $(".unsuitable", $(view));
  for (const element of $$(".suitable", $(view))) element.hidden = !suitable;
  note.hidden = suitable;
  if (suitable) return;
  const others = state.models.filter(test);
  note.replaceChildren(`${why}; ${model().name} is not one.${others.length ? " Try " : ""}`);
  others.forEach((other, i) => {
    const button = document.createElement("button");
    button.textContent = other.name;
    button.addEventListener("click", () => selectModel(other.name));
    note.append(i ? " " : "", button);
  });
}

function resetOutputs() {
  for (const id of ["#sample-grid", "#latent-bars", "#restyle-grid", "#interpolate-strip"]) $(id).replaceChildren();
  for (const id of ["#reconstruct-input", "#reconstruct-output", "#map-image", "#restyle-source", "#interpolate-image", "#anomaly-input", "#anomaly-map"]) $(id).removeAttribute("src");
  $("#anomaly-verdict").textContent = "";
  for (const image of $$("fieldset.slot img")) image.removeAttribute("src");
  state.slots = [null, null];
  $("#interpolate-slider").disabled = true;
  $("#map-point").textContent = "pick a point";
}

// sample

async function drawSample(event) {
  event?.preventDefault();
  const m = model();
  const params = new URLSearchParams({ model: m.name, n: $("#sample-n").value });
  const seed = $("#sample-seed").value.trim();
  if (seed !== "") params.set("seed", seed);
  if (Number($("#sample-temperature").value) !== 1) params.set("temperature", $("#sample-temperature").value);
  if (m.conditional && $("#sample-class").value !== "") params.set("label", $("#sample-class").value);
  const drawn = await api(`/sample?${params}`);
  $("#sample-seed").value = drawn.seed;
  $("#sample-grid").replaceChildren(...drawn.images.map((image, i) => figure(png(image), drawn.labels ? className(drawn.labels[i]) : `#${i + 1}`)));
  clearMessage();
}

// drawing canvas (shared by reconstruct, interpolate and restyle)

const canvas = () => $("#draw-canvas");

function clearDrawing() {
  const context = canvas().getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, canvas().width, canvas().height);
}

function setUpDrawing() {
  const context = canvas().getContext("2d");
  let last = null;
  const at = (event) => {
    const box = canvas().getBoundingClientRect();
    return [(event.clientX - box.left) * (canvas().width / box.width), (event.clientY - box.top) * (canvas().height / box.height)];
  };
  canvas().addEventListener("pointerdown", (event) => { last = at(event); canvas().setPointerCapture(event.pointerId); stroke(last, last); });
  canvas().addEventListener("pointermove", (event) => { if (last) { const next = at(event); stroke(last, next); last = next; } });
  for (const end of ["pointerup", "pointercancel"]) canvas().addEventListener(end, () => { last = null; });
  function stroke(from, to) {
    context.strokeStyle = "#fff";
    context.lineWidth = canvas().width / 11; // about 2.5 pixels of a 28-pixel image: a pen stroke in the data
    context.lineCap = "round";
    context.beginPath();
    context.moveTo(...from);
    context.lineTo(...to);
    context.stroke();
  }
  clearDrawing();
}

// The drawing at the model's image size, as a data: URI (what /encode takes in JSON).
function drawingAsDataUrl() {
  const [channels, height, width] = model().image_shape;
  const small = Object.assign(document.createElement("canvas"), { width, height });
  const context = small.getContext("2d");
  context.imageSmoothingQuality = "high";
  context.drawImage(canvas(), 0, 0, width, height);
  if (channels === 1) { // the service converts to grey anyway; this keeps the upload small
    const pixels = context.getImageData(0, 0, width, height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      const grey = Math.round(0.299 * pixels.data[i] + 0.587 * pixels.data[i + 1] + 0.114 * pixels.data[i + 2]);
      pixels.data.fill(grey, i, i + 3);
    }
    context.putImageData(pixels, 0, 0);
  }
  return small.toDataURL("image/png");
}

const readFile = (file) => new Promise((resolve, reject) => {
  const reader = new FileReader();
  reader.onload = () => resolve(reader.result);
  reader.onerror = () => reject(new Error(`could not read ${file.name}`));
  reader.readAsDataURL(file);
});

// An uploaded image goes onto the drawing canvas, scaled to fit, so every view can use it.
async function uploadToCanvas(file) {
  const url = await readFile(file);
  const image = new Image();
  await new Promise((resolve, reject) => {
    image.onload = resolve;
    image.onerror = () => reject(new Error(`${file.name} is not an image this browser can read`));
    image.src = url;
  });
  clearDrawing();
  const scale = Math.min(canvas().width / image.width, canvas().height / image.height);
  const [w, h] = [image.width * scale, image.height * scale];
  canvas().getContext("2d").drawImage(image, (canvas().width - w) / 2, (canvas().height - h) / 2, w, h);
  return url;
}

// reconstruct

function showBars(latent, caption) {
  const largest = Math.max(...latent.map(Math.abs), 1e-6);
  $("#latent-bars").replaceChildren(...latent.map((value, i) => {
    const bar = document.createElement("div");
    const fill = document.createElement("span");
    const share = (Math.abs(value) / largest) * 50;
    Object.assign(fill.style, value >= 0 ? { bottom: "50%", height: `${share}%` } : { top: "50%", height: `${share}%` });
    bar.title = `z${i} = ${value.toFixed(3)}`;
    bar.append(fill);
    return bar;
  }));
  $("#latent-bars").setAttribute("aria-label", `latent code: ${latent.map((v) => v.toFixed(2)).join(", ")}`);
  $("#latent-caption").textContent = caption;
}

async function reconstruct() {
  const image = drawingAsDataUrl();
  const encoded = await encodeCall([image], [Number($("#reconstruct-class").value || 0)]);
  // a categorical head classifies the drawing itself: it is redrawn as the class it sees
  const probabilities = encoded.class_probabilities?.[0];
  const seen = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : null;
  const label = seen ?? Number($("#reconstruct-class").value || 0);
  const [decoded] = await decodeCall(encoded.latents, [label]);
  $("#reconstruct-input").src = image;
  $("#reconstruct-output").src = png(decoded);
  const verdict = seen === null ? "" : `; classified as ${model().classes[seen]} (${(100 * probabilities[seen]).toFixed(0)} %)`;
  showBars(encoded.latents[0], `latent code (${encoded.latents[0].length} numbers)${verdict}`);
  clearMessage();
}

// latent map

function mapBounds(points) {
  const axis = (k) => {
    const values = points.map((p) => p[k]).sort((a, b) => a - b);
    const low = values[Math.floor(values.length * 0.002)], high = values[Math.ceil(values.length * 0.998) - 1];
    const pad = (high - low) * 0.08;
    return [low - pad, high + pad];
  };
  const [x, y] = [axis(0), axis(1)];
  const half = Math.max(x[1] - x[0], y[1] - y[0]) / 2; // equal scales: the prior's shape is not stretched
  const centre = [(x[0] + x[1]) / 2, (y[0] + y[1]) / 2];
  return { x: [centre[0] - half, centre[0] + half], y: [centre[1] - half, centre[1] + half] };
}

async function drawMap() {
  const m = model();
  if (!m?.latent_map) return; // before the model list has loaded, or a model without a map
  if (!state.maps.has(m.name)) state.maps.set(m.name, await api(`/models/${encodeURIComponent(m.name)}/latent-map`));
  const map = state.maps.get(m.name);
  const target = $("#map-canvas"), context = target.getContext("2d");
  const bounds = mapBounds([...map.codes, ...map.prior_codes]);
  const size = target.width;
  map.toCanvas = ([x, y]) => [((x - bounds.x[0]) / (bounds.x[1] - bounds.x[0])) * size, (1 - (y - bounds.y[0]) / (bounds.y[1] - bounds.y[0])) * size];
  map.toLatent = ([u, v]) => [bounds.x[0] + (u / size) * (bounds.x[1] - bounds.x[0]), bounds.y[0] + (1 - v / size) * (bounds.y[1] - bounds.y[0])];
  context.fillStyle = "#fff";
  context.fillRect(0, 0, size, size);
  context.fillStyle = "rgba(110, 110, 110, 0.5)";
  for (const point of map.prior_codes) { const [u, v] = map.toCanvas(point); context.fillRect(u - 1, v - 1, 2, 2); }
  context.globalAlpha = 0.55;
  map.codes.forEach((point, i) => {
    const [u, v] = map.toCanvas(point);
    context.fillStyle = PALETTE[map.labels[i] % PALETTE.length];
    context.fillRect(u - 1, v - 1, 2.5, 2.5);
  });
  context.globalAlpha = 1;
  map.background = context.getImageData(0, 0, size, size);
  const names = map.classes ?? [...new Set(map.labels)].sort((a, b) => a - b).map((k) => `class ${k}`);
  $("#map-legend").replaceChildren(...names.map((name, k) => {
    const item = Object.assign(document.createElement("li"), { textContent: name });
    item.style.setProperty("--swatch", PALETTE[k % PALETTE.length]);
    return item;
  }));
  if (map.point) markPoint(map);
}

function markPoint(map) {
  const context = $("#map-canvas").getContext("2d");
  context.putImageData(map.background, 0, 0);
  const [u, v] = map.toCanvas(map.point);
  context.strokeStyle = "#000";
  context.lineWidth = 2;
  context.beginPath();
  context.arc(u, v, 7, 0, 2 * Math.PI);
  context.moveTo(u - 11, v); context.lineTo(u + 11, v);
  context.moveTo(u, v - 11); context.lineTo(u, v + 11);
  context.stroke();
}

const decodeMapPoint = latest(async (point) => {
  const [image] = await decodeCall([point], [0]);
  $("#map-image").src = png(image);
  $("#map-point").textContent = `z = (${point[0].toFixed(2)}, ${point[1].toFixed(2)})`;
});

function setUpMap() {
  const target = $("#map-canvas");
  let dragging = false;
  const pick = (event) => {
    const map = state.maps.get(model().name);
    if (!map?.toLatent) return;
    const box = target.getBoundingClientRect();
    map.point = map.toLatent([(event.clientX - box.left) * (target.width / box.width), (event.clientY - box.top) * (target.height / box.height)]);
    markPoint(map);
    decodeMapPoint(map.point);
  };
  target.addEventListener("pointerdown", (event) => { dragging = true; target.setPointerCapture(event.pointerId); pick(event); });
  target.addEventListener("pointermove", (event) => { if (dragging) pick(event); });
  for (const end of ["pointerup", "pointercancel"]) target.addEventListener(end, () => { dragging = false; });
  target.addEventListener("keydown", (event) => {
    const move = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] }[event.key];
    const map = state.maps.get(model().name);
    if (!move || !map?.toLatent) return;
    event.preventDefault();
    const step = (map.toLatent([target.width, 0])[0] - map.toLatent([0, 0])[0]) / 40;
    const [x, y] = map.point ?? [0, 0];
    map.point = [x + move[0] * step, y + move[1] * step];
    markPoint(map);
    decodeMapPoint(map.point);
  });
}

// interpolate

async function sampledItem() {
  const drawn = await api(`/sample?${new URLSearchParams({ model: model().name, n: 1 })}`);
  return { latent: drawn.latents[0], label: drawn.labels?.[0] ?? 0, image: png(drawn.images[0]) };
}

async function encodedItem(image, label) {
  const encoded = await encodeCall([image], [label]);
  const probabilities = encoded.class_probabilities?.[0];
  if (probabilities) label = probabilities.indexOf(Math.max(...probabilities));  // the class its head sees
  const [decoded] = await decodeCall(encoded.latents, [label]);
  return { latent: encoded.latents[0], label, image: png(decoded) };
}

function setSlot(index, item) {
  state.slots[index] = item;
  $(`fieldset.slot[data-slot="${index}"] img`).src = item.image;
  const ready = state.slots.every(Boolean);
  $("#interpolate-slider").disabled = !ready;
  if (ready) { interpolateAt(); fillStrip(); }
  clearMessage();
}

function between(t) {
  const [a, b] = state.slots;
  return { latent: a.latent.map((value, i) => (1 - t) * value + t * b.latent[i]), label: t < 0.5 ? a.label : b.label };
}

const interpolateAt = latest(async () => {
  const point = between(Number($("#interpolate-slider").value) / 1000);
  const [image] = await decodeCall([point.latent], [point.label]);
  $("#interpolate-image").src = png(image);
});

async function fillStrip() {
  const steps = Array.from({ length: 9 }, (_, i) => between(i / 8));
  const images = await decodeCall(steps.map((s) => s.latent), steps.map((s) => s.label));
  $("#interpolate-strip").replaceChildren(...images.map((image, i) => figure(png(image), `t = ${(i / 8).toFixed(2)}`)));
}

function setUpInterpolation() {
  for (const place of $$(".slot-place")) { // the start and the end: one template, two copies
    const slot = $("#slot-template").content.firstElementChild.cloneNode(true);
    slot.dataset.slot = place.dataset.slot;
    $("legend", slot).textContent = place.dataset.name;
    $("img", slot).alt = `the ${place.dataset.name.toLowerCase()} image`;
    place.replaceWith(slot);
    const index = Number(slot.dataset.slot);
    const label = () => Number($("#interpolate-class").value || 0);
    $(".slot-sample", slot).addEventListener("click", guarded(async () => setSlot(index, await sampledItem())));
    $(".slot-drawing", slot).addEventListener("click", guarded(async () => setSlot(index, await encodedItem(drawingAsDataUrl(), label()))));
    $(".slot-upload", slot).addEventListener("change", guarded(async (event) => {
      if (!event.target.files[0]) return;
      await uploadToCanvas(event.target.files[0]);
      setSlot(index, await encodedItem(drawingAsDataUrl(), label()));
    }));
  }
  $("#interpolate-slider").addEventListener("input", () => interpolateAt());
}

// restyle

async function restyle(source) {
  const m = model();
  const classes = (m.classes ?? []).map((_, k) => k);
  const images = await decodeCall(classes.map(() => source.latent), classes);
  $("#restyle-source").src = source.image;
  $("#restyle-grid").replaceChildren(...images.map((image, k) => figure(png(image), className(k))));
  clearMessage();
}

function setUpRestyle() {
  const label = () => Number($("#restyle-class").value || 0);
  $("#restyle-sample").addEventListener("click", guarded(async () => restyle(await sampledItem())));
  $("#restyle-drawing").addEventListener("click", guarded(async () => restyle(await encodedItem(drawingAsDataUrl(), label()))));
  $("#restyle-upload").addEventListener("change", guarded(async (event) => {
    if (!event.target.files[0]) return;
    await uploadToCanvas(event.target.files[0]);
    await restyle(await encodedItem(drawingAsDataUrl(), label()));
  }));
}

// anomaly

async function scoreDrawing() {
  const m = model();
  const image = drawingAsDataUrl();
  const labels = takesLabel(m) && !m.classifies ? [Number($("#anomaly-class").value || 0)] : undefined;
  const call = { method: "POST", json: { model: m.name, images: [image], labels } };
  const [scored, heat] = await Promise.all([api("/score", call), api("/score", { ...call, accept: "image/png" })]);
  const one = scored.scores[0];
  $("#anomaly-input").src = image;
  $("#anomaly-map").src = heat;
  $("#anomaly-verdict").textContent = one.p_value === null
    ? `Reconstruction error ${one.reconstruction.toFixed(4)}. ${m.anomaly.why_not}`
    : `Score ${one.score.toFixed(2)}, p-value ${one.p_value.toPrecision(2)}: ${one.is_anomaly ? "an anomaly" : "normal"} at alpha ${scored.alpha}.`;
  clearMessage();
}

// start

function setUpToken() {
  const field = $("#token");
  field.value = sessionStorage.getItem("aeserve-token") ?? "";
  field.addEventListener("change", guarded(async () => {
    if (field.value) sessionStorage.setItem("aeserve-token", field.value);
    else sessionStorage.removeItem("aeserve-token");
    state.maps.clear();
    await loadModels();
    clearMessage();
  }));
}

async function start() {
  window.addEventListener("unhandledrejection", (event) => showMessage(event.reason));
  window.addEventListener("error", (event) => showMessage(event.error ?? event.message));
  $("#message-close").addEventListener("click", clearMessage);
  setUpTabs();
  setUpToken();
  setUpDrawing();
  setUpMap();
  setUpInterpolation();
  setUpRestyle();
  $("#model").addEventListener("change", (event) => selectModel(event.target.value));
  $("#sample-form").addEventListener("submit", guarded(drawSample));
  $("#sample-new-seed").addEventListener("click", () => { $("#sample-seed").value = Math.floor(Math.random() * 2 ** 31); });
  $("#draw-clear").addEventListener("click", clearDrawing);
  $("#draw-upload").addEventListener("change", guarded(async (event) => {
    if (event.target.files[0]) { await uploadToCanvas(event.target.files[0]); await reconstruct(); }
  }));
  $("#reconstruct-run").addEventListener("click", guarded(reconstruct));
  $("#anomaly-upload").addEventListener("change", guarded(async (event) => {
    if (event.target.files[0]) { await uploadToCanvas(event.target.files[0]); await scoreDrawing(); }
  }));
  $("#anomaly-run").addEventListener("click", guarded(scoreDrawing));
  showView(location.hash.slice(1) || "models");
  try {
    await loadModels();
    document.body.dataset.ready = "true"; // for tests and scripts: the model list has loaded
  } catch (error) {
    showMessage(error.status === 401 ? `${error.message}. Enter the service's token above.` : error);
  }
}

start();
