// Drives the router's browser page in Debian's chromium through playwright-core, for the
// tests/test_browser*.py wrappers. Usage: node driver.mjs SCENARIO.json; prints one JSON object.
//
// Scenario: {
//   "chromium": "/usr/bin/chromium",             // executable (the wrapper finds it)
//   "pages": [{"name": "alice", "url": "http://127.0.0.1:PORT/?token=...&secret=..."}],
//   "until": "<JS body over (stats) -> bool>",    // per page, over window.__stats(); optional
//   "until_pages": ["alice", ...],                 // the pages `until` must hold on (default all)
//   "min_seconds": 0, "max_seconds": 30,           // bounds of the polling loop
//   "actions": [{"page": "alice", "at": 2.0, "fill": ["#secret", "text"], "click": "#set-secret",
//                "eval": "<JS expression, may be a promise>"}],   // each part optional
//   "screenshot": {"page": "alice", "path": "artifacts/x.png"}   // optional
// }
// Output: {"ok": bool (until held), "elapsed": s, "pages": {name: stats}, "console": {name:
// [lines]}, "errors": [...], "actions": [{page, result | error}]}
import { readFileSync } from "node:fs";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { chromium } from "playwright-core";

const scenario = JSON.parse(readFileSync(process.argv[2], "utf8"));
const ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
  "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
  "--disable-features=WebRtcHideLocalIpsWithMdns",
];

const out = { ok: false, elapsed: 0, pages: {}, console: {}, errors: [], actions: [] };
const t0 = Date.now();
const elapsed = () => (Date.now() - t0) / 1000;
let browser;
try {
  browser = await chromium.launch({
    executablePath: scenario.chromium, headless: true, args: ARGS,
    ignoreDefaultArgs: ["--enable-automation"], timeout: 30000,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const pages = {};
  for (const p of scenario.pages) {
    const page = await context.newPage();
    out.console[p.name] = [];
    page.on("console", (m) => {
      const lines = out.console[p.name];
      if (lines.length < 200) lines.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => out.errors.push(`${p.name}: ${e.message}`));
    await page.goto(p.url, { waitUntil: "load", timeout: 15000 });
    await page.waitForFunction(() => window.__ready === true, null, { timeout: 10000 });
    pages[p.name] = page;
  }
  const until = scenario.until ? new Function("stats", scenario.until) : null;
  const need = scenario.until_pages || Object.keys(pages);
  const actions = (scenario.actions || []).slice().sort((a, b) => a.at - b.at);
  const minS = scenario.min_seconds ?? 0;
  const maxS = scenario.max_seconds ?? 30;
  while (true) {
    while (actions.length && actions[0].at <= elapsed()) {
      const a = actions.shift();
      try {
        const page = pages[a.page];
        let result = null;
        if (a.fill) await page.fill(a.fill[0], a.fill[1]);     // like a user typing
        if (a.click) await page.click(a.click);
        if (a.eval) result = await page.evaluate(a.eval);
        out.actions.push({ page: a.page, at: elapsed(), result: result ?? null });
      } catch (e) {
        out.actions.push({ page: a.page, at: elapsed(), error: e.message });
      }
    }
    for (const [name, page] of Object.entries(pages)) {
      out.pages[name] = await page.evaluate(() => window.__stats());
    }
    const held = until ? need.every((n) => until(out.pages[n])) : false;
    if ((held && !actions.length && elapsed() >= minS) || elapsed() >= maxS) {
      out.ok = held;
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  if (scenario.screenshot) {
    mkdirSync(dirname(scenario.screenshot.path), { recursive: true });
    await pages[scenario.screenshot.page].screenshot({ path: scenario.screenshot.path });
    out.screenshot = scenario.screenshot.path;
  }
} catch (e) {
  out.errors.push(String(e && e.stack || e));
} finally {
  out.elapsed = elapsed();
  if (browser) await browser.close().catch(() => {});
}
console.log(JSON.stringify(out));
