// tests/browser/map.test.js — the Map view of `lookalike serve`'s page (web/map.js) in headless
// Chromium (playwright-core + axe-core), one check per fixed problem of issue 17: the hover card
// follows a wheel zoom; colours for the commonest values in view with a legend; a filter changed
// on the map stays on the map, keeps the camera and dims the rest; a phone opens the map in view
// and a two-finger spread zooms (DevTools touch events); keyboard only (focus, arrows, +/-,
// Enter); the layout comes gzip-compressed and loads on simulated Fast 3G (its bytes and time
// printed); a catalog without a map gets a message for shoppers, no command line; dark mode;
// axe-core finds no serious or critical violation. Screenshots (desktop and phone) go to --artifacts as map-*.png.
// Run by tests/browser/run.sh: --url a server whose catalog has a map, --nomap-url one without.
// --only slow runs just the Fast 3G measurement (for a full catalog: docs/MAP.md).
// Prints "browser: N passed, M failed" last; exits 1 on any failure.
'use strict';

const path = require('path');
const { harness } = require('./harness');

const { opt, check, step, shot, axe, settled, launch, finish } = harness('map.test.js', ['url'], { okDetail: true, fullPage: false, settleMs: 20000 });

// axe-core evaluated through the DevTools protocol (the page's CSP stays as it is): violations
// of impact serious or critical.

const view = async (page) => {
  const v = await page.getAttribute('#map-canvas', 'data-view'); // the camera; NaNs (every check fails) without
  const [s, tx, ty] = (v || 'NaN NaN NaN').split(' ').map(Number);
  return { s, tx, ty };
};
const legend = (page) => page.$$eval('#map-legend li', (lis) => lis.map((li) => li.textContent));
const count = (t) => Number((t.match(/\(([\d,]+)\)$/) || [0, '0'])[1].replace(/,/g, ''));

// A painted dot's position (CSS px in the canvas), the first found scanning from the centre out.
async function dotNearCentre(page) {
  return page.$eval('#map-canvas', (c) => {
    const dpr = window.devicePixelRatio || 1;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const cx = c.width >> 1, cy = c.height >> 1;
    for (let r = 0; r < Math.max(cx, cy); r += 2)
      for (let y = Math.max(0, cy - r); y <= Math.min(c.height - 1, cy + r); y += 2)
        for (let x = Math.max(0, cx - r); x <= Math.min(c.width - 1, cx + r); x += 2)
          if (d[4 * (y * c.width + x) + 3] > 170) return { x: x / dpr, y: y / dpr };
    return null;
  });
}

(async () => {
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.setDefaultTimeout(20000);
  const mapUrl = opt.url.replace(/\/$/, '') + '/#/map';

  console.log('browser: map view, desktop');
  await step('hover', async () => {
    await page.goto(mapUrl);
    await settled(page);
    const box = await page.$eval('#map-canvas', (c) => { const b = c.getBoundingClientRect(); return { x: b.left, y: b.top }; });
    const dot = await dotNearCentre(page);
    if (!dot) throw new Error('no dot painted');
    // Hover 7 px beside a dot (within the 10 px pick radius), then zoom 20x about the pointer:
    // the dot moves well away, so the card must show another product or none.
    await page.mouse.move(box.x + dot.x + 7, box.y + dot.y);
    await page.waitForSelector('#map-tip:not([hidden])');
    const before = await page.getAttribute('#map-tip', 'data-id');
    await page.mouse.wheel(0, -2000);
    await page.waitForTimeout(300);
    const hidden = await page.$eval('#map-tip', (t) => t.hidden);
    const after = await page.getAttribute('#map-tip', 'data-id');
    check('after a wheel zoom the hover card is not left on the product that moved away', hidden || after !== before,
      `before ${before}, after ${hidden ? 'none' : after}`);
  });

  await step('colours', async () => {
    await page.goto(mapUrl);
    await settled(page);
    await page.click('#map-fit'); // everything in view
    const items = await legend(page);
    const points = Number(await page.getAttribute('#map-canvas', 'data-points'));
    const other = items.filter((t) => /^other/.test(t)).map(count)[0] || 0;
    const coloured = items.filter((t) => !/^(other|not matching)/.test(t));
    console.log(`  legend with everything in view: ${items.join(', ')}`);
    check('the legend colours 1-16 values, and grey "other" is under 10% of the dots', coloured.length >= 1 &&
      coloured.length <= 16 && other < 0.1 * points, `${coloured.length} colours, other ${other} of ${points}`);
    const title = await page.evaluate(() => document.getElementById('map-legend-title')?.textContent || '');
    check('the legend says what the colours are and for how many products in view', /^Colours by (type|subcategory|category), for the [\d,]+ products in view/.test(title), title);
    await shot(page, 'map-desktop');
    const { w, h } = await page.$eval('#map-canvas', (c) => ({ w: c.clientWidth, h: c.clientHeight }));
    const box = await page.$eval('#map-canvas', (c) => { const b = c.getBoundingClientRect(); return { x: b.left, y: b.top }; });
    const dot = await dotNearCentre(page);
    await page.mouse.move(box.x + dot.x, box.y + dot.y);
    for (let i = 0; i < 3; i++) { await page.mouse.wheel(0, -500); await page.waitForTimeout(100); }
    await page.mouse.move(box.x + w - 2, box.y + h - 2);
    const zoomed = await legend(page);
    const seen = zoomed.filter((t) => !/^not matching/.test(t)).map(count).reduce((a, b) => a + b, 0);
    check('zoomed in, the legend counts only the products in view', seen > 0 && seen < points, `${seen} of ${points}`);
    await shot(page, 'map-desktop-zoomed');
  });

  await step('filters', async () => {
    await page.goto(mapUrl);
    await settled(page);
    await page.click('#map-in');
    const cam = await view(page);
    const points = Number(await page.getAttribute('#map-canvas', 'data-points'));
    const opts = await page.$$eval('#filter-gender option', (os) => os.map((o) => o.value).filter(Boolean));
    await page.selectOption('#filter-gender', opts[0]);
    await page.waitForFunction(() => location.hash.includes('gender='));
    await settled(page);
    const hash = await page.evaluate(() => location.hash);
    check('changing a filter on the Map view stays on the map', hash.startsWith('#/map?') && await page.isVisible('#map-canvas'), hash);
    const cam2 = await view(page);
    check('... and keeps its camera', Math.abs(cam2.s - cam.s) < 1e-6 && Math.abs(cam2.tx - cam.tx) < 1e-3, `${JSON.stringify(cam)} ${JSON.stringify(cam2)}`);
    const matched = Number(await page.getAttribute('#map-canvas', 'data-matched'));
    const items = await legend(page);
    const dim = items.filter((t) => /^not matching/.test(t)).map(count)[0];
    check(`the map honours the filter gender=${opts[0]}: the others are dimmed`, matched > 0 && matched < points &&
      dim === points - matched && new RegExp(`${matched} of ${points} products match`).test(await page.textContent('#status')),
    `${matched} of ${points} match, ${dim} dimmed`);
    // the filter menus count within the map's filters, as on the other views
    await page.waitForFunction((g) => document.getElementById('filters').dataset.counts === 'gender=' + g, opts[0], { timeout: 5000 }).catch(() => {});
    const want = await page.evaluate(async (g) => (await (await fetch('/api/facets?gender=' + encodeURIComponent(g))).json()).facets.masterCategory, opts[0]);
    const got = await page.$$eval('#filter-masterCategory option', (os) => os.filter((o) => o.value).map((o) => ({ value: o.value, text: o.textContent })));
    check(`the map view's Category menu counts within gender=${opts[0]}`,
      want.length > 0 && want.every((w) => got.some((g) => g.value === w.value && g.text === `${w.value} (${w.count})`)), JSON.stringify(got));
    await shot(page, 'map-desktop-filtered');
    const v = await axe(page);
    check('axe-core: no serious or critical violation on the map view', v.length === 0, JSON.stringify(v));
  });

  await step('dark', async () => {
    const dk = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
    const p = await dk.newPage();
    await p.goto(mapUrl.replace('#/map', '#/map?gender=Men'));
    await settled(p);
    // pale (filtered out) dots are darker than the grey ones on a dark panel, not brighter
    const sw = await p.$$eval('#map-legend li i', (is) => is.map((i) => getComputedStyle(i).backgroundColor));
    const lum = (c) => c.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b, 0);
    check('dark mode: the dots left out by the filters are darker than the rest', sw.length > 1 && lum(sw[sw.length - 1]) < 3 * 100, sw[sw.length - 1]);
    await shot(p, 'map-dark');
    const v = await axe(p);
    check('axe-core: no serious or critical violation on the map view in dark mode', v.length === 0, JSON.stringify(v));
    await dk.close();
  });

  console.log('browser: map view, keyboard only');
  await step('keyboard', async () => {
    const kb = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await kb.newPage();
    p.setDefaultTimeout(20000);
    await p.goto(opt.url);
    await settled(p);
    let tabs = 0;
    while (tabs < 30 && !(await p.evaluate(() => document.activeElement && document.activeElement.id === 'nav-map'))) {
      await p.keyboard.press('Tab'); tabs++;
    }
    await p.keyboard.press('Enter');
    await p.waitForFunction(() => location.hash === '#/map');
    await settled(p);
    const focused = await p.evaluate(() => document.activeElement && document.activeElement.id);
    check('opening the Map by keyboard puts the focus on the map', focused === 'map-canvas', String(focused));
    const desc = await p.$eval('#map-canvas', (c) => document.getElementById(c.getAttribute('aria-describedby') || '-')?.textContent || '');
    check('the map has a screen-reader description with its keys', /products/.test(desc) && /Arrow keys/.test(desc), desc);
    const v0 = await view(p);
    await p.keyboard.press('ArrowRight');
    const v1 = await view(p);
    check('an arrow key pans the map', v1.tx < v0.tx && v1.s === v0.s, `${v0.tx} -> ${v1.tx}`);
    await p.keyboard.press('+');
    const v2 = await view(p);
    check('+ zooms in, - zooms out', v2.s > v1.s && await p.keyboard.press('-').then(() => view(p)).then((v3) => v3.s < v2.s), `${v1.s} -> ${v2.s}`);
    const tip = await p.getAttribute('#map-tip', 'data-id');
    const live = await p.textContent('#map-live');
    check('the product nearest the centre is shown and announced', !(await p.$eval('#map-tip', (t) => t.hidden)) && /^Nearest: /.test(live), live);
    await shot(p, 'map-keyboard');
    await p.keyboard.press('Enter');
    await p.waitForFunction(() => location.hash.startsWith('#/item/'));
    check('Enter opens that product', (await p.evaluate(() => location.hash)).startsWith('#/item/' + tip), await p.evaluate(() => location.hash));
    await kb.close();
  });

  console.log('browser: map view, phone');
  await step('phone', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const p = await phone.newPage();
    p.setDefaultTimeout(20000);
    await p.goto(opt.url);
    await settled(p);
    await p.tap('#nav-map');
    await p.waitForFunction(() => location.hash === '#/map');
    await settled(p);
    const r = await p.$eval('#map-canvas', (c) => { const b = c.getBoundingClientRect(); return { top: b.top, bottom: b.bottom, vh: window.innerHeight }; });
    check('opening the Map on a phone shows the map, not the page above it', r.top >= 0 && r.top < r.vh / 3 && r.bottom <= r.vh + 1,
      `canvas ${Math.round(r.top)}-${Math.round(r.bottom)} px of ${r.vh}`);
    await p.screenshot({ path: path.join(opt.artifacts, 'map-phone.png') });
    const b = await p.$eval('#map-canvas', (c) => { const x = c.getBoundingClientRect(); return { x: x.left + x.width / 2, y: x.top + x.height / 2 }; });
    const v0 = await view(p);
    const cdp = await phone.newCDPSession(p);
    const touch = (type, d) => cdp.send('Input.dispatchTouchEvent', {
      type, touchPoints: type === 'touchEnd' ? [] : [{ x: b.x - d, y: b.y, id: 1 }, { x: b.x + d, y: b.y, id: 2 }],
    });
    await touch('touchStart', 30);
    for (const d of [45, 60, 75, 90]) await touch('touchMove', d);
    await touch('touchEnd', 0);
    const v1 = await view(p);
    const f = v1.s / v0.s;
    // the world point under the fingers' midpoint stays there
    const cx = b.x - (await p.$eval('#map-canvas', (c) => c.getBoundingClientRect().left)), cy = b.y - (await p.$eval('#map-canvas', (c) => c.getBoundingClientRect().top));
    const drift = Math.hypot((cx - v0.tx) / v0.s - (cx - v1.tx) / v1.s, (cy - v0.ty) / v0.s - (cy - v1.ty) / v1.s) * v1.s;
    check('a two-finger spread zooms in about the fingers (60 px -> 180 px: 3x), not a pan', f > 2.7 && f < 3.3 && drift < 3,
      `zoom x${f.toFixed(2)}, midpoint drift ${drift.toFixed(1)} px`);
    await p.screenshot({ path: path.join(opt.artifacts, 'map-phone-pinched.png') });
    const v = await axe(p);
    check('axe-core: no serious or critical violation on the map view on a phone', v.length === 0, JSON.stringify(v));
    await phone.close();
  });

  console.log('browser: map view, Fast 3G');
  await step('slow', async () => {
    const slow = await browser.newContext({ viewport: { width: 1280, height: 900 } }); // a cold cache
    const p = await slow.newPage();
    p.setDefaultTimeout(90000);
    const cdp = await slow.newCDPSession(p);
    await cdp.send('Network.enable');
    // DevTools' "Fast 3G": 1.6 Mbit/s down and 750 kbit/s up at 90%, 562.5 ms round trips.
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 562.5, downloadThroughput: 1.6 * 1024 * 1024 / 8 * 0.9, uploadThroughput: 750 * 1024 / 8 * 0.9,
    });
    const reqs = new Map(), loads = [];
    cdp.on('Network.responseReceived', (e) => { if (/\/api\/map$/.test(e.response.url)) reqs.set(e.requestId, { r: e.response, raw: 0 }); });
    cdp.on('Network.dataReceived', (e) => { if (reqs.has(e.requestId)) reqs.get(e.requestId).raw += e.dataLength; });
    cdp.on('Network.loadingFinished', (e) => {
      const q = reqs.get(e.requestId);
      if (q) loads.push({ wire: e.encodedDataLength, raw: q.raw, status: q.r.status, enc: q.r.headers['Content-Encoding'] || q.r.headers['content-encoding'] || '' });
    });
    const open = async () => { // from the start page to the map on screen, seconds
      await p.goto(opt.url);
      await settled(p);
      const t0 = Date.now();
      await p.evaluate(() => { location.hash = '#/map'; });
      await p.waitForFunction(() => document.body.dataset.rendered === '#/map' && document.getElementById('map-canvas').dataset.points,
        null, { timeout: 90000 });
      return (Date.now() - t0) / 1000;
    };
    const secs = await open();
    const first = loads[0] || {};
    const points = await p.getAttribute('#map-canvas', 'data-points');
    console.log(`  map layout of ${points} products: ${first.wire} bytes on the wire (${first.enc || 'no encoding'}), ${first.raw} bytes of JSON, ` +
      `map on screen ${secs.toFixed(1)} s after the click on simulated Fast 3G`);
    check('the map layout comes gzip-compressed (Content-Encoding: gzip) at under half its JSON size',
      first.enc === 'gzip' && first.wire > 0 && first.wire * 2 < first.raw, `${first.wire} of ${first.raw} bytes, ${first.enc || 'no encoding'}`);
    const limit = Number(opt['slow-limit'] || 0);
    if (limit) check(`the map is on screen within ${limit} s on Fast 3G`, secs < limit, secs.toFixed(1) + ' s');
    const again = await open(); // a new page load: the browser revalidates (If-None-Match, 304)
    const second = loads[1] || {};
    console.log(`  again after a reload: ${second.wire} bytes on the wire, map on screen ${again.toFixed(1)} s`);
    check('opening the map again after a reload downloads no layout (ETag, 304)', second.wire >= 0 && second.wire < 2000 && second.wire < first.wire / 2,
      `${second.wire} bytes`);
    await slow.close();
  });

  console.log('browser: a catalog without a map');
  await step('nomap', async () => {
    if (!opt['nomap-url']) { check('a server without a map to test (--nomap-url)', false); return; }
    const p = await context.newPage();
    await p.goto(opt['nomap-url'].replace(/\/$/, '') + '/#/map');
    await settled(p);
    const text = (await p.textContent('#map-hint')).trim();
    const visible = await p.isVisible('#map-hint');
    const frame = await p.isVisible('.map-frame');
    check('without a map shoppers read a plain message, no command line and no empty frame', visible && !frame &&
      /not available/.test(text) && !/lookalike map|--db|--out/.test(text) && !(await p.$('#map-hint code')), text);
    await shot(p, 'map-missing');
    const v = await axe(p);
    check('axe-core: no serious or critical violation on the map view without a map', v.length === 0, JSON.stringify(v));
    await p.close();
  });

  if (!opt.only) check('no page errors', pageErrors.length === 0, pageErrors.join(' | '));
  await browser.close();
})().then(() => finish(), finish);
