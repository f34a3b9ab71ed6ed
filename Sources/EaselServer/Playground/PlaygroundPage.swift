/// The playground's page and style sheet, compiled into the binary (no files to ship, no
/// CDN, no build step). The page has no inline script or style: the Content-Security-Policy
/// `PlaygroundController` sends allows only this server's own assets.
enum PlaygroundPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Easel playground</title>
        <link rel="icon" href="/playground/icon.svg" type="image/svg+xml">
        <link rel="stylesheet" href="/playground/style.css">
        <script src="/playground/app.js" defer></script>
        </head>
        <body>
        <header class="bar">
          <h1>Easel playground</h1>
          <p class="hint">Uses Easel's public API with your key: <a href="/openapi.json">OpenAPI document</a></p>
        </header>
        <main>
          <section class="panel" aria-labelledby="settings-title">
            <h2 id="settings-title">Generate</h2>
            <form id="form" novalidate>
              <div class="field wide">
                <label for="apiKey">API key</label>
                <input id="apiKey" name="apiKey" type="password" autocomplete="off" spellcheck="false" placeholder="easel keys create --workspace me">
              </div>
              <div class="field wide">
                <label for="model">Model</label>
                <select id="model" name="model"></select>
                <p class="field-error" id="model-error" aria-live="polite"></p>
              </div>
              <div class="field wide">
                <label for="prompt">Prompt</label>
                <textarea id="prompt" name="prompt" rows="3" aria-describedby="prompt-error"></textarea>
                <p class="field-error" id="prompt-error" aria-live="polite"></p>
              </div>
              <div class="field wide">
                <label for="negativePrompt">Negative prompt</label>
                <textarea id="negativePrompt" name="negativePrompt" rows="2" aria-describedby="negativePrompt-error"></textarea>
                <p class="field-error" id="negativePrompt-error" aria-live="polite"></p>
              </div>
              <div class="field">
                <label for="width">Width</label>
                <input id="width" name="width" type="number" inputmode="numeric" step="8" aria-describedby="width-error">
                <p class="field-error" id="width-error" aria-live="polite"></p>
              </div>
              <div class="field">
                <label for="height">Height</label>
                <input id="height" name="height" type="number" inputmode="numeric" step="8" aria-describedby="height-error">
                <p class="field-error" id="height-error" aria-live="polite"></p>
              </div>
              <div class="field">
                <label for="steps">Steps</label>
                <input id="steps" name="steps" type="number" inputmode="numeric" aria-describedby="steps-error">
                <p class="field-error" id="steps-error" aria-live="polite"></p>
              </div>
              <div class="field">
                <label for="promptStrength">Guidance</label>
                <input id="promptStrength" name="promptStrength" type="number" inputmode="decimal" step="0.5" aria-describedby="promptStrength-error">
                <p class="field-error" id="promptStrength-error" aria-live="polite"></p>
              </div>
              <div class="field">
                <label for="seed">Seed</label>
                <input id="seed" name="seed" type="number" inputmode="numeric" aria-describedby="seed-error">
                <p class="field-error" id="seed-error" aria-live="polite"></p>
              </div>
              <div class="field">
                <label for="numberOfImages">Number of images</label>
                <input id="numberOfImages" name="numberOfImages" type="number" inputmode="numeric" min="1" max="4" aria-describedby="numberOfImages-error">
                <p class="field-error" id="numberOfImages-error" aria-live="polite"></p>
              </div>
              <div class="buttons wide">
                <button id="generate" type="submit">Generate</button>
                <button id="cancel" type="button" disabled>Cancel</button>
              </div>
            </form>
            <div id="message" class="message" role="alert" hidden></div>
            <div id="job" class="job" hidden>
              <p id="jobState" class="job-state" role="status"></p>
              <progress id="progress" max="1" value="0"></progress>
              <p id="progressText" class="progress-text"></p>
              <div id="result" class="result"></div>
            </div>
          </section>
          <section class="panel" aria-labelledby="gallery-title">
            <h2 id="gallery-title">Gallery</h2>
            <p id="galleryNote" class="hint"></p>
            <ol id="gallery" class="gallery"></ol>
            <nav class="pager" aria-label="Gallery pages">
              <button id="newer" type="button" disabled>Newer</button>
              <span id="page">Page 1</span>
              <button id="older" type="button" disabled>Older</button>
            </nav>
          </section>
        </main>
        </body>
        </html>

        """#

    static let css = #"""
        :root { color-scheme: light dark; --accent: #3b5bdb; --bad: #c92a2a; --line: #8884; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 16px/1.4 system-ui, sans-serif; }
        .bar { padding: 0.75rem 1rem; border-bottom: 1px solid var(--line); }
        .bar h1 { margin: 0; font-size: 1.3rem; }
        .hint { margin: 0.25rem 0; opacity: 0.75; font-size: 0.9rem; }
        main { display: grid; grid-template-columns: minmax(0, 26rem) minmax(0, 1fr); gap: 1rem; padding: 1rem; }
        .panel h2 { margin-top: 0; font-size: 1.1rem; }
        form { display: grid; grid-template-columns: 1fr 1fr; gap: 0.5rem 0.75rem; }
        .field { display: flex; flex-direction: column; min-width: 0; }
        .wide { grid-column: 1 / -1; }
        label { font-weight: 600; font-size: 0.9rem; margin-bottom: 0.15rem; }
        input, select, textarea, button { font: inherit; padding: 0.4rem 0.5rem; border: 1px solid var(--line); border-radius: 0.35rem; min-width: 0; }
        textarea { resize: vertical; }
        input[aria-invalid="true"], textarea[aria-invalid="true"], select[aria-invalid="true"] { border-color: var(--bad); outline: 1px solid var(--bad); }
        .field-error { color: var(--bad); margin: 0.15rem 0 0; font-size: 0.85rem; min-height: 0; }
        .field-error:empty { display: none; }
        .buttons { display: flex; gap: 0.5rem; }
        button { cursor: pointer; background: var(--accent); color: white; border: none; padding: 0.5rem 1rem; }
        button:disabled { opacity: 0.5; cursor: default; }
        #cancel, .gallery button, .pager button { background: transparent; color: inherit; border: 1px solid var(--line); }
        .message { margin-top: 0.75rem; padding: 0.5rem 0.75rem; border-radius: 0.35rem; border: 1px solid var(--bad); color: var(--bad); }
        .message.info { border-color: var(--line); color: inherit; }
        .job { margin-top: 0.75rem; }
        .job-state { margin: 0 0 0.25rem; font-weight: 600; }
        progress { width: 100%; height: 1rem; }
        .progress-text { margin: 0.25rem 0; font-variant-numeric: tabular-nums; }
        .result { display: flex; flex-wrap: wrap; gap: 0.5rem; }
        .result img, .gallery img { image-rendering: pixelated; background: #8882; }
        .result img { width: 12rem; height: auto; max-width: 100%; }
        .gallery { list-style: none; padding: 0; margin: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: 0.75rem; }
        .card { border: 1px solid var(--line); border-radius: 0.5rem; padding: 0.5rem; display: flex; flex-direction: column; gap: 0.35rem; min-width: 0; }
        .card img { width: 100%; height: auto; display: block; }
        .card.wide-card { grid-column: span 2; }
        .thumbs.multi { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0.5rem; }
        .card figure { margin: 0; display: flex; flex-direction: column; gap: 0.25rem; min-width: 0; }
        .card .caption { margin: 0; font-size: 0.85rem; overflow-wrap: anywhere; }
        .card .meta { margin: 0; font-size: 0.75rem; opacity: 0.75; }
        .card .actions { display: flex; flex-wrap: wrap; gap: 0.25rem; }
        .card .actions a, .card .actions button { font-size: 0.8rem; padding: 0.2rem 0.45rem; border: 1px solid var(--line); border-radius: 0.35rem; color: inherit; text-decoration: none; }
        .state-failed { color: var(--bad); }
        .pager { display: flex; align-items: center; gap: 0.75rem; margin-top: 0.75rem; }
        @media (max-width: 720px) {
          main { grid-template-columns: minmax(0, 1fr); padding: 0.75rem; }
          .gallery { grid-template-columns: repeat(2, minmax(0, 1fr)); }
        }

        """#

    /// A small square icon, so browsers do not ask for a `/favicon.ico` that is not there.
    static let icon = #"""
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#3b5bdb"/><circle cx="8" cy="8" r="4" fill="#fff"/></svg>

        """#
}
