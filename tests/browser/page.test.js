// tests/browser/page.test.js — drives the page of `lookalike serve` in headless Chromium
// (playwright-core, the system's /usr/bin/chromium): upload a shop photo and find its catalog
// twin, filter, open a product and its "more like this", go back, crop, upload a non-image,
// the catalog map (dots drawn, hover, click, the photo's ring; or the "no map yet" hint when
// the catalog has none: --map no), phone layout. Run by tests/browser/run.sh, which starts the server
// on a catalog with a map (--map yes: then /api/map must answer 200). Screenshots are saved
// in --artifacts. Prints "browser: N passed, M failed" last; exits 1 on any failure.
'use strict';

const path = require('path');
const { harness } = require('./harness');

const { opt, check, step, shot, settled, launch, finish } = harness('page.test.js', ['url', 'photo', 'twin', 'not-image']);
const cardIds = (page) => page.$$eval('#grid li.card', (lis) => lis.map((li) => li.dataset.id));
const hash = (page) => page.evaluate(() => location.hash);

(async () => {
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const pageErrors = [], consoleErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.setDefaultTimeout(15000);
  const twin = String(opt.twin);

  console.log('browser: home page');
  await step('home page loads with filters from /api/facets', async () => {
    await page.goto(opt.url);
    await page.waitForFunction(() => document.querySelectorAll('#filter-gender option').length > 1);
    check('home page loads with filters from /api/facets', true);
    check('home says how many products', /\d+ products/.test(await page.textContent('#catalog-size')));
    await settled(page);
    const sample = await cardIds(page);
    check('home offers products to start from', sample.length > 0, `${sample.length} cards`);
    await shot(page, '1-home');
  });

  console.log('browser: upload a shop photo');
  let firstIds = [];
  await step('upload shows results', async () => {
    await page.setInputFiles('#file', opt.photo);
    await page.waitForFunction(() => location.hash.startsWith('#/search'));
    await settled(page);
    firstIds = await cardIds(page);
    check('upload shows a grid of results', firstIds.length === 24, `${firstIds.length} cards`);
    check(`the shop photo finds its catalog twin ${twin}`, firstIds.includes(twin), firstIds.slice(0, 10).join(' '));
    check('the preview shows the photo', await page.isVisible('#photo'));
    const card = await page.$eval('#grid li.card', (li) => ({
      img: li.querySelector('img').getAttribute('src'), name: li.querySelector('.name').textContent,
      sub: li.querySelector('.sub').textContent, score: li.querySelector('.score-label').textContent,
    }));
    check('cards show photo, name, type/colour/gender and match strength (strength.test.js)',
      card.img.startsWith('/photos/') && card.name.length > 0 && card.sub.includes('·') && /^[a-z ]+$/.test(card.score),
      JSON.stringify(card));
    await page.waitForFunction(() => [...document.querySelectorAll('#grid img')].slice(0, 6).every((i) => i.complete && i.naturalWidth > 0));
    check('result photos load', true);
    await shot(page, '2-results');
  });

  await step('show more', async () => {
    await page.click('#more');
    await page.waitForFunction(() => location.hash.includes('k=48'));
    await settled(page);
    const more = await cardIds(page);
    check('"Show more" doubles the grid and keeps the order', more.length === 48 && more.slice(0, 24).join() === firstIds.join(),
      `${more.length} cards`);
    await page.goto(opt.url + '#/search');
    await page.reload();
    await settled(page);
    check('a reload of #/search keeps the photo (session storage)', (await cardIds(page)).join() === firstIds.join());
  });

  console.log('browser: drop and paste');
  // A catalog photo dropped (then pasted) on the page must find itself first.
  const dropIt = (kind) => page.evaluate(async ({ kind, id }) => {
    const blob = await (await fetch('/photos/' + id)).blob();
    const dt = new DataTransfer();
    dt.items.add(new File([blob], id + '.jpg', { type: 'image/jpeg' }));
    if (kind === 'drop') {
      document.querySelector('#drop').dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true }));
      document.querySelector('#drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    } else {
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }
  }, { kind, id: firstIds[3] });
  for (const kind of ['drop', 'paste']) {
    await step(kind + ' a photo', async () => {
      await dropIt(kind);
      await page.waitForFunction((id) => {
        const li = document.querySelector('#grid li.card');
        return li && li.dataset.id === id && !document.body.classList.contains('busy');
      }, firstIds[3]);
      await settled(page);
      const ids = await cardIds(page);
      check(`a ${kind}ped catalog photo finds itself first`, ids[0] === firstIds[3], ids.slice(0, 3).join(' '));
      check(`the overlay is gone after the ${kind}`, await page.isHidden('#dropzone-overlay'));
    });
  }
  await step('a huge photo is scaled down before the upload', async () => {
    await page.evaluate(async () => {
      const c = document.createElement('canvas');
      c.width = 3200; c.height = 2400;
      const g = c.getContext('2d');
      g.fillStyle = '#2a5db0'; g.fillRect(0, 0, 3200, 2400);
      g.fillStyle = '#f5d90a'; g.fillRect(800, 400, 1600, 1600);
      const blob = await new Promise((res) => c.toBlob(res, 'image/png'));
      const dt = new DataTransfer();
      dt.items.add(new File([blob], 'huge.png', { type: 'image/png' }));
      document.querySelector('#drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction(() => document.querySelector('#photo').naturalWidth === 1600 &&
      !document.body.classList.contains('busy'));
    await settled(page);
    check('a 3200x2400 photo is sent as 1600x1200 and searched', (await cardIds(page)).length === 24);
  });

  await step('back to the shop photo', async () => {
    await page.setInputFiles('#file', opt.photo);
    await page.waitForFunction((id) => document.querySelector('#grid li.card') &&
      [...document.querySelectorAll('#grid li.card')].some((li) => li.dataset.id === id), twin);
    await settled(page);
  });

  console.log('browser: filter');
  let filtered = [];
  await step('filter by gender', async () => {
    const opts = await page.$$eval('#filter-gender option', (os) => os.map((o) => o.value).filter(Boolean));
    const want = opts.includes('Women') ? 'Women' : opts[0];
    await page.selectOption('#filter-gender', want);
    await page.waitForFunction((g) => location.hash.includes('gender=' + g), want);
    await settled(page);
    const genders = await page.$$eval('#grid li.card', (lis) => lis.map((li) => li.dataset.gender));
    const avail = await page.evaluate((g) => {
      const o = [...document.querySelectorAll('#filter-gender option')].find((x) => x.value === g);
      return parseInt(o.textContent.replace(/.*\(([\d,]+)\).*/, '$1').replace(/,/g, ''), 10);
    }, want);
    check(`gender=${want} shows only ${want} items`, genders.length > 0 && genders.every((g) => g === want), genders.join(','));
    check('a filtered page is still full', genders.length === Math.min(24, avail), `${genders.length} of ${avail}`);
    filtered = await cardIds(page);
    check('the filtered grid differs from the unfiltered one', filtered.join() !== firstIds.join());
    await shot(page, '3-filtered');
  });

  console.log('browser: product and more like this');
  let itemId = null, filteredHash = '';
  await step('open a product', async () => {
    filteredHash = await hash(page);
    itemId = filtered[1] || filtered[0];
    await page.click(`#grid li.card[data-id="${itemId}"] a`);
    await page.waitForFunction((id) => location.hash.startsWith('#/item/' + id), itemId);
    await page.waitForSelector('#detail:not([hidden])');
    await settled(page);
    check('the URL names the product and keeps the filter', (await hash(page)).includes('gender='), await hash(page));
    check('the detail shows the product', (await page.getAttribute('#detail', 'data-id')) === itemId);
    check('"More like this" is shown', (await page.textContent('#results-title')).includes('More like this'));
    const sim = await cardIds(page);
    check('more like this lists neighbours without the product itself', sim.length > 0 && !sim.includes(itemId), sim.join(' '));
    const gs = await page.$$eval('#grid li.card', (lis) => lis.map((li) => li.dataset.gender));
    check('more like this keeps the filter', gs.every((g) => g === gs[0]), gs.join(','));
    await shot(page, '4-item');
  });

  await step('shared link opens the same product', async () => {
    const p2 = await context.newPage();
    await p2.goto(opt.url + (await hash(page)));
    await p2.waitForSelector('#detail:not([hidden])');
    await settled(p2);
    check('a shared #/item link renders on a fresh page', (await p2.getAttribute('#detail', 'data-id')) === itemId);
    await p2.close();
  });

  console.log('browser: back button');
  await step('back restores the results', async () => {
    await page.goBack();
    await page.waitForFunction((h) => location.hash === h, filteredHash);
    await settled(page);
    check('back returns to the filtered results', (await cardIds(page)).join() === filtered.join());
    check('the photo is shown again', await page.isVisible('#photo'));
    check('the filter is still selected', (await page.$eval('#filter-gender', (s) => s.value)) !== '');
  });

  console.log('browser: crop');
  await step('crop a region', async () => {
    const box = await page.$eval('#photo', (i) => { const r = i.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
    await page.mouse.move(box.x + box.w * 0.15, box.y + box.h * 0.1);
    await page.mouse.down();
    await page.mouse.move(box.x + box.w * 0.6, box.y + box.h * 0.5, { steps: 8 });
    await page.mouse.move(box.x + box.w * 0.85, box.y + box.h * 0.7, { steps: 8 });
    await page.mouse.up();
    await page.waitForFunction(() => /crop=\d+,\d+,\d+,\d+/.test(location.hash));
    await settled(page);
    check('dragging a box searches the region (crop in the URL)', true);
    check('the box is drawn', await page.isVisible('#box'));
    check('the title says the boxed part is searched', (await page.textContent('#results-title')).includes('boxed'));
    check('crop results are shown', (await cardIds(page)).length > 0);
    await shot(page, '5-crop');
    await page.click('#clear-crop');
    await page.waitForFunction(() => !location.hash.includes('crop='));
    await settled(page);
    check('"Whole photo" clears the crop', await page.isHidden('#box'));
  });

  console.log('browser: multi-crop');
  await step('search the photo and its parts', async () => {
    const answer = page.waitForResponse((res) => res.url().endsWith('/api/search'));
    await page.check('#multicrop');
    const body = await (await answer).json(); // the server echoes "multicrop": true
    await page.waitForFunction(() => location.hash.includes('multicrop=1'));
    await settled(page);
    check('the box puts multicrop=1 in the URL', true);
    check('the search asks the server for multicrop', body.multicrop === true, JSON.stringify(Object.keys(body)));
    check('the title says the parts are searched too', (await page.textContent('#results-title')).includes('parts'));
    check('multi-crop results are shown', (await cardIds(page)).length > 0);
    await page.uncheck('#multicrop');
    await page.waitForFunction(() => !location.hash.includes('multicrop'));
    await settled(page);
    check('unticking goes back to the whole photo', !(await page.isChecked('#multicrop')));
  });

  console.log('browser: not an image');
  await step('non-image upload', async () => {
    const before = await cardIds(page);
    let uploads = 0;
    const count = (req) => { if (req.url().endsWith('/api/search')) uploads++; };
    page.on('request', count);
    await page.setInputFiles('#file', opt['not-image']);
    await page.waitForSelector('#error:not([hidden])');
    page.off('request', count);
    const text = await page.textContent('#error');
    check('a non-image shows a clear message', /not an image/i.test(text), text.trim());
    check('a file the browser cannot show is refused before any upload', uploads === 0, `${uploads} uploads`);
    check('the previous results stay', (await cardIds(page)).join() === before.join());
    await shot(page, '6-not-image');
  });

  console.log('browser: the map');
  let mapMissing = false;
  await step('map view', async () => {
    const status = await page.evaluate(() => fetch('/api/map').then((r) => r.status));
    await page.goto(opt.url + '#/map');
    await settled(page);
    check('the Map link is marked current', (await page.getAttribute('#nav-map', 'aria-current')) === 'page');
    if (opt.map !== 'no') check('GET /api/map answers 200 (the catalog has a map)', status === 200, String(status));
    if (status !== 200) { // a catalog without a stored layout: the page says how to make one
      mapMissing = true;
      check('GET /api/map without a map answers 404', status === 404, String(status));
      check('the map view says there is no map yet', /not available/.test(await page.textContent('#map-hint')));
      await shot(page, '9-map');
      return;
    }
    const points = Number(await page.getAttribute('#map-canvas', 'data-points'));
    check('the map has a point per product', points > 0, String(points));
    const dot = await page.$eval('#map-canvas', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0, pick = null;
      for (let i = 3; i < d.length; i += 4) {
        if (d[i] === 0) continue;
        n++;
        if (!pick && d[i] > 170 && d[i] < 200) pick = { x: ((i >> 2) % c.width) / (window.devicePixelRatio || 1), y: Math.floor((i >> 2) / c.width) / (window.devicePixelRatio || 1) };
      }
      return { n, pick };
    });
    check('the canvas shows the dots', dot.n > points && dot.pick, `${dot.n} painted pixels`);
    check('the legend names the types', (await page.$$('#map-legend li')).length > 0);
    check('the last photo is marked on the map', /your photo/.test(await page.textContent('#status')));
    await shot(page, '9-map');
    const box = await page.$eval('#map-canvas', (c) => { const b = c.getBoundingClientRect(); return { x: b.left, y: b.top }; });
    await page.mouse.move(box.x + dot.pick.x, box.y + dot.pick.y);
    await page.waitForSelector('#map-tip:not([hidden])');
    const tipId = await page.getAttribute('#map-tip', 'data-id');
    check('hovering a dot shows its photo and name', (await page.getAttribute('#map-tip-photo', 'src')) === '/photos/' + tipId &&
      (await page.textContent('#map-tip-name')).length > 0, tipId);
    await shot(page, '9-map-hover');
    await page.mouse.wheel(0, -400); // zoom in around the cursor: the same dot stays under it
    await page.mouse.move(box.x + dot.pick.x + 1, box.y + dot.pick.y);
    await page.mouse.click(box.x + dot.pick.x, box.y + dot.pick.y);
    await page.waitForFunction(() => location.hash.startsWith('#/item/'));
    await settled(page);
    check('clicking a dot opens that product', (await hash(page)) === '#/item/' + tipId, await hash(page));
    check('the product shows more like it', (await cardIds(page)).length > 0);
  });

  console.log('browser: phone');

  await step('phone layout', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const p = await phone.newPage();
    await p.goto(opt.url);
    await p.waitForFunction(() => document.querySelectorAll('#filter-gender option').length > 1);
    check('the camera button is offered on a touch screen', await p.isVisible('label.camera'));
    check('filters start folded on a phone', !(await p.$eval('#filters-panel', (d) => d.open)));
    await p.setInputFiles('#file', opt.photo);
    await p.waitForFunction(() => location.hash.startsWith('#/search'));
    await settled(p);
    const cols = await p.$eval('#grid', (g) => getComputedStyle(g).gridTemplateColumns.split(' ').length);
    check('phone grid has 2 columns', cols === 2, `${cols} columns`);
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    check('nothing overflows sideways on a phone', !overflow);
    await p.screenshot({ path: path.join(opt.artifacts, '7-phone.png') });
    await phone.close();
  });

  await step('dark mode', async () => {
    const dark = await browser.newContext({ viewport: { width: 1100, height: 800 }, colorScheme: 'dark' });
    const p = await dark.newPage();
    await p.goto(opt.url);
    await settled(p);
    const bg = await p.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    check('dark mode follows the system', bg !== 'rgb(246, 245, 242)' && /rgb\((\d+), (\d+), (\d+)\)/.test(bg), bg);
    await p.screenshot({ path: path.join(opt.artifacts, '8-dark.png') });
    await dark.close();
  });

  const unexpected = consoleErrors.filter((t) => !/status of 415/.test(t) && !(mapMissing && /status of 404/.test(t)));
  check('no script errors', pageErrors.length === 0, pageErrors.join(' | '));
  check('no console errors besides the expected 415' + (mapMissing ? ' (and the map\'s 404)' : ''),
    unexpected.length === 0, unexpected.join(' | '));
  await browser.close();
})().then(() => finish(), finish);
