// tests/browser/harness.js — what the page's browser tests share: their `--name value` options
// (a missing one is a usage error, exit 2), the ok / FAIL tally and its last line ("browser: N
// passed, M failed", exit 1 on any failure), screenshots into --artifacts, axe-core's serious
// and critical violations, waiting for the view the URL names, and Chromium's launch.
'use strict';

const path = require('path');
const fs = require('fs');
const { chromium } = require('playwright-core');

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// script: the test's file name (for usage errors); required: its options besides --chromium and
// --artifacts. okDetail: print a passing check's detail too; shotPrefix / fullPage: the
// screenshots' names and extent; settleMs: how long a view may take to render.
function harness(script, required, { okDetail = false, shotPrefix = '', fullPage = true, settleMs = 15000 } = {}) {
  const opt = {};
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) opt[v[i].replace(/^--/, '')] = v[i + 1];
  for (const k of [...required, 'chromium', 'artifacts'])
    if (!opt[k]) { console.error(`usage: ${script} --${k} ... (missing)`); process.exit(2); }
  let passed = 0, failed = 0;
  const check = (name, ok, detail) => {
    if (ok) { passed++; console.log(`  ok   ${name}${okDetail && detail ? ' (' + detail + ')' : ''}`); }
    else { failed++; console.log(`  FAIL ${name}${detail ? ': ' + detail : ''}`); }
  };
  return {
    opt,
    check,
    // One named part of the test: an exception fails it and the test goes on (--only NAME runs one).
    async step(name, fn) {
      if (opt.only && opt.only !== name) return;
      try { await fn(); } catch (e) { check(name, false, String(e && e.message || e).split('\n')[0]); }
    },
    shot: (page, name) => page.screenshot({ path: path.join(opt.artifacts, shotPrefix + name + '.png'), fullPage }),
    async axe(page) {
      await page.evaluate(AXE);
      const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
        .map((x) => ({ id: x.id, impact: x.impact, n: x.nodes.length, target: String(x.nodes[0] && x.nodes[0].target) })));
      return found.filter((x) => x.impact === 'serious' || x.impact === 'critical');
    },
    // Waits until the view the URL names is on screen (app.js sets body[data-rendered]).
    settled: (page) => page.waitForFunction(() => document.body.dataset.rendered === location.hash &&
      !document.body.classList.contains('busy'), null, { timeout: settleMs }),
    launch() {
      fs.mkdirSync(opt.artifacts, { recursive: true });
      return chromium.launch({
        executablePath: opt.chromium,
        headless: true,
        args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-background-networking',
          '--disable-component-update', '--disable-sync', '--no-first-run'],
      });
    },
    // The tally's last line and the exit; e: what broke the test itself, if anything.
    finish(e) {
      if (e) check('the test ran to its end', false, String(e && e.stack || e));
      console.log(`browser: ${passed} passed, ${failed} failed`);
      process.exit(failed ? 1 : 0);
    },
  };
}

module.exports = { harness };
