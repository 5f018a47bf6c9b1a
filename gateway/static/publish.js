// Publish: upload files or a folder through the object API (PUT per file, four at a
// time) or a zip through /ui/zip, with one progress bar over all bytes, then make the
// site's keys one deploy and make it live, as `dwp publish` does (nothing goes live when
// a file failed). Files already stored with the same content are skipped.
"use strict";

const PARALLEL = 4;
const HASH_MAX = 64 * 1024 * 1024; // larger files are uploaded without asking
const BATCH = 1000; // files per /ui/unchanged request

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// The keys whose stored content equals the local file: the browser hashes with SHA-256
// (Web Crypto, only in a secure context such as 127.0.0.1) and the gateway compares.
async function alreadyStored(entries) {
  if (!globalThis.crypto || !crypto.subtle) return new Set();
  const found = new Set();
  const candidates = entries.filter(({ file }) => file.size <= HASH_MAX);
  for (let i = 0; i < candidates.length; i += BATCH) {
    const files = [];
    for (const { key, file } of candidates.slice(i, i + BATCH)) {
      const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
      files.push({ key, size: file.size, sha256: hex(digest) });
    }
    try {
      const reply = await fetch("/ui/unchanged", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ files }) });
      if (!reply.ok) return found; // cannot tell: upload the rest
      (await reply.json()).unchanged.forEach((k) => found.add(k));
    } catch {
      return found;
    }
  }
  return found;
}

// The gateway renders where a plain-named site opens (its own origin here, or the
// path URL) for the placeholder name; other names go through /sites/, which redirects.
const PLACEHOLDER = "dwp-site-placeholder";
const PLAIN_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function keyPath(key) {
  return key.split("/").map(encodeURIComponent).join("/");
}

function siteUrl(base) {
  const site = base.split("/")[0];
  const pattern = document.getElementById("publish").dataset.siteUrl;
  if (!pattern || !PLAIN_LABEL.test(site) || site.includes("--")) return "/sites/" + keyPath(base);
  return pattern.replace(PLACEHOLDER, site) + keyPath(base.slice(site.length + 1));
}

function send(method, url, body, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => resolve({ ok: xhr.status < 300, status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => resolve({ ok: false, status: 0, text: '{"detail": "network error"}' });
    xhr.send(body);
  });
}

// Deploy the site's keys as they stand (404: it has none).
function deploy(site) {
  return fetch(`/api/v1/sites/${encodeURIComponent(site)}/deploys`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ author: "web UI" }) })
    .then(async (r) => ({ ok: r.ok, status: r.status, text: await r.text() }))
    .catch(() => ({ ok: false, status: 0, text: '{"detail": "network error"}' }));
}

function liveLine(made) {
  if (made.conflict.length) return `Conflict: ${made.conflict.join(" and ")} are both live. `;
  return made.new ? `Deploy ${made.id} is live. ` : `Deploy ${made.id} was already live. `;
}

function reason(reply) {
  try {
    const body = JSON.parse(reply.text);
    return `${reply.status} ${body.error}: ${body.detail}`;
  } catch {
    return `HTTP ${reply.status}`;
  }
}

function relativeName(file) {
  // A folder's files arrive as "folder/sub/name": the folder's contents become the site.
  const rel = file.webkitRelativePath || file.name;
  return rel.includes("/") && file.webkitRelativePath ? rel.slice(rel.indexOf("/") + 1) : rel;
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("publish");
  const bar = document.getElementById("progress");
  const status = document.getElementById("status");
  const log = document.getElementById("log");
  const button = document.getElementById("upload");
  const maxUpload = Number(form.dataset.maxUpload);

  function note(text, cls) {
    const li = document.createElement("li");
    li.textContent = text;
    if (cls) li.className = cls;
    log.appendChild(li);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const site = document.getElementById("site").value.trim().replace(/^\/+|\/+$/g, "");
    const dir = document.getElementById("dir").value.trim().replace(/^\/+|\/+$/g, "");
    const base = site + "/" + (dir ? dir + "/" : "");
    const files = [...document.getElementById("folder").files, ...document.getElementById("files").files];
    const zip = document.getElementById("zip").files[0];
    log.replaceChildren();
    if (!site) { status.textContent = "Name the site first."; return; }
    if (!files.length && !zip) { status.textContent = "Choose a folder, files or a zip."; return; }

    status.textContent = "Comparing with what is stored…";
    const entries = files.map((file) => ({ key: base + relativeName(file), file }));
    const stored = await alreadyStored(entries);
    const todo = entries.filter(({ key }) => !stored.has(key));
    const total = todo.reduce((n, e) => n + e.file.size, 0) + (zip ? zip.size : 0);
    const loaded = new Map();
    const update = () => {
      const sum = [...loaded.values()].reduce((a, b) => a + b, 0);
      bar.value = total ? sum / total : 1;
    };
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    let done = 0, failed = 0;

    const queue = todo.slice();
    async function worker() {
      while (queue.length) {
        const { key, file } = queue.shift();
        if (file.size > maxUpload) {
          failed++; note(`${key}: over the upload limit of ${maxUpload} bytes`, "failed");
          continue;
        }
        // Sent without the browser's own guess of its type: the gateway decides the type
        // from the key, as it does for every other way of publishing.
        const reply = await send("PUT", "/api/v1/objects/" + keyPath(key) + "?deploy=false",
                                 file.slice(0, file.size, ""),
                                 (n) => { loaded.set(file, n); update(); });
        loaded.set(file, file.size); update();
        if (reply.ok) { done++; note(key, "ok"); } else { failed++; note(`${key}: ${reason(reply)}`, "failed"); }
        status.textContent = `Uploading… ${done + failed} of ${todo.length} files`;
      }
    }
    await Promise.all(Array.from({ length: Math.min(PARALLEL, todo.length) }, worker));

    if (zip) {
      status.textContent = "Uploading and unpacking the zip…";
      const url = `/ui/zip/${encodeURIComponent(site)}?dir=${encodeURIComponent(dir)}`;
      const reply = await send("POST", url, zip, (n) => { loaded.set(zip, n); update(); });
      loaded.set(zip, zip.size); update();
      if (reply.ok) {
        const keys = JSON.parse(reply.text).keys;
        keys.forEach((k) => note(k, "ok"));
        done += keys.length;
      } else { failed++; note(`${zip.name}: ${reason(reply)}`, "failed"); }
    }

    let live = "";
    if (!failed) {
      status.textContent = "Making the deploy live…";
      const reply = await deploy(site);
      if (reply.ok) live = liveLine(JSON.parse(reply.text));
      else if (reply.status !== 404) { failed++; note(`deploy: ${reason(reply)}`, "failed"); }
    }

    bar.value = 1;
    button.disabled = false;
    status.replaceChildren();
    const same = stored.size ? `, ${stored.size} unchanged` : "";
    status.append(`Published ${done} file${done === 1 ? "" : "s"} to ${site}${same}` +
                  (failed ? `; ${failed} failed (see below).` : `. ${live}`));
    if (done || stored.size) {
      const browse = document.createElement("a");
      browse.href = "/ui/browse/" + keyPath(base);
      browse.textContent = "Browse them";
      browse.id = "browse-result";
      const open = document.createElement("a");
      open.href = siteUrl(base);
      open.id = "open-result";
      open.textContent = "open the site ↗";
      open.target = "_blank";
      status.append(browse, " or ", open);
    }
    status.dataset.done = failed ? "failed" : "ok";
  });
});
