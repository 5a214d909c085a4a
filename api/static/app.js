// Face Analytics Home: the page at "/". Plain JavaScript calling the API with the visitor's key.
// The key lives in sessionStorage only (gone when the tab closes) and goes out as X-API-Key.
"use strict";

const KEY_STORAGE = "fah.apiKey";
const $ = (selector) => document.querySelector(selector);

/** An answer that was not 2xx: `message` is the API's own one-line `error`. */
class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

async function api(method, path, body) {
  const headers = {};
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch (err) {
    throw new ApiFailure(0, `The API could not be reached (${err.message})`);
  }
  if (!response.ok) {
    let message = `The API answered ${response.status} ${response.statusText}`;
    try {
      const data = await response.json();
      if (data && typeof data.error === "string") message = data.error;
    } catch (_) {
      // not JSON (a proxy's page): keep the status line
    }
    throw new ApiFailure(response.status, message);
  }
  return response;
}

async function apiJson(method, path, body) {
  return (await api(method, path, body)).json();
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = false;
}

function showNotice(message) {
  const box = $("#notice");
  box.textContent = message;
  box.hidden = false;
}

function clearMessages() {
  $("#error").hidden = true;
  $("#error").textContent = "";
  $("#notice").hidden = true;
}

/** Run an action, showing any failure as the API's message instead of losing it in the console. */
async function guarded(action) {
  clearMessages();
  try {
    return await action();
  } catch (err) {
    showError(err instanceof ApiFailure ? err.message : String(err && err.message ? err.message : err));
    return undefined;
  }
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function fillFacts(list, facts) {
  list.replaceChildren();
  for (const [term, value] of facts) {
    list.append(element("dt", {}, term), element("dd", {}, value === null || value === undefined ? "—" : String(value)));
  }
}

function localTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

// --- the API key ----------------------------------------------------------------------------

function showKeyState() {
  $("#key-status").textContent = apiKey() ? "key set for this tab" : "no key";
}

$("#key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = $("#api-key").value.trim();
  if (value) sessionStorage.setItem(KEY_STORAGE, value);
  $("#api-key").value = "";
  showKeyState();
  await guarded(async () => {
    await refreshStats();
    await refreshPeopleNames();
    showNotice("Key accepted.");
  });
});

$("#forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE);
  showKeyState();
  showNotice("Key forgotten for this tab.");
});

// --- analysing a photo ----------------------------------------------------------------------

const analysis = { file: null, faces: [], url: null, selected: null };

function faceSummary(face) {
  const parts = [];
  parts.push(face.similarity === null || face.similarity === undefined ? "sim —" : `sim ${face.similarity.toFixed(2)}`);
  parts.push(face.age === null || face.age === undefined ? "age n/a" : `age ${Math.round(face.age)}`);
  parts.push(face.gender ? face.gender : "gender n/a");
  return parts.join(" · ");
}

function renderFaces() {
  const img = $("#photo");
  const boxes = $("#boxes");
  const list = $("#face-list");
  boxes.replaceChildren();
  list.replaceChildren();
  const width = img.naturalWidth;
  const height = img.naturalHeight;
  analysis.faces.forEach((face, index) => {
    const known = face.identity !== "unknown";
    const { x, y, width: w, height: h } = face.bbox;
    // Labels hang below the box and start at its left edge; near the right or bottom of the photo they
    // flip, so that they stay over the photo (and a phone never scrolls sideways).
    const placement = [
      x + w / 2 > width / 2 ? " label-right" : "",
      y + h > height * 0.78 ? " label-above" : "",
    ].join("");
    const box = element(
      "button",
      {
        type: "button",
        class: `face-box ${known ? "known" : "unknown"}${placement}${analysis.selected === index ? " selected" : ""}`,
        dataset: { index: String(index) },
        title: `Face ${index + 1}: ${face.identity} — click to enroll`,
        "aria-label": `Face ${index + 1}: ${face.identity}, ${faceSummary(face)}`,
      },
      element("span", { class: "face-number", "aria-hidden": "true" }, String(index + 1)),
      element("span", { class: "face-label" },
        element("strong", { class: "face-name" }, face.identity),
        element("span", { class: "face-meta" }, faceSummary(face))),
    );
    box.style.left = `${(100 * x) / width}%`;
    box.style.top = `${(100 * y) / height}%`;
    box.style.width = `${(100 * w) / width}%`;
    box.style.height = `${(100 * h) / height}%`;
    box.addEventListener("click", () => selectFace(index));
    boxes.append(box);

    const item = element(
      "li",
      { class: known ? "known" : "unknown", dataset: { index: String(index) } },
      element("strong", {}, face.identity),
      ` — ${faceSummary(face)}`,
      face.matches && face.matches.length
        ? element("span", { class: "muted small" },
          ` (closest: ${face.matches.map((m) => `${m.name} ${m.similarity.toFixed(2)}`).join(", ")})`)
        : "",
    );
    const enroll = element("button", { type: "button", class: "secondary small-button" }, "Enroll…");
    enroll.addEventListener("click", () => selectFace(index));
    item.append(" ", enroll);
    list.append(item);
  });
  fitLabels();
}

/** Where the photo is shown too small for a label per face (a phone, a crowd), the boxes keep just
 *  their number and the numbered list below says who is who; a tapped box shows its own label. */
function fitLabels() {
  const shown = $("#photo").clientWidth;
  const perFace = analysis.faces.length ? shown / analysis.faces.length : shown;
  $("#photo-stage").classList.toggle("compact", perFace < 150);
}

new ResizeObserver(fitLabels).observe($("#photo"));

function selectFace(index) {
  analysis.selected = index;
  const face = analysis.faces[index];
  $("#enroll-index").textContent = `${index + 1} of ${analysis.faces.length}`;
  $("#enroll-summary").textContent = `Now: ${face.identity} — ${faceSummary(face)}`;
  $("#enroll-name").value = face.identity !== "unknown" ? face.identity : "";
  $("#enroll-form").hidden = false;
  renderFaces();
  $("#enroll-name").focus();
}

function closeEnroll() {
  analysis.selected = null;
  $("#enroll-form").hidden = true;
  renderFaces();
}

async function analyse(file) {
  analysis.file = file;
  analysis.selected = null;
  $("#enroll-form").hidden = true;
  $("#analyze-status").textContent = `Analysing ${file.name}…`;
  const form = new FormData();
  form.append("file", file);
  let data;
  try {
    data = await apiJson("POST", "/analyze", form);
  } catch (err) {
    $("#result").hidden = true;
    $("#analyze-status").textContent = "";
    throw err;
  }
  if (analysis.url) URL.revokeObjectURL(analysis.url);
  analysis.url = URL.createObjectURL(file);
  const img = $("#photo");
  img.src = analysis.url;
  await img.decode();
  analysis.faces = data.faces;
  $("#result").hidden = false;
  $("#analyze-status").textContent = `${data.message} in ${Math.round(data.timing_ms)} ms.`;
  renderFaces();
  showModelVersions(data.model_versions);
  refreshStats().catch(() => {}); // the new detections; a failure here must not hide the analysis
}

$("#photo-input").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) guarded(() => analyse(file));
  event.target.value = "";
});

const dropZone = $("#drop-zone");
for (const name of ["dragenter", "dragover"]) {
  dropZone.addEventListener(name, (event) => {
    event.preventDefault();
    dropZone.classList.add("dragging");
  });
}
for (const name of ["dragleave", "drop"]) {
  dropZone.addEventListener(name, () => dropZone.classList.remove("dragging"));
}
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer.files[0];
  if (file) guarded(() => analyse(file));
});

$("#enroll-cancel").addEventListener("click", closeEnroll);

$("#enroll-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(async () => {
    const index = analysis.selected;
    const form = new FormData();
    form.append("file", analysis.file);
    form.append("person_name", $("#enroll-name").value);
    form.append("face_index", String(index));
    const body = await apiJson("POST", "/register", form);
    const what = body.added ? (body.created ? "enrolled as a new person" : "added to") : "was already enrolled for";
    // This very face is now enrolled, so the API would name it (similarity 1): say so without analysing
    // the photo again, which would record every face in it a second time (statistics, attendance).
    Object.assign(analysis.faces[index], { identity: body.name, person_id: body.person_id, similarity: 1 });
    closeEnroll();
    showNotice(`Face ${index + 1} ${what} ${body.name} (${body.faces} face${body.faces === 1 ? "" : "s"} enrolled).`);
    await refreshPeopleNames();
    await refreshStats();
  });
});

$("#download-annotated").addEventListener("click", () => {
  guarded(async () => {
    const form = new FormData();
    form.append("file", analysis.file);
    const blob = await (await api("POST", "/analyze?format=jpeg", form)).blob();
    const link = element("a", { href: URL.createObjectURL(blob), download: "annotated.jpg" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  });
});

// --- verification ---------------------------------------------------------------------------

function verifyMode() {
  return document.querySelector("input[name=verify-mode]:checked").value;
}

for (const radio of document.querySelectorAll("input[name=verify-mode]")) {
  radio.addEventListener("change", () => {
    $("#verify-person-row").hidden = verifyMode() !== "person";
    $("#verify-photo-row").hidden = verifyMode() !== "photo";
  });
}

$("#verify-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const result = $("#verify-result");
  result.replaceChildren();
  guarded(async () => {
    const form = new FormData();
    form.append("file", $("#verify-file").files[0]);
    if (verifyMode() === "person") {
      form.append("person_name", $("#verify-person").value);
    } else {
      const second = $("#verify-file2").files[0];
      if (!second) throw new Error("Choose a second photo to compare with.");
      form.append("file2", second);
    }
    const body = await apiJson("POST", "/verify", form);
    const against = body.person ? body.person.name : "the second photo";
    result.className = `verdict ${body.is_match ? "match" : "no-match"}`;
    result.append(
      element("strong", { id: "verdict-text" }, body.is_match ? "Match" : "No match"),
      ` with ${against}: score ${body.score.toFixed(3)} (threshold ${body.threshold.toFixed(3)}, ${body.model_version})`,
    );
  });
});

// --- people -----------------------------------------------------------------------------------

let shownPerson = null;

async function search() {
  const name = $("#search-name").value;
  const body = await apiJson("GET", `/search?${new URLSearchParams({ name, page_size: "100" })}`);
  const list = $("#search-results");
  list.replaceChildren();
  $("#search-summary").textContent =
    `${body.total} ${body.total === 1 ? "person" : "people"}${body.total > body.results.length ? ` (first ${body.results.length})` : ""}`;
  for (const person of body.results) {
    const open = element("button", { type: "button", class: "link", dataset: { id: String(person.id) } }, person.name);
    open.addEventListener("click", () => guarded(() => openPerson(person.id)));
    list.append(element("li", {}, open, element("span", { class: "muted" }, ` ${person.faces} face${person.faces === 1 ? "" : "s"}`)));
  }
}

async function openPerson(id) {
  const person = await apiJson("GET", `/persons/${id}`);
  shownPerson = person;
  $("#person-name").textContent = person.name;
  fillFacts($("#person-facts"), [
    ["Id", person.id],
    ["Enrolled", localTime(person.enrolled_at)],
    ["Faces", person.faces],
    ["Detections", person.detections],
    ["Last seen", localTime(person.last_seen)],
  ]);
  const faces = $("#person-embeddings");
  faces.replaceChildren(...person.embeddings.map((e) =>
    element("li", {}, `#${e.id} · ${e.embedder_version} (${e.dim}-d) · ${localTime(e.created_at)}${e.has_crop ? " · crop kept" : ""}`)));
  $("#person-details").hidden = false;
}

$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(search);
});

$("#delete-person").addEventListener("click", () => {
  const person = shownPerson;
  if (!person) return;
  const question = `Delete ${person.name}? Their ${person.faces} enrolled face(s) are removed and their name is taken `
    + "off past detections. This cannot be undone.";
  if (!window.confirm(question)) return;
  guarded(async () => {
    const body = await apiJson("DELETE", `/persons/${person.id}`);
    shownPerson = null;
    $("#person-details").hidden = true;
    await search();
    showNotice(`Deleted ${body.name}: ${body.embeddings_removed} face(s) removed, `
      + `${body.detections_anonymised} detection(s) made anonymous.`);
    await refreshPeopleNames();
    await refreshStats();
  });
});

/** The names offered when enrolling or verifying (the first 100, enough for a household). */
async function refreshPeopleNames() {
  const body = await apiJson("GET", "/search?page_size=100");
  $("#people-names").replaceChildren(...body.results.map((p) => element("option", { value: p.name })));
}

// --- statistics -------------------------------------------------------------------------------

function showModelVersions(versions) {
  fillFacts($("#model-versions"), Object.entries(versions || {}).map(([name, version]) => [name, version ?? "none"]));
}

function distribution(counts) {
  return Object.entries(counts || {}).map(([k, v]) => `${k}: ${v}`).join(", ") || "—";
}

async function refreshStats() {
  const s = await apiJson("GET", "/stats");
  fillFacts($("#stats"), [
    ["People", s.persons],
    ["Enrolled faces", s.faces],
    ["Detections", `${s.detections.total} (${s.detections.last_24h} in the last 24 h)`],
    ["Known / unknown", `${s.detections.known} / ${s.detections.unknown}`],
    ["Strangers tracked", s.unknown_faces_tracked],
    ["Gender", distribution(s.gender_distribution)],
    ["Age", distribution(s.age_distribution)],
    ["Uptime", `${Math.round(s.uptime_s)} s`],
  ]);
  showModelVersions(s.model_versions);
}

$("#stats-refresh").addEventListener("click", () => guarded(refreshStats));

// --- start ------------------------------------------------------------------------------------

showKeyState();
(async () => {
  try {
    await refreshStats();
    await refreshPeopleNames();
  } catch (err) {
    // Without a key (or before the models are in) say so quietly; actions show their own errors.
    $("#key-status").textContent = err instanceof ApiFailure ? err.message : String(err);
  }
})();
