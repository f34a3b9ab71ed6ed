/// The playground's script. It holds no powers of its own: every call goes to Easel's
/// public API (Leap's routes) with the key the person typed, kept in the browser's local
/// storage. The job's events come from `GET .../events` read with `fetch` (an
/// `EventSource` cannot send the `Authorization` header).
enum PlaygroundScript {
    static let javascript = #"""
        "use strict";
        (() => {
          const $ = (id) => document.getElementById(id);
          const KEY_STORAGE = "easel.apiKey";
          const MODEL_STORAGE = "easel.model";
          const FIELDS = ["prompt", "negativePrompt", "width", "height", "steps", "promptStrength", "seed", "numberOfImages"];
          const NUMBERS = new Set(["width", "height", "steps", "promptStrength", "seed", "numberOfImages"]);
          const PAGE_SIZE = 8;
          const state = { models: [], job: null, page: 1, follow: null };

          class ApiError extends Error {
            constructor(status, body, headers) {
              super(Array.isArray(body?.message) ? body.message.join("; ") : (body?.message || `HTTP ${status}`));
              this.status = status;
              this.body = body;
              this.headers = headers;
            }
          }

          function key() { return $("apiKey").value.trim(); }

          async function api(path, options = {}) {
            const headers = Object.assign({ Authorization: `Bearer ${key()}` }, options.headers || {});
            if (options.json !== undefined) headers["Content-Type"] = "application/json";
            const response = await fetch(path, {
              method: options.method || "GET", headers,
              body: options.json !== undefined ? JSON.stringify(options.json) : undefined,
              signal: options.signal, cache: "no-store",
            });
            if (options.raw) {
              if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null), response.headers);
              return response;
            }
            const body = await response.json().catch(() => null);
            if (!response.ok) throw new ApiError(response.status, body, response.headers);
            return body;
          }

          // Same-origin path of an image URI (the page and the images come from this server).
          function imagePath(uri) {
            try { const url = new URL(uri, location.href); return url.pathname; } catch { return uri; }
          }

          function modelPath() { return `/api/v1/images/models/${encodeURIComponent($("model").value)}/inferences`; }

          // Messages -------------------------------------------------------------------
          function showMessage(text, kind = "error") {
            const box = $("message");
            box.textContent = text;
            box.className = kind === "info" ? "message info" : "message";
            box.hidden = !text;
          }

          function clearFieldErrors() {
            for (const name of ["model", ...FIELDS]) {
              $(`${name}-error`).textContent = "";
              $(name).removeAttribute("aria-invalid");
            }
          }

          // The field a validation message names: its first word (Leap's field names).
          function fieldOf(message) {
            const word = (message.match(/^[A-Za-z]+/) || [""])[0];
            return FIELDS.includes(word) ? word : null;
          }

          function explain(error, doing) {
            if (!(error instanceof ApiError)) {
              showMessage(`Could not reach Easel while ${doing}: ${error.message}`);
              return;
            }
            switch (error.status) {
              case 401:
                showMessage("Wrong or missing API key (401 Unauthorized): enter a key made by `easel keys create`.");
                break;
              case 400: {
                const messages = Array.isArray(error.body?.message) ? error.body.message : [error.message];
                const general = [];
                for (const message of messages) {
                  const field = fieldOf(message);
                  if (field) {
                    const slot = $(`${field}-error`);
                    slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
                    $(field).setAttribute("aria-invalid", "true");
                  } else {
                    general.push(message);
                  }
                }
                showMessage(`The request was rejected (400 Bad Request)${general.length ? ": " + general.join("; ") : "; see the fields marked below."}`);
                break;
              }
              case 429: {
                const wait = error.headers?.get("Retry-After");
                showMessage(`The queue is full (429 Too Many Requests): ${error.message}.${wait ? ` Try again in ${wait} s.` : ""}`);
                break;
              }
              case 404:
                showMessage(`Not found (404) while ${doing}: ${error.message}`);
                break;
              default:
                showMessage(`Easel answered ${error.status} while ${doing}: ${error.message}`);
            }
          }

          // Models and defaults -----------------------------------------------------------
          async function loadModels() {
            clearFieldErrors();
            if (!key()) { showMessage("Enter an API key to start.", "info"); return; }
            try {
              const body = await api("/api/v2/images/models");
              state.models = body.models || [];
            } catch (error) {
              state.models = [];
              $("model").replaceChildren();
              renderGallery([]);
              explain(error, "loading the models");
              return;
            }
            const select = $("model");
            const previous = select.value;
            select.replaceChildren(...state.models.map((model) => {
              const option = document.createElement("option");
              option.value = model.id;
              option.textContent = model.name;
              return option;
            }));
            // The model picked before (this page, or the last visit), when it is still there.
            const remembered = previous || localStorage.getItem(MODEL_STORAGE);
            if (state.models.some((m) => m.id === remembered)) select.value = remembered;
            if (state.models.length === 0) { showMessage("No model is installed: add one with `easel models add`.", "info"); return; }
            showMessage("");
            applyDefaults();
            state.page = 1;
            await loadGallery();
          }

          function currentModel() { return state.models.find((m) => m.id === $("model").value); }

          // The model's defaults (its recipe's, else its native size) into the fields.
          function applyDefaults() {
            const model = currentModel();
            if (!model) return;
            const d = Object.assign({}, model.defaults || {});
            for (const name of FIELDS) {
              if (name === "prompt") continue;
              if (d[name] !== undefined) $(name).value = d[name];
            }
          }

          function readForm() {
            const body = {};
            for (const name of FIELDS) {
              const raw = $(name).value;
              if (NUMBERS.has(name)) {
                if (raw.trim() === "") continue;
                const number = Number(raw);
                body[name] = Number.isFinite(number) ? number : raw;
              } else {
                body[name] = raw;
              }
            }
            return body;
          }

          // Generating ---------------------------------------------------------------------
          async function generate(event) {
            event.preventDefault();
            clearFieldErrors();
            showMessage("");
            if (!key()) { showMessage("Enter an API key first."); $("apiKey").focus(); return; }
            if (!$("model").value) { await loadModels(); if (!$("model").value) return; }
            $("generate").disabled = true;
            let job;
            try {
              job = await api(modelPath(), { method: "POST", json: readForm() });
            } catch (error) {
              $("generate").disabled = false;
              explain(error, "submitting the job");
              return;
            }
            startFollowing(job);
          }

          function startFollowing(job) {
            stopFollowing();
            state.job = { id: job.id, modelPath: modelPath(), started: null, firstStep: 0, lastStep: 0 };
            $("job").hidden = false;
            $("result").replaceChildren();
            $("cancel").disabled = false;
            $("generate").disabled = true;
            showJob(job);
            const controller = new AbortController();
            state.follow = controller;
            follow(job.id, state.job.modelPath, controller.signal).catch((error) => {
              if (controller.signal.aborted) return;
              // The stream broke: fall back to asking now and then.
              poll(job.id, state.job.modelPath, controller.signal).catch((e) => { if (!controller.signal.aborted) explain(e, "following the job"); });
            });
            loadGallery();
          }

          function stopFollowing() {
            if (state.follow) state.follow.abort();
            state.follow = null;
          }

          // Server-Sent Events over fetch: "event: name\ndata: json\n\n" blocks.
          async function follow(id, base, signal) {
            const response = await api(`${base}/${id}/events`, { raw: true, signal, headers: { Accept: "text/event-stream" } });
            const reader = response.body.getReader();
            const decoder = new TextDecoder();
            let buffer = "";
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
              let cut;
              while ((cut = buffer.indexOf("\n\n")) >= 0) {
                const block = buffer.slice(0, cut);
                buffer = buffer.slice(cut + 2);
                let name = "message";
                const data = [];
                for (const line of block.split("\n")) {
                  if (line.startsWith("event:")) name = line.slice(6).trim();
                  else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
                }
                if (data.length === 0) continue;
                const payload = JSON.parse(data.join("\n"));
                if (name === "state") { if (showJob(payload)) return; }
                else if (name === "step") showStep(payload.step, payload.totalSteps, payload.preview);
                else if (name === "preview") showPreview(payload);
                else if (name === "deleted") { endJob(); showMessage("The job was deleted.", "info"); return; }
              }
            }
            if (!signal.aborted && state.job && state.job.id === id) await poll(id, base, signal);
          }

          async function poll(id, base, signal) {
            while (!signal.aborted) {
              const job = await api(`${base}/${id}`, { signal });
              if (showJob(job)) return;
              await new Promise((resolve) => setTimeout(resolve, 1000));
            }
          }

          function formatSeconds(seconds) {
            if (!Number.isFinite(seconds)) return "";
            if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s`;
            return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
          }

          function showStep(step, total, preview) {
            const job = state.job;
            if (!job) return;
            const now = performance.now();
            if (job.started === null) { job.started = now; job.firstStep = step; }
            job.lastStep = step;
            $("jobState").textContent = "Generating";
            $("progress").max = total;
            $("progress").value = step;
            let eta = "";
            const done = step - job.firstStep;
            if (done > 0) eta = ` · about ${formatSeconds(((now - job.started) / 1000 / done) * (total - step))} left`;
            else if (job.estimate !== undefined) eta = ` · about ${formatSeconds(job.estimate)} left`;
            $("progressText").textContent = `Step ${step} / ${total}${eta}`;
            if (preview) showPreview(preview);
          }

          function showPreview(preview) {
            const uri = preview?.uri;
            if (!uri) return;
            let img = $("preview");
            if (!img) {
              img = document.createElement("img");
              img.id = "preview";
              $("result").replaceChildren(img);
            }
            img.alt = `Preview of: ${$("prompt").value}`;
            img.src = uri.startsWith("data:") ? uri : imagePath(uri);
          }

          // Shows a job entity; true once it has ended.
          function showJob(job) {
            if (!state.job || job.id !== state.job.id) return true;
            state.job.estimate = job.estimatedSecondsLeft;
            switch (job.state) {
              case "queued":
                $("jobState").textContent = job.queuePosition ? `Queued: position ${job.queuePosition}` : "Queued";
                $("progress").value = 0;
                $("progressText").textContent = job.estimatedSecondsLeft !== undefined ? `About ${formatSeconds(job.estimatedSecondsLeft)} until done` : "";
                return false;
              case "processing":
                showStep(job.currentStep || 0, job.totalSteps || job.steps, null);
                if (job.cancelRequested) $("jobState").textContent = "Cancelling";
                if (job.preview) showPreview(job.preview);
                return false;
              case "finished":
                $("jobState").textContent = "Finished";
                $("progress").max = job.steps;
                $("progress").value = job.steps;
                $("progressText").textContent = `Step ${job.steps} / ${job.steps}` + (job.timings?.totalSeconds !== undefined ? ` · ${job.timings.totalSeconds.toFixed(1)} s` : "");
                $("result").replaceChildren(...job.images.map((image) => imageLink(image, job)));
                endJob();
                loadGallery();
                return true;
              case "failed":
                if (job.errorReason === "cancelled") {
                  $("jobState").textContent = "Cancelled";
                  showMessage("The job was cancelled.", "info");
                } else {
                  $("jobState").textContent = "Failed";
                  showMessage(`The job failed: ${job.errorReason || "no reason given"}`);
                }
                $("result").replaceChildren();
                endJob();
                loadGallery();
                return true;
              default:
                return false;
            }
          }

          function endJob() {
            stopFollowing();
            state.job = null;
            $("cancel").disabled = true;
            $("generate").disabled = false;
          }

          async function cancel() {
            if (!state.job) return;
            const { id, modelPath: base } = state.job;
            $("cancel").disabled = true;
            $("jobState").textContent = "Cancelling";
            try {
              const job = await api(`${base}/${id}/cancel`, { method: "POST" });
              showJob(job);
            } catch (error) {
              $("cancel").disabled = false;
              explain(error, "cancelling the job");
            }
          }

          function imageLink(image, job) {
            const link = document.createElement("a");
            link.href = imagePath(image.uri);
            link.target = "_blank";
            link.rel = "noopener";
            const img = document.createElement("img");
            img.src = imagePath(image.uri);
            img.alt = job.prompt;
            img.width = job.width;
            img.height = job.height;
            link.append(img);
            return link;
          }

          // Gallery -------------------------------------------------------------------------
          async function loadGallery() {
            if (!key() || !$("model").value) { renderGallery([]); return; }
            let jobs;
            try {
              jobs = await api(`${modelPath()}?page=${state.page}&pageSize=${PAGE_SIZE}`);
            } catch (error) {
              explain(error, "loading the gallery");
              return;
            }
            if (jobs.length === 0 && state.page > 1) { state.page -= 1; return loadGallery(); }
            renderGallery(jobs);
          }

          function renderGallery(jobs) {
            $("page").textContent = `Page ${state.page}`;
            $("newer").disabled = state.page <= 1;
            $("older").disabled = jobs.length < PAGE_SIZE;
            $("galleryNote").textContent = jobs.length === 0 ? "No jobs for this model yet." : "This workspace's jobs for the model, newest first.";
            $("gallery").replaceChildren(...jobs.map(card));
          }

          function card(job) {
            const item = document.createElement("li");
            item.className = "card";
            item.dataset.jobId = job.id;
            // Each image with its own links; a job of several images takes two columns.
            const thumbs = document.createElement("div");
            thumbs.className = job.images.length > 1 ? "thumbs multi" : "thumbs";
            if (job.images.length > 1) item.classList.add("wide-card");
            job.images.forEach((image, index) => {
              const figure = document.createElement("figure");
              const links = document.createElement("figcaption");
              links.className = "actions";
              const which = job.images.length > 1 ? ` of image ${index + 1}` : "";
              const open = document.createElement("a");
              open.href = imagePath(image.uri);
              open.target = "_blank";
              open.rel = "noopener";
              open.textContent = "Full size";
              open.setAttribute("aria-label", `Full size${which}`);
              const download = document.createElement("a");
              download.href = imagePath(image.uri);
              download.download = `easel-${job.seed}-${index + 1}.png`;
              download.textContent = "Download";
              download.setAttribute("aria-label", `Download${which}`);
              links.append(open, download);
              figure.append(imageLink(image, job), links);
              thumbs.append(figure);
            });
            const caption = document.createElement("p");
            caption.className = "caption";
            caption.textContent = job.prompt;
            const meta = document.createElement("p");
            meta.className = "meta";
            const stateText = job.state === "failed" ? `failed: ${job.errorReason || "unknown"}` : job.state;
            meta.textContent = `${job.width}×${job.height} · ${job.steps} steps · guidance ${job.promptStrength} · seed ${job.seed} · ${stateText}`;
            if (job.state === "failed") meta.classList.add("state-failed");
            const actions = document.createElement("div");
            actions.className = "actions";
            const reuse = document.createElement("button");
            reuse.type = "button";
            reuse.textContent = "Reuse settings";
            reuse.addEventListener("click", () => reuseSettings(job));
            const remove = document.createElement("button");
            remove.type = "button";
            remove.textContent = "Delete";
            remove.addEventListener("click", () => deleteJob(job, remove));
            actions.append(reuse, remove);
            item.append(thumbs, caption, meta, actions);
            return item;
          }

          function reuseSettings(job) {
            for (const name of FIELDS) if (job[name] !== undefined) $(name).value = job[name];
            clearFieldErrors();
            showMessage("Settings copied from the job, seed included.", "info");
            $("prompt").focus();
          }

          async function deleteJob(job, button) {
            button.disabled = true;
            try {
              await api(`${modelPath()}/${job.id}`, { method: "DELETE" });
            } catch (error) {
              button.disabled = false;
              explain(error, "deleting the job");
              return;
            }
            showMessage("Deleted the job and its images.", "info");
            await loadGallery();
          }

          // Wiring ---------------------------------------------------------------------------
          document.addEventListener("DOMContentLoaded", () => {
            $("apiKey").value = localStorage.getItem(KEY_STORAGE) || "";
            $("apiKey").addEventListener("change", () => {
              localStorage.setItem(KEY_STORAGE, key());
              loadModels();
            });
            $("model").addEventListener("change", () => {
              localStorage.setItem(MODEL_STORAGE, $("model").value);
              applyDefaults();
              state.page = 1;
              loadGallery();
            });
            $("form").addEventListener("submit", generate);
            $("cancel").addEventListener("click", cancel);
            $("newer").addEventListener("click", () => { if (state.page > 1) { state.page -= 1; loadGallery(); } });
            $("older").addEventListener("click", () => { state.page += 1; loadGallery(); });
            for (const name of FIELDS) $(name).addEventListener("input", () => { $(`${name}-error`).textContent = ""; $(name).removeAttribute("aria-invalid"); });
            loadModels();
          });
        })();

        """#
}
