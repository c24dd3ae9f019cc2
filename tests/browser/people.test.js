// tests/browser/people.test.js — the shopper's page as people use it (issue 17, items 2-6 and 8
// and facet counts): filters on the start page and on a shared search link, a phone landing at a
// product's details, the photo previewed at once on a slow network (Fast 3G through the DevTools
// protocol), each upload its own history entry, keyboard only (Enter on "Choose a photo", a skip
// link, the focus on the product's name, the crop box by arrow keys), cards read name first, errors
// in words (empty file, PDF, pasted text and link, a missing product), your photo beside the
// product, no /health or /metrics in the footer, a 2560 px screen used, menus counting within the
// filters; axe-core on the start, results and product views; screenshots at phone and desktop
// sizes in --artifacts. Run by tests/browser/run.sh. Prints "browser: N passed, M failed" last.
'use strict';

const { harness } = require('./harness');

const { opt, check, step, shot, axe, settled, launch, finish } = harness('people.test.js', ['url', 'photo', 'photo2', 'twin'], { shotPrefix: 'people-' });
const cards = (page) => page.$$eval('#grid li.card', (lis) => lis.map((li) => ({ id: li.dataset.id, gender: li.dataset.gender })));
const PHONE = { width: 390, height: 844 }, DESKTOP = { width: 1280, height: 900 };

// axe-core through the DevTools protocol (the page's CSP allows no injected script): serious or
// critical violations.
const errorText = async (page) => ((await page.isVisible('#error')) ? (await page.textContent('#error')).replace(/\s+/g, ' ').trim() : '');
async function upload(page, file) {
  const before = await page.evaluate(() => location.hash);
  await page.setInputFiles('#file', file);
  await page.waitForFunction((b) => location.hash !== b && location.hash.startsWith('#/search'), before);
  await settled(page);
}

(async () => {
  const browser = await launch();
  const pageErrors = [];
  async function fresh(viewport, hash) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.setDefaultTimeout(15000);
    await page.goto(opt.url + (hash || ''));
    await page.waitForFunction(() => document.querySelectorAll('#filter-gender option').length > 1);
    await settled(page);
    return { context, page };
  }
  const U = opt.url.replace(/\/$/, '');

  console.log('browser: item 2, filters on the start page and on a shared search link');
  await step('filters on the start page', async () => {
    const { context, page } = await fresh(DESKTOP, '#/?gender=Women');
    const c = await cards(page);
    check('start page with gender=Women shows Women products only', c.length > 0 && c.every((x) => x.gender === 'Women'),
      c.map((x) => x.gender).join(' '));
    await page.selectOption('#filter-gender', 'Men');
    await settled(page);
    const c2 = await cards(page);
    check('changing the filter on the start page changes its products', c2.length > 0 && c2.every((x) => x.gender === 'Men'),
      c2.map((x) => x.gender).join(' '));
    await context.close();
  });
  await step('a shared search link', async () => {
    const { context, page } = await fresh(DESKTOP, '#/search?gender=Women&masterCategory=Apparel');
    const title = await page.textContent('#results-title');
    check('a shared search link asks clearly for a photo to search with its filters', /upload a photo to search with these filters/i.test(title), title);
    const c = await cards(page);
    check('a shared search link shows its filters applied to the start products', c.length > 0 && c.every((x) => x.gender === 'Women'),
      c.map((x) => x.gender).join(' '));
    check('a shared search link keeps its filters in the menus', (await page.inputValue('#filter-gender')) === 'Women');
    await shot(page, 'shared-desktop');
    await context.close();
  });

  console.log('browser: facet counts follow the filters');
  await step('facet counts', async () => {
    const { context, page } = await fresh(DESKTOP, '');
    await upload(page, opt.photo);
    await page.selectOption('#filter-gender', 'Women');
    await settled(page);
    await page.waitForFunction(() => document.getElementById('filters').dataset.counts === 'gender=Women', null, { timeout: 5000 }).catch(() => {});
    const want = await page.evaluate(async (u) => (await (await fetch(u + '/api/facets?gender=Women')).json()).facets.masterCategory, U);
    const got = await page.$$eval('#filter-masterCategory option', (os) => os.filter((o) => o.value)
      .map((o) => ({ value: o.value, text: o.textContent, disabled: o.disabled })));
    const ok = want.every((w) => got.some((g) => g.value === w.value && g.text === `${w.value} (${w.count})`));
    check('results view: the Category menu counts within gender=Women', ok, JSON.stringify(got));
    const zeros = got.filter((g) => /\(0\)$/.test(g.text));
    check('a value that gives nothing says (0) and is disabled', zeros.length > 0 && zeros.every((g) => g.disabled), JSON.stringify(zeros));
    const g = await page.$$eval('#filter-gender option', (os) => os.filter((o) => o.value).map((o) => o.disabled));
    check('the other genders stay choosable (their own field is not counted within itself)', g.every((d) => !d));
    // The product view counts within its filters too.
    await page.click('#grid li.card a');
    await settled(page);
    await page.waitForFunction(() => document.getElementById('filters').dataset.counts === 'gender=Women', null, { timeout: 5000 }).catch(() => {});
    const got2 = await page.$$eval('#filter-masterCategory option', (os) => os.filter((o) => o.value).map((o) => o.textContent));
    check('product view: the menus count within the filters', want.every((w) => got2.includes(`${w.value} (${w.count})`)), got2.join(', '));
    await context.close();
  });

  console.log('browser: item 3, phone');
  await step('phone: a product from a scrolled list', async () => {
    const { context, page } = await fresh(PHONE, '');
    await upload(page, opt.photo);
    const last = page.locator('#grid li.card a').nth(15);
    await last.scrollIntoViewIfNeeded();
    const y0 = await page.evaluate(() => window.scrollY);
    await last.click();
    await settled(page);
    const at = await page.evaluate(() => {
      const r = document.getElementById('detail-name').getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, h: window.innerHeight };
    });
    check(`phone: opening a product from a list scrolled ${Math.round(y0)} px lands at its details`,
      y0 > 500 && at.top >= 0 && at.bottom <= at.h, JSON.stringify(at));
    await shot(page, 'product-phone');
    await context.close();
  });
  await step('slow network: the photo previewed at once', async () => {
    const { context, page } = await fresh(DESKTOP, '');
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 562.5, // DevTools' "Fast 3G"
      downloadThroughput: 1.6 * 1024 * 1024 / 8 * 0.9, uploadThroughput: 750 * 1024 / 8 * 0.9 });
    const t0 = Date.now();
    await page.setInputFiles('#file', opt.photo);
    await page.waitForFunction(() => !document.getElementById('preview').hidden &&
      document.getElementById('photo').naturalWidth > 0, null, { timeout: 3000 });
    const ms = Date.now() - t0;
    const early = await page.evaluate(() => !location.hash.startsWith('#/search'));
    check(`Fast 3G: your photo shows at once (${ms} ms), before the results`, early && ms < 1500, `${ms} ms, results first: ${!early}`);
    await page.waitForFunction(() => location.hash.startsWith('#/search'), null, { timeout: 15000 });
    await settled(page);
    await context.close();
  });

  console.log('browser: item 4, history');
  await step('each upload its own history entry', async () => {
    const { context, page } = await fresh(DESKTOP, '');
    await upload(page, opt.photo);
    const first = (await cards(page)).map((x) => x.id);
    const src1 = await page.getAttribute('#photo', 'src');
    await upload(page, opt.photo2);
    const second = (await cards(page)).map((x) => x.id);
    await page.goBack();
    await settled(page);
    const back = (await cards(page)).map((x) => x.id);
    const src = await page.getAttribute('#photo', 'src');
    check('Back after a second upload returns to the first upload\'s results and photo',
      back.length > 0 && back.join() === first.join() && back.join() !== second.join() && src === src1,
      `${back.slice(0, 4)} vs ${first.slice(0, 4)}`);
    await page.goForward();
    await settled(page);
    check('Forward returns to the second upload\'s results', (await cards(page)).map((x) => x.id).join() === second.join());
    await context.close();
  });

  console.log('browser: item 5, keyboard and screen readers');
  await step('a skip link', async () => {
    const { context, page } = await fresh(DESKTOP, '');
    await page.keyboard.press('Tab');
    const skip = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    const onCard = await page.evaluate(() => !!(document.activeElement && document.activeElement.closest('#grid li.card')));
    check('a skip link is the first Tab; Enter and one more Tab reach the first product', /skip/i.test(skip || '') && onCard, skip);
    await context.close();
  });
  await step('keyboard only', async () => {
    const { context, page } = await fresh(DESKTOP, '');
    const h1 = await page.$$eval('h1', (hs) => hs.filter((x) => x.getClientRects().length > 0).map((x) => x.textContent));
    check('the start view has one h1 on screen', h1.length === 1, JSON.stringify(h1));
    // The file chooser is intercepted from now on (before the first key, so that the protocol's
    // interception is on before Enter; a listener added just before Enter can lose that race).
    let fc = null;
    page.on('filechooser', (x) => { fc = x; });
    let n = 0;
    while (n < 20 && !(await page.evaluate(() => document.activeElement && document.activeElement.id === 'file'))) {
      await page.keyboard.press('Tab'); n++;
    }
    await page.keyboard.press('Enter');
    for (let t = 0; !fc && t < 160; t++) await page.waitForTimeout(50);
    check(`Enter on "Choose a photo" (${n} Tabs away) opens the picker`, !!fc);
    if (fc) await fc.setFiles(opt.photo); else await page.setInputFiles('#file', opt.photo);
    await page.waitForFunction(() => location.hash.startsWith('#/search'));
    await settled(page);
    // Cards read name first, once, then the match strength's label.
    const read = await page.$eval('#grid li.card a', (a) => {
      const parts = [];
      const walk = (n) => {
        for (const c of n.childNodes) {
          if (c.nodeType === 3) parts.push(c.textContent);
          else if (c.tagName === 'IMG') parts.push(c.getAttribute('alt') || '');
          else walk(c);
        }
      };
      walk(a);
      return { text: parts.join(' ').replace(/\s+/g, ' ').trim(), name: a.querySelector('.name').textContent };
    });
    const once = read.text.split(read.name).length - 1 === 1;
    check('a card is read name first (once), its match strength after', read.text.startsWith(read.name) && once &&
      /(same product|very similar|same kind|loosely related|no close match)$/.test(read.text) && !/\d\s*%/.test(read.text), read.text);
    await shot(page, 'results-desktop');
    const v = await axe(page);
    check('axe-core: no serious or critical violation on the results view', v.length === 0, JSON.stringify(v));
    // The crop box by keyboard.
    await step('the crop box by keyboard', async () => {
    await page.focus('#stage');
    const keysShown = await page.isVisible('#crop-keys');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Shift+ArrowLeft');
    await page.keyboard.press('Shift+ArrowUp');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /crop=\d+,\d+,\d+,\d+/.test(location.hash), null, { timeout: 5000 });
    await settled(page);
    check('the crop box by keyboard: arrows draw, move and resize it, Enter searches the part, with instructions shown',
      keysShown && /boxed/.test(await page.textContent('#results-title')));
    });
    // Opening a product by keyboard puts the focus on its name.
    await page.focus('#grid li.card a');
    await page.keyboard.press('Enter');
    await settled(page);
    const focus = await page.evaluate(() => document.activeElement && document.activeElement.id);
    check('after opening a product the focus is on its name', focus === 'detail-name', focus);
    // A filter changed on the product page by keyboard keeps the focus on its menu.
    await page.focus('#filter-gender');
    const was = await page.evaluate(() => location.hash);
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction((w) => location.hash !== w, was, { timeout: 5000 });
    await settled(page);
    const f2 = await page.evaluate(() => document.activeElement && document.activeElement.id);
    check('a filter changed by keyboard on the product page keeps the focus on its menu', f2 === 'filter-gender', f2);
    const v2 = await axe(page);
    check('axe-core: no serious or critical violation on the product view', v2.length === 0, JSON.stringify(v2));
    await context.close();
  });

  console.log('browser: item 6, errors in words');
  await step('errors in words', async () => {
    const { context, page } = await fresh(DESKTOP, '');
    const dev = /multipart|form-data|unknown format|not a readable image|request was not understood/i;
    await page.setInputFiles('#file', { name: 'empty.jpg', mimeType: 'image/jpeg', buffer: Buffer.alloc(0) });
    await page.waitForSelector('#error:not([hidden])', { timeout: 5000 }).catch(() => {});
    let t = await errorText(page);
    check('an empty file: "empty", what to do, no developer text', /empty/i.test(t) && /save it/i.test(t) && !dev.test(t), t);
    await page.click('#error-close');
    await page.setInputFiles('#file', { name: 'catalog.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n%\xe2\xe3\n1 0 obj <<>> endobj\n') });
    await page.waitForSelector('#error:not([hidden])', { timeout: 5000 }).catch(() => {});
    t = await errorText(page);
    check('a PDF: says it is a PDF and what to do, no developer text', /PDF, not a photo/.test(t) && /screenshot/.test(t) && !dev.test(t), t);
    await page.click('#error-close');
    const paste = (text) => page.evaluate((x) => {
      const dt = new DataTransfer();
      dt.setData('text/plain', x);
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, text);
    await paste('red summer dress');
    t = await errorText(page);
    check('pasted text: says it is text, not a photo', /text, not a photo/i.test(t), t);
    await paste('https://shop.example/dress.jpg');
    t = await errorText(page);
    check('a pasted link: says to save the photo and upload it (nothing fetched)', /link, not a photo/i.test(t) && /save the photo/i.test(t), t);
    await page.goto(opt.url + '#/item/' + opt.twin);
    await settled(page);
    const name = await page.textContent('#detail-name');
    await page.goto(opt.url + '#/item/99999999');
    await settled(page);
    t = await errorText(page);
    const img = await page.$eval('#detail-photo', (i) => ({ visible: !i.hidden && i.offsetWidth > 0, alt: i.alt, src: i.getAttribute('src') }));
    const heading = await page.textContent('#detail-name');
    check('#/item/99999999 after another product: "no such product", no broken image, no stale name',
      /no such product/i.test(t) && !img.visible && img.alt !== name && !img.src && heading !== name, JSON.stringify({ t, img, heading }));
    await context.close();
  });

  console.log('browser: item 8, compare, footer, wide screens');
  await step('your photo beside the product', async () => {
    const { context, page } = await fresh(DESKTOP, '');
    check('the shoppers\' footer links neither /health nor /metrics',
      (await page.$$('footer a[href="/health"], footer a[href="/metrics"]')).length === 0);
    const v = await axe(page);
    check('axe-core: no serious or critical violation on the start view', v.length === 0, JSON.stringify(v));
    await shot(page, 'start-desktop');
    await upload(page, opt.photo);
    await page.click('#grid li.card a');
    await settled(page);
    const yours = await page.$eval('#detail-yours img', (i) => !i.closest('[hidden]') && i.complete && i.naturalWidth > 0).catch(() => false);
    check('the product page shows your photo beside the product', yours);
    await shot(page, 'product-desktop');
    await context.close();
  });
  await step('a 2560 px screen', async () => {
    const { context, page } = await fresh({ width: 2560, height: 1300 }, '');
    await upload(page, opt.photo);
    const w = await page.$eval('#grid', (g) => g.getBoundingClientRect().width);
    check(`a 2560 px screen: the grid uses it (${Math.round(w)} px wide)`, w > 1600, String(w));
    await shot(page, 'results-2560');
    await context.close();
  });
  await step('phone screenshots', async () => {
    const { context, page } = await fresh(PHONE, '');
    await shot(page, 'start-phone');
    const v = await axe(page);
    check('axe-core: no serious or critical violation on the start view (phone)', v.length === 0, JSON.stringify(v));
    await upload(page, opt.photo);
    await shot(page, 'results-phone');
    await context.close();
  });

  check('no uncaught errors in the page', pageErrors.length === 0, pageErrors.join(' | '));
  await browser.close();
})().then(() => finish(), finish);
