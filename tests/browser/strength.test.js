// tests/browser/strength.test.js — match strength on the shopper's page (issue 17, item 1), in
// headless Chromium (playwright-core + axe-core): a shop photo of a catalog product shows its
// twin first labelled "same product" and no card shows a percentage; a card's accessible name
// is the product's name, then its label; a photo of noise shows "no close match" and the
// advice (draw a box; with a filter on, remove it by name), on a desktop and a 390x844 phone,
// also on a slow network; axe-core finds no serious or critical violation. Run by
// tests/browser/run.sh; screenshots go to --artifacts. Prints "browser: N passed, M failed" last.
'use strict';

const { harness } = require('./harness');

const { opt, check, step, shot, axe, settled, launch, finish } = harness('strength.test.js', ['url', 'photo', 'twin', 'noise'], { settleMs: 20000 });

// axe-core through the DevTools protocol (the page's CSP stays as it is): serious or critical.

// What the results say: each card's label, its link's accessible name, any percentage shown.
const cards = (page) => page.$$eval('#grid li.card', (lis) => lis.map((li) => ({
  id: li.dataset.id,
  label: (li.querySelector('.score-label') || {}).textContent || '',
  name: li.querySelector('.name').textContent,
  text: li.textContent,
})));
const weakText = (page) => page.evaluate(() => {
  const w = document.querySelector('#weak-note');
  return w && w.offsetParent !== null ? w.textContent : '';
});

// Each upload is a history entry of its own (#/search?photo=N): waiting for the new hash keeps
// a second upload from reading the first one's results before its own are on screen.
async function upload(page, file) {
  const before = await page.evaluate(() => location.hash);
  await page.setInputFiles('#file', file);
  await page.waitForFunction((b) => location.hash.startsWith('#/search') && location.hash !== b, before);
  await settled(page);
}

async function run(browser, label, ctxOpts, slow) {
  const context = await browser.newContext(ctxOpts);
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  if (slow) { // about "Fast 3G": 560 ms more on every request, 1.6 Mbit/s down
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 560, downloadThroughput: 200000, uploadThroughput: 90000 });
  }
  console.log(`browser: match strength, ${label}`);
  await page.goto(opt.url);
  await page.waitForFunction(() => document.querySelectorAll('#filter-gender option').length > 1);

  await step(`${label}: a shop photo finds its product as "same product"`, async () => {
    await upload(page, opt.photo);
    const c = await cards(page);
    check(`${label}: the twin ${opt.twin} comes first, labelled "same product"`, c.length > 0 && c[0].id === String(opt.twin) && c[0].label === 'same product',
      JSON.stringify(c[0]));
    check(`${label}: every card shows a label, none a percentage`,
      c.every((x) => ['same product', 'very similar', 'same kind', 'loosely related', 'no close match'].includes(x.label) && !/\d\s*%/.test(x.text)),
      JSON.stringify(c.map((x) => x.label + ' | ' + x.text).slice(0, 3)));
    // accessible names as Playwright computes them (the accname algorithm): name, then label
    const esc = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const first = await page.getByRole('link', { name: new RegExp('^' + esc(c[0].name) + '.*,\\s*same product$') }).count();
    const labelled = await page.locator('#grid li.card').getByRole('link', { name: /^\S.*,\s*(same product|very similar|same kind|loosely related|no close match)$/ }).count();
    const pct = await page.locator('#grid').getByRole('link', { name: /^\d+\s*%/ }).count();
    check(`${label}: a card's accessible name is its name, then its label ("${c[0].name}, …, same product")`,
      first === 1 && labelled === c.length && pct === 0, `first ${first}, labelled ${labelled} of ${c.length}, percent ${pct}`);
    check(`${label}: a strong answer shows no weak-match note`, (await weakText(page)) === '');
    if (!slow) {
      const v = await axe(page);
      check(`${label}: axe-core: no serious or critical violation on the results`, v.length === 0, JSON.stringify(v));
    }
    await shot(page, `strength-${label}-same-product`);
  });

  await step(`${label}: a photo of noise says "no close match" with the advice`, async () => {
    await upload(page, opt.noise);
    const c = await cards(page), w = await weakText(page);
    check(`${label}: noise: the best hit is "no close match"`, c.length > 0 && c[0].label === 'no close match', JSON.stringify(c[0]));
    check(`${label}: noise: the note says there is no close match and to draw a box`,
      /No close match/.test(w) && /draw a box around the garment/.test(w), w);
    const box = await page.$eval('#weak-note', (e) => { const r = e.getBoundingClientRect(); return { w: r.width, left: r.left }; });
    check(`${label}: the note fits the screen`, box.left >= 0 && box.left + box.w <= ctxOpts.viewport.width, JSON.stringify(box));
    if (!(await page.$eval('#filters-panel', (d) => d.open))) await page.click('#filters-panel summary'); // folded on a phone
    const opts = await page.$$eval('#filter-gender option', (os) => os.map((o) => o.value).filter(Boolean));
    const g = opts.includes('Men') ? 'Men' : opts[0];
    await page.selectOption('#filter-gender', g);
    await page.waitForFunction((g) => location.hash.includes('gender=' + g), g);
    await settled(page);
    const w2 = await weakText(page);
    check(`${label}: noise filtered to gender=${g}: the advice names the filter to remove`,
      new RegExp('remove the filter gender=' + g).test(w2), w2);
    if (!slow) {
      const v = await axe(page);
      check(`${label}: axe-core: no serious or critical violation with the note`, v.length === 0, JSON.stringify(v));
    }
    await shot(page, `strength-${label}-no-close-match`);
  });
  check(`${label}: no page errors`, errors.length === 0, errors.join('; '));
  await context.close();
}

(async () => {
  const browser = await launch();
  try {
    await run(browser, 'desktop', { viewport: { width: 1280, height: 900 } }, false);
    await run(browser, 'phone', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }, false);
    await run(browser, 'phone-slow', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }, true);
  } catch (e) {
    check('the test ran to its end', false, String(e && e.message || e).split('\n')[0]);
  }
  await browser.close();
})().then(() => finish(), finish);
