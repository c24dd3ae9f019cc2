// tests/browser/admin.test.js — the owner's page (/admin) of `lookalike serve` in headless
// Chromium (playwright-core + axe-core): not linked from the shopper's page, a read key refused,
// sign in with an admin key by keyboard, the counts and searches per hour, add a product with a
// photo (POST /api/items), find it from the shopper's page with the same photo (first hit),
// change its name (PATCH), a non-image refused (415, in words), remove it with the confirmation
// (DELETE), axe-core finds no serious or critical violation, and a 390 px phone. Run by
// tests/browser/run.sh; prints "browser: N passed, M failed" last; exits 1 on any failure.
'use strict';

const path = require('path');
const { harness } = require('./harness');

const { opt, check, step, shot, axe, launch, finish } = harness('admin.test.js', ['url', 'admin-key', 'read-key', 'photo', 'id', 'not-image']);

// axe-core in the page (evaluated through the DevTools protocol, so the page's CSP, which
// allows no injected script, stays as it is): violations of impact serious or critical.

// The answer shown after an action: the message or the error, whichever appears.
async function outcome(page) {
  await page.waitForFunction(() => !document.getElementById('message').hidden || !document.getElementById('error').hidden,
    null, { timeout: 30000 });
  const err = await page.isVisible('#error');
  return { ok: !err, text: err ? (await page.textContent('#error')).trim() : (await page.textContent('#message')).trim() };
}
async function clearOutcome(page) {
  await page.evaluate(() => { document.getElementById('message').hidden = true; document.getElementById('error').hidden = true; });
}

(async () => {
  const base = opt.url.replace(/\/$/, '');
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const pageErrors = [], consoleErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.setDefaultTimeout(15000);
  const id = String(opt.id);

  console.log('browser: owner page, sign in');
  await step('the shopper page does not link to /admin', async () => {
    await page.goto(base + '/');
    const links = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href')));
    check('the shopper page does not link to /admin', !links.some((h) => /admin/.test(h)), links.join(' '));
  });
  await step('sign in', async () => {
    await page.goto(base + '/admin');
    check('/admin asks for the key first', (await page.isVisible('#sign-in')) && !(await page.isVisible('#dashboard')));
    check('the key field has a label', (await page.$eval('#key', (i) => i.labels.length)) === 1);
    const v = await axe(page);
    check('axe-core: no serious or critical violation on the sign-in view', v.length === 0, JSON.stringify(v));
    await page.fill('#key', opt['read-key']);
    await page.press('#key', 'Enter');
    const o = await outcome(page);
    check('a read key is refused in words (403: needs an admin key)', !o.ok && /admin key/.test(o.text), o.text);
    check('... and the page stays on the sign-in form', await page.isVisible('#sign-in'));
    await page.focus('#key'); // by keyboard: type the key, Enter
    await page.keyboard.type(opt['admin-key']);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => Number(document.body.dataset.loads) >= 1);
    check('an admin key opens the dashboard', await page.isVisible('#dashboard'));
    check('the key is kept in sessionStorage only',
      await page.evaluate((k) => sessionStorage.getItem('lookalike-admin-key') === k && !Object.values(localStorage).includes(k) &&
        !document.cookie.includes(k), opt['admin-key']));
    const items = Number((await page.textContent('#n-items')).replace(/,/g, ''));
    check('the counts show the catalog size', items > 0, String(items));
    check('searches per hour: 24 rows', (await page.$$('#hours tbody tr')).length === 24);
    check('recent changes are listed', (await page.$$('#recent tbody tr')).length > 0);
    const v2 = await axe(page);
    check('axe-core: no serious or critical violation on the dashboard', v2.length === 0, JSON.stringify(v2));
    await shot(page, 'admin-1-dashboard');
  });

  console.log('browser: owner page, add a product');
  await step('add a product', async () => {
    await page.fill('#add-id', id);
    await page.fill('#add-productDisplayName', 'Owner Test Blue Shirt');
    await page.fill('#add-articleType', 'Shirts');
    await page.fill('#add-gender', 'Men');
    await page.fill('#add-baseColour', 'Blue');
    await page.setInputFiles('#add-image', opt.photo);
    const before = Number(await page.evaluate(() => document.body.dataset.loads));
    await page.click('#add-form button[type=submit]');
    const o = await outcome(page);
    check('adding a product with a photo says so', o.ok && /Added product/.test(o.text), o.text);
    if (!o.ok) return;
    await page.waitForFunction((b) => Number(document.body.dataset.loads) > b, before);
    const first = await page.$eval('#recent tbody tr td', (td) => td.textContent);
    check('it heads the recent changes', first === id, first);
    await shot(page, 'admin-2-added');
  });

  await step('find it from the shopper page', async () => {
    const shop = await context.newPage();
    await shop.goto(base + '/');
    await shop.setInputFiles('#file', opt.photo);
    await shop.waitForFunction(() => location.hash.startsWith('#/search'));
    await shop.waitForFunction(() => document.body.dataset.rendered === location.hash && !document.body.classList.contains('busy'));
    const ids = await shop.$$eval('#grid li.card', (lis) => lis.map((li) => li.dataset.id));
    check('the shopper page finds the new product first with its photo', ids[0] === id, ids.slice(0, 5).join(' '));
    await shop.close();
  });

  console.log('browser: owner page, change and remove');
  await step('change a product', async () => {
    await clearOutcome(page);
    await page.fill('#edit-id', id);
    await page.press('#edit-id', 'Enter');
    await page.waitForSelector('#edit-form:not([hidden])');
    check('loading it fills the form', (await page.inputValue('#edit-productDisplayName')) === 'Owner Test Blue Shirt');
    await page.fill('#edit-productDisplayName', 'Owner Test Navy Shirt');
    await page.click('#edit-form button[type=submit]');
    const o = await outcome(page);
    check('saving a change says so', o.ok && /Saved product/.test(o.text), o.text);
    const r = await page.evaluate(async (u) => (await fetch(u)).json(), `${base}/api/items/${id}`);
    check('the change is in the catalog', r.productDisplayName === 'Owner Test Navy Shirt', JSON.stringify(r).slice(0, 200));
  });

  await step('a file that is not a photo', async () => {
    await clearOutcome(page);
    await page.fill('#add-id', String(BigInt(id) + 1n));
    await page.setInputFiles('#add-image', opt['not-image']);
    await page.click('#add-form button[type=submit]');
    const o = await outcome(page);
    check('a non-image is refused in words (415: not a photo the server can read)', !o.ok && /not a photo the server can read/.test(o.text), o.text);
    await page.evaluate(() => document.getElementById('add-form').reset());
  });

  await step('remove a product', async () => {
    await clearOutcome(page);
    await page.click('#remove');
    check('removing asks first', await page.isVisible('#confirm'));
    await page.keyboard.press('Escape'); // "keep it": nothing removed
    const still = await page.evaluate(async (u) => (await fetch(u)).status, `${base}/api/items/${id}`);
    check('Escape keeps the product', still === 200, String(still));
    await page.click('#remove');
    await page.click('#confirm-remove');
    const o = await outcome(page);
    check('confirming removes it and says so', o.ok && /Removed product/.test(o.text), o.text);
    const gone = await page.evaluate(async (u) => (await fetch(u)).status, `${base}/api/items/${id}`);
    check('... and it is gone (404)', gone === 404, String(gone));
    await shot(page, 'admin-3-removed');
  });

  await step('phone layout', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const p = await phone.newPage();
    await p.goto(base + '/admin');
    await p.fill('#key', opt['admin-key']);
    await p.press('#key', 'Enter');
    await p.waitForFunction(() => Number(document.body.dataset.loads) >= 1);
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    check('nothing overflows sideways on a 390 px phone', !overflow);
    await p.screenshot({ path: path.join(opt.artifacts, 'admin-4-phone.png'), fullPage: true });
    await phone.close();
  });

  // expected: the read key's 403, the non-image's 415, the test's own GET of the removed item
  const unexpected = consoleErrors.filter((t) => !/status of (403|404|415)/.test(t));
  check('no script errors', pageErrors.length === 0, pageErrors.join(' | '));
  check('no console errors besides the expected 403, 404 and 415', unexpected.length === 0, unexpected.join(' | '));
  await browser.close();
})().then(() => finish(), finish);
