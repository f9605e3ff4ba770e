// stylelab serve: one page, no build step. Talks to /api (see stylelab/serve/app.py).
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
// The page starts smaller than the CLI's defaults (512 px, 300 steps): a CPU answers sooner.
const PAGE_DEFAULTS = { size: 256, steps: 200 };
const state = {
  content: "", style: "", fast: "", job: null, source: null, curve: [], fields: [], compare: new Set(),
  method: "gatys", instant: { fields: [], shared: [] },  // an instant job: its own fields, and stylize's it takes
};
const $ = (sel, root = document) => root.querySelector(sel);

function withToken(url) {
  if (!TOKEN) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (TOKEN) headers.Authorization = "Bearer " + TOKEN;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function showError(message) {
  const bar = $("#error");
  bar.textContent = message ? String(message).split("\n")[0] : "";
  bar.title = bar.textContent;
  bar.hidden = !message;
}

// ------------------------------------------------------------------ images in

async function upload(file) {
  const response = await api("/api/uploads", {
    method: "POST",
    body: file,
    headers: { "Content-Type": file.type || "application/octet-stream", "X-Filename": encodeURIComponent(file.name) },
  });
  return (await response.json()).id;
}

function setupPicker(picker, role, examples, onChange) {
  const select = $("select.example", picker);
  const input = $("input[type=file]", picker);
  const thumb = $("img.thumb", picker);
  for (const name of examples) select.add(new Option(name, "example:" + name));
  select.addEventListener("change", () => {
    if (!select.value) return;
    state[role] = select.value;
    input.value = "";
    thumb.src = withToken("/api/examples/" + select.value.slice(8) + ".png");
    showError("");
    onChange();
  });
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    select.value = "";
    state[role] = "";
    thumb.src = "";
    picker.dataset.ready = "no";
    try {
      state[role] = await upload(file);
      thumb.src = URL.createObjectURL(file);
      picker.dataset.ready = "yes";
      showError("");
      onChange();
    } catch (error) {
      input.value = "";
      showError(role + ": " + error.message);
    }
  });
}

// ------------------------------------------------------------------ options

function optionInput(field) {
  const label = document.createElement("label");
  label.title = field.help;
  const name = field.name.replace(/_/g, " ");
  const initial = field.name in PAGE_DEFAULTS ? PAGE_DEFAULTS[field.name] : field.default;
  let input;
  if (field.kind === "bool") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = Boolean(initial);
    label.className = "check";
    label.append(input, name);
  } else {
    if (field.choices) {
      input = document.createElement("select");
      for (const choice of field.choices) input.add(new Option(choice, choice));
      input.value = initial;
    } else {
      input = document.createElement("input");
      input.type = "text";
      input.value = initial === null ? "" : Array.isArray(initial) ? initial.join(",") : initial;
      if (field.optional) input.placeholder = "default";
      if (field.suggestions) {
        const list = document.createElement("datalist");
        list.id = "choices-" + field.name;
        for (const s of field.suggestions) list.append(new Option(s));
        label.append(list);
        input.setAttribute("list", list.id);
      }
    }
    label.append(name, input);
  }
  input.name = field.name;
  return label;
}

// The fields an instant job takes show with it; the others hide.
function setMethod(method) {
  state.method = method;
  const instant = method === "instant";
  $("#instant-options").hidden = !instant;
  for (const field of state.fields) {
    const label = $("#options [name=" + field.name + "]").closest("label");
    label.hidden = instant && !state.instant.shared.includes(field.name);
  }
}

function readOptions(fields) {
  const options = {};
  for (const field of fields) {
    const input = $("#options [name=" + field.name + "]");
    if (field.kind === "bool") {
      if (input.checked !== field.default) options[field.name] = input.checked;
      continue;
    }
    const text = input.value.trim();
    if (text === "" && field.optional) continue;
    let value = text;
    if (field.kind === "int" || field.kind === "float") {
      value = text === "" || isNaN(Number(text)) ? text : Number(text);
    } else if (field.kind === "list") {
      const parts = text.split(",").map((p) => p.trim()).filter((p) => p);
      value = parts.every((p) => p !== "" && !isNaN(Number(p))) ? parts.map(Number) : parts;
    }
    if (JSON.stringify(value) !== JSON.stringify(field.default)) options[field.name] = value;
  }
  return options;
}

// ------------------------------------------------------------------ jobs

async function start() {
  showError("");
  if (!state.content || !state.style) { showError("choose a content and a style image first"); return; }
  const body = { content: state.content, style: state.style, options: readOptions(state.fields) };
  if (state.method === "instant") {
    body.method = "instant";
    body.options = readOptions(state.fields.filter((f) => state.instant.shared.includes(f.name)));
    body.instant = readOptions(state.instant.fields);
  }
  try {
    const response = await api("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const job = await response.json();
    watch(job.id);
    refreshHistory();
  } catch (error) {
    showError(error.message);
  }
}

async function stop() {
  if (!state.job) return;
  try {
    await api("/api/jobs/" + state.job + "/stop", { method: "POST" });
    $("#status").textContent = "stopping…";
  } catch (error) {
    showError(error.message);
  }
}

function watch(id) {
  if (state.source) state.source.close();
  state.job = id;
  state.curve = [];
  const live = $("#live");
  live.dataset.previews = "0";
  live.dataset.job = id;
  live.removeAttribute("src");
  for (const kind of ["png", "csv", "json"]) $("#download-" + kind).hidden = true;
  drawCurve();
  markCurrent();
  const source = new EventSource(withToken("/api/jobs/" + id + "/events"));
  state.source = source;
  source.addEventListener("progress", (event) => {
    const data = JSON.parse(event.data);
    if (data.reset) state.curve = [];
    state.curve.push(...data.points);
    drawCurve();
    const active = data.status === "queued" || data.status === "running";
    $("#stop").disabled = !active;
    const running = data.steps ? ": iteration " + data.iterations + " / " + data.steps : "";
    $("#status").textContent = data.status + (data.status === "running" ? running : data.message ? ": " + data.message : "");
  });
  source.addEventListener("preview", (event) => {
    const data = JSON.parse(event.data);
    if (live.getAttribute("src") !== data.src) {
      live.src = data.src;
      live.dataset.previews = String(Number(live.dataset.previews) + 1);
    }
  });
  source.addEventListener("end", (event) => {
    const job = JSON.parse(event.data);
    source.close();
    state.source = null;
    $("#stop").disabled = true;
    $("#status").textContent = job.status + (job.message ? ": " + job.message : "");
    document.body.dataset.lastStatus = job.status;
    if (job.files.includes("image.png")) {  // the saved result (also for jobs from before a restart)
      live.src = withToken("/api/jobs/" + job.id + "/files/image.png");
    }
    showDownloads(job);
    refreshHistory();
  });
}

function showDownloads(job) {
  for (const kind of ["png", "csv", "json"]) {
    const link = $("#download-" + kind);
    const name = "image." + kind;
    link.hidden = !job.files.includes(name);
    link.href = withToken("/api/jobs/" + job.id + "/files/" + name + "?download=1");
  }
}

function drawCurve() {
  const canvas = $("#curve");
  const width = canvas.width = canvas.clientWidth * devicePixelRatio || 480;
  const height = canvas.height = canvas.clientHeight * devicePixelRatio || 140;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const points = state.curve.filter((p) => p[1] !== null && p[1] > 0);
  ctx.fillStyle = "#777";
  ctx.font = 11 * devicePixelRatio + "px system-ui";
  if (points.length < 2) { ctx.fillText("loss (log scale) appears here", 8, 16 * devicePixelRatio); return; }
  const logs = points.map((p) => Math.log10(p[1]));
  const lo = Math.min(...logs), hi = Math.max(...logs) + 1e-9;
  const first = points[0][0], last = points[points.length - 1][0] + 1e-9;
  const pad = 6 * devicePixelRatio;
  ctx.strokeStyle = "#3a5fcd";
  ctx.lineWidth = 2 * devicePixelRatio;
  ctx.beginPath();
  points.forEach((p, i) => {
    const x = pad + (width - 2 * pad) * (p[0] - first) / (last - first);
    const y = pad + (height - 2 * pad) * (1 - (logs[i] - lo) / (hi - lo));
    if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
  });
  ctx.stroke();
  ctx.fillText("total loss " + points[points.length - 1][1].toPrecision(4) + " at iteration " + points[points.length - 1][0], 8, height - 8);
}

// ------------------------------------------------------------------ history

function describe(job) {
  const c = job.config;
  if (job.method === "instant") {
    const refine = job.instant.refine ? ", refine " + job.iterations + "/" + job.instant.refine : "";
    return c.size + " px, instant, strength " + job.instant.strength + refine;
  }
  return c.size + " px, " + job.iterations + "/" + job.steps + " it, style " + c.style_weight + ", " + c.backbone + " " + c.weights + (c.smoothing !== "none" ? ", " + c.smoothing : "");
}

function thumbURL(job) {
  return job.files.includes("thumbnail.png") ? withToken("/api/jobs/" + job.id + "/files/thumbnail.png") : "";
}

async function refreshHistory() {
  let jobs;
  try { jobs = (await (await api("/api/jobs")).json()).jobs; } catch (error) { showError(error.message); return; }
  const history = $("#history");
  history.replaceChildren();
  for (const job of jobs) {
    const card = document.createElement("div");
    card.className = "card";
    card.dataset.job = job.id;
    card.dataset.status = job.status;
    const img = document.createElement("img");
    const src = thumbURL(job);
    if (src) img.src = src;
    img.alt = job.status;
    const line = document.createElement("div");
    line.innerHTML = '<span class="state-' + job.status + '"></span>';
    line.firstChild.textContent = job.status;
    const tick = document.createElement("input");
    tick.type = "checkbox";
    tick.title = "compare";
    tick.checked = state.compare.has(job.id);
    tick.addEventListener("click", (event) => {
      event.stopPropagation();
      if (tick.checked) state.compare.add(job.id); else state.compare.delete(job.id);
      renderCompare(jobs);
    });
    line.prepend(tick);
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = describe(job);
    meta.title = job.content + " + " + job.style + ": " + describe(job) + (job.message ? " (" + job.message + ")" : "");
    card.append(img, line, meta);
    card.addEventListener("click", () => watch(job.id));
    history.append(card);
  }
  markCurrent();
  renderCompare(jobs);
}

function renderCompare(jobs) {
  const strip = $("#compare");
  strip.replaceChildren();
  for (const job of jobs.filter((j) => state.compare.has(j.id))) {
    if (!job.files.includes("image.png")) continue;
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = withToken("/api/jobs/" + job.id + "/files/image.png");
    const caption = document.createElement("figcaption");
    caption.textContent = describe(job);
    figure.append(img, caption);
    strip.append(figure);
  }
}

function markCurrent() {
  for (const card of document.querySelectorAll(".card")) card.classList.toggle("current", card.dataset.job === state.job);
}

// ------------------------------------------------------------------ fast models

let fastModels = [];
let fastTimer = null;

function setupFast(models, examples) {
  fastModels = models.filter((m) => m.styles.length);
  if (!fastModels.length) return;
  $("#tab-fast").hidden = false;
  const select = $("#fast-model");
  for (const m of fastModels) select.add(new Option(m.name + " (" + m.styles.length + " styles)", m.name));
  select.addEventListener("change", () => { buildSliders(); applyFast(); });
  $("#fast-size").addEventListener("change", applyFast);
  setupPicker($(".picker[data-role=fast]"), "fast", examples, applyFast);
  buildSliders();
}

function buildSliders() {
  const model = fastModels.find((m) => m.name === $("#fast-model").value);
  const box = $("#fast-sliders");
  box.replaceChildren();
  model.styles.forEach((name, i) => {
    const label = document.createElement("label");
    const slider = document.createElement("input");
    slider.type = "range"; slider.min = "0"; slider.max = "100"; slider.value = i === 0 ? "100" : "0";
    const shown = document.createElement("span");
    label.append(name, slider, shown);
    slider.addEventListener("input", () => { showWeights(); clearTimeout(fastTimer); fastTimer = setTimeout(applyFast, 120); });
    box.append(label);
  });
  showWeights();
}

function fastWeights() {
  return [...document.querySelectorAll("#fast-sliders input")].map((s) => Number(s.value));
}

function showWeights() {
  const weights = fastWeights();
  const total = weights.reduce((a, b) => a + b, 0);
  document.querySelectorAll("#fast-sliders span").forEach((span, i) => {
    span.textContent = total ? Math.round(100 * weights[i] / total) + "%" : "–";
  });
}

async function applyFast() {
  if (!state.fast) { $("#fast-status").textContent = "Pick a photo."; return; }
  const weights = fastWeights();
  if (!weights.some((w) => w > 0)) { showError("style mix: move at least one slider above 0"); return; }
  const body = { model: $("#fast-model").value, image: state.fast, weights, size: Number($("#fast-size").value) };
  const began = performance.now();
  try {
    const response = await api("/api/fast", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const blob = await response.blob();
    $("#fast-result").src = URL.createObjectURL(blob);
    $("#fast-status").textContent = "applied in " + Math.round(performance.now() - began) + " ms";
    showError("");
  } catch (error) {
    showError(error.message);
  }
}

// ------------------------------------------------------------------ start

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  $("#page-stylize").hidden = name !== "stylize";
  $("#page-fast").hidden = name !== "fast";
}

async function main() {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  $("#start").addEventListener("click", start);
  $("#stop").addEventListener("click", stop);
  try {
    const examples = (await (await api("/api/examples")).json()).examples;
    setupPicker($(".picker[data-role=content]"), "content", examples, () => {});
    setupPicker($(".picker[data-role=style]"), "style", examples, () => {});
    refreshHistory();
    const schema = await (await api("/api/options")).json();
    state.fields = schema.fields;
    for (const field of schema.fields) $(field.main ? "#main-options" : "#more-options").append(optionInput(field));
    state.instant = schema.instant;
    for (const field of schema.instant.fields) $("#instant-options").append(optionInput(field));
    for (const radio of document.querySelectorAll("#method input")) radio.addEventListener("change", () => setMethod(radio.value));
    setMethod($("#method input:checked").value);
    document.body.dataset.ready = "yes";
    const models = (await (await api("/api/models")).json()).models;
    setupFast(models, examples);
    const health = await (await api("/api/health")).json();
    $("#health").textContent = health.workers + " worker" + (health.workers > 1 ? "s" : "");
  } catch (error) {
    showError(error.message);
  }
  drawCurve();
}

main();
