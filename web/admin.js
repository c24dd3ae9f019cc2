// web/admin.js — the owner's page (/admin): asks for an admin key (kept in sessionStorage, for
// this tab only), shows GET /api/admin/stats (counts, sources, searches per hour, weak share,
// recent changes) and adds, changes and removes products through the write API
// (POST /api/items, PATCH and DELETE /api/items/{id}; docs/API.md). No framework, no build step.
'use strict';

(() => {
  const KEY = 'lookalike-admin-key';
  const FIELDS = [ // styles.csv's columns after id, with the words a shop owner uses
    ['productDisplayName', 'Name', 'e.g. Nike Men Blue T-shirt'],
    ['gender', 'Gender', 'Men, Women, Boys, Girls, Unisex'],
    ['masterCategory', 'Category', 'e.g. Apparel, Footwear'],
    ['subCategory', 'Sub-category', 'e.g. Topwear'],
    ['articleType', 'Kind of article', 'e.g. Tshirts, Shoes'],
    ['baseColour', 'Colour', 'e.g. Blue'],
    ['season', 'Season', 'Summer, Winter, Fall, Spring'],
    ['year', 'Year', 'e.g. 2025'],
    ['usage', 'Usage', 'e.g. Casual, Sports'],
  ];
  const $ = (id) => document.getElementById(id);
  let editing = null; // the item loaded in the edit form
  let loads = 0;

  // ------------------------------------------------------------------ messages

  function say(text) {
    $('error').hidden = true;
    $('message').textContent = text;
    $('message').hidden = false;
  }

  function showError(title, detail) {
    $('message').hidden = true;
    $('error-title').textContent = title;
    $('error-detail').textContent = detail ? ' ' + detail : '';
    $('error').hidden = false;
    $('error').scrollIntoView({ block: 'nearest' });
  }

  // An answer that is not 2xx, in words a shop owner understands, with the server's own text.
  function explain(status, msg, what) {
    const detail = msg ? `(The server said: ${msg})` : '';
    switch (status) {
      case 0: return ['The server did not answer.', 'Check that lookalike serve is running, then try again.'];
      case 400: return [`The ${what} was not accepted: something in the form is not right.`, detail];
      case 401: return ['That key was not accepted.', 'Sign out and enter the admin key again (lookalike keys add --role admin makes one). ' + detail];
      case 403: return ['This key is not allowed to do that.', 'The owner\'s page needs an admin key; a read or write key is not enough. ' + detail];
      case 404: return [`Not found: ${what}.`, detail];
      case 405: return ['This server cannot change products.', 'Its version of lookalike has no write API. ' + detail];
      case 413: return ['The photo is too large for the server.', 'Use a smaller photo (or start the server with a larger --max-upload). Nothing was saved. ' + detail];
      case 415: return ['That file is not a photo the server can read.', 'Use a JPEG, PNG or WebP photo. Nothing was saved. ' + detail];
      case 429: return ['Too many attempts.', 'Wait a minute and try again. ' + detail];
      case 503: return ['The catalog cannot take changes right now.', 'It may be read-only or busy; try again later. ' + detail];
      default: return [`The ${what} failed (HTTP ${status}).`, detail];
    }
  }

  // fetch with the key; resolves to {status, body} (body: parsed JSON or null), never throws.
  async function api(method, path, body) {
    const headers = { Authorization: 'Bearer ' + (sessionStorage.getItem(KEY) || '') };
    try {
      const r = await fetch(path, { method, headers, body, cache: 'no-store' });
      let json = null;
      try { json = await r.json(); } catch (e) { /* not JSON */ }
      return { status: r.status, body: json };
    } catch (e) {
      return { status: 0, body: null };
    }
  }
  const errText = (res) => (res.body && typeof res.body.error === 'string' ? res.body.error : '');

  // ------------------------------------------------------------------ the forms' fields

  function buildFields(form, prefix) {
    const slot = form.querySelector('.fields-slot');
    for (const [name, label, hint] of FIELDS) {
      const div = document.createElement('div');
      div.className = 'field';
      const l = document.createElement('label');
      l.htmlFor = `${prefix}-${name}`;
      l.textContent = label;
      const input = document.createElement('input');
      input.type = 'text';
      input.id = `${prefix}-${name}`;
      input.name = name;
      input.placeholder = hint;
      input.autocomplete = 'off';
      if (name === 'year') input.inputMode = 'numeric';
      div.append(l, input);
      slot.append(div);
    }
  }

  const validId = (s) => /^[0-9]{1,19}$/.test(s) && BigInt(s) <= 9223372036854775807n;

  // ------------------------------------------------------------------ stats

  const fmt = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en'));

  function renderStats(s) {
    $('n-items').textContent = fmt(s.items);
    $('n-searchable').textContent = fmt(s.searchable);
    $('n-errors').textContent = fmt(s.errors);
    $('n-version').textContent = fmt(s.catalog_version);
    const src = $('sources').tBodies[0];
    src.replaceChildren(...(s.sources || []).map((x) => row([x.source || '(none)', fmt(x.items)], [null, 'num'])));
    $('n-searches').textContent = fmt(s.searches);
    $('n-weak').textContent = s.weak_share === null ? '–' : `${Math.round(s.weak_share * 1000) / 10} %`;
    $('weak-note').textContent = s.weak_threshold === null
      ? 'The weak-match threshold is still being worked out (or the catalog has a single kind of article); weak searches are counted once it is known.'
      : `A search's best match is weak when it scores below ${s.weak_threshold.toFixed(3)}: no better than what a typical product's closest match of another kind of article scores (median over ${s.weak_threshold_items} products). Many weak searches mean shoppers look for things the catalog does not have.`;
    const hours = (s.searches_per_hour || []).slice().reverse(); // newest first
    const max = Math.max(1, ...hours.map((h) => h.searches));
    $('hours').tBodies[0].replaceChildren(...hours.map((h) => {
      const tr = row([h.hour.slice(5, 10) + ' ' + h.hour.slice(11, 16), fmt(h.searches), fmt(h.weak), ''], [null, 'num', 'num', null]);
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = `${(100 * h.searches) / max}%`; // CSSOM, allowed by the page's CSP
      if (h.searches) {
        const w = document.createElement('div');
        w.className = 'weak';
        w.style.width = `${(100 * h.weak) / h.searches}%`;
        bar.append(w);
      }
      tr.lastChild.append(bar);
      return tr;
    }));
    $('recent').tBodies[0].replaceChildren(...(s.recent_changes || []).map((c) => {
      const tr = row([String(c.id), c.deleted ? 'removed' : (c.productDisplayName || '(no name)'), fmt(c.version), ''],
        ['num', c.deleted ? 'pname deleted' : 'pname', 'num', null]);
      if (!c.deleted) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'link';
        b.textContent = 'Edit';
        b.setAttribute('aria-label', `Edit product ${c.id}`);
        b.addEventListener('click', () => { $('edit-id').value = String(c.id); load(String(c.id)); });
        tr.lastChild.append(b);
      }
      return tr;
    }));
  }

  function row(cells, classes) {
    const tr = document.createElement('tr');
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      td.textContent = c;
      if (classes[i]) td.className = classes[i];
      tr.append(td);
    });
    return tr;
  }

  // Loads the stats; false (and the sign-in form again) when the key is refused.
  async function refresh() {
    const res = await api('GET', '/api/admin/stats');
    if (res.status !== 200) {
      const [t, d] = explain(res.status, errText(res), 'statistics');
      showError(t, d);
      if (res.status === 401 || res.status === 403) signOut(false);
      return false;
    }
    renderStats(res.body);
    document.body.dataset.loads = String(++loads);
    return true;
  }

  // ------------------------------------------------------------------ sign in / out

  async function signIn(key) {
    sessionStorage.setItem(KEY, key);
    if (!(await refresh())) return;
    $('sign-in').hidden = true;
    $('dashboard').hidden = false;
    $('sign-out').hidden = false;
    $('error').hidden = true;
  }

  function signOut(clearMessages) {
    sessionStorage.removeItem(KEY);
    $('dashboard').hidden = true;
    $('sign-out').hidden = true;
    $('sign-in').hidden = false;
    $('key').value = '';
    if (clearMessages) { $('error').hidden = true; $('message').hidden = true; }
    $('key').focus();
  }

  // ------------------------------------------------------------------ writes

  function busy(form, on) {
    for (const b of form.querySelectorAll('button')) b.disabled = on;
    document.body.classList.toggle('busy', on);
  }

  async function add(ev) {
    ev.preventDefault();
    const form = $('add-form');
    const id = $('add-id').value.trim();
    const file = $('add-image').files[0];
    if (!validId(id)) return showError('The product id must be a whole number.', 'For example 60001 (0 to 9223372036854775807).');
    if (!file) return showError('Choose a photo of the product.', '');
    const fd = new FormData();
    fd.append('id', id);
    for (const [name] of FIELDS) {
      const v = form.elements[name].value.trim();
      if (v) fd.append(name, v);
    }
    fd.append('image', file, file.name);
    busy(form, true);
    const res = await api('POST', '/api/items', fd);
    busy(form, false);
    if (res.status !== 200 && res.status !== 201) {
      const [t, d] = explain(res.status, errText(res), 'product');
      return showError(t, d);
    }
    const item = (res.body && res.body.item) || { id };
    say(`${res.status === 201 ? 'Added' : 'Replaced'} product ${item.id}${item.productDisplayName ? ' “' + item.productDisplayName + '”' : ''}. Shoppers can find it now.`);
    form.reset();
    refresh();
  }

  async function load(id) {
    if (!validId(id)) return showError('The product id must be a whole number.', '');
    const res = await api('GET', `/api/items/${id}`);
    if (res.status !== 200) {
      $('edit-form').hidden = true;
      editing = null;
      const [t, d] = explain(res.status, errText(res), `product ${id}`);
      return showError(t, d);
    }
    editing = res.body;
    editing.key = id; // the id as typed: JSON numbers lose digits past 2^53
    const form = $('edit-form');
    for (const [name] of FIELDS) form.elements[name].value = editing[name] === null || editing[name] === undefined ? '' : String(editing[name]);
    $('edit-image').value = '';
    $('edit-photo').src = `/photos/${id}?t=${Date.now()}`;
    form.hidden = false;
    $('error').hidden = true;
    form.elements.productDisplayName.focus();
  }

  async function save(ev) {
    ev.preventDefault();
    if (!editing) return;
    const form = $('edit-form');
    const fd = new FormData();
    for (const [name] of FIELDS) fd.append(name, form.elements[name].value.trim()); // "" clears a field
    const file = $('edit-image').files[0];
    if (file) fd.append('image', file, file.name);
    busy(form, true);
    const res = await api('PATCH', `/api/items/${editing.key}`, fd);
    busy(form, false);
    if (res.status !== 200) {
      const [t, d] = explain(res.status, errText(res), `product ${editing.key}`);
      return showError(t, d);
    }
    say(`Saved product ${editing.key}.`);
    load(editing.key);
    refresh();
  }

  function askRemove() {
    if (!editing) return;
    $('confirm-text').textContent = `Product ${editing.key}${editing.productDisplayName ? ' “' + editing.productDisplayName + '”' : ''} and its photo will be removed from the catalog; shoppers will no longer find it. This cannot be undone.`;
    $('confirm').returnValue = ''; // Escape leaves it as it is: not an earlier "remove"
    $('confirm').showModal();
  }

  async function remove() {
    if ($('confirm').returnValue !== 'remove' || !editing) return;
    const id = editing.key;
    const form = $('edit-form');
    busy(form, true);
    const res = await api('DELETE', `/api/items/${id}`);
    busy(form, false);
    if (res.status !== 200) {
      const [t, d] = explain(res.status, errText(res), `product ${id}`);
      return showError(t, d);
    }
    form.hidden = true;
    editing = null;
    $('edit-id').value = '';
    say(`Removed product ${id}.`);
    refresh();
  }

  // ------------------------------------------------------------------ start

  buildFields($('add-form'), 'add');
  buildFields($('edit-form'), 'edit');
  $('key-form').addEventListener('submit', (ev) => { ev.preventDefault(); signIn($('key').value.trim()); });
  $('sign-out').addEventListener('click', () => signOut(true));
  $('refresh').addEventListener('click', refresh);
  $('error-close').addEventListener('click', () => { $('error').hidden = true; });
  $('add-form').addEventListener('submit', add);
  $('load-form').addEventListener('submit', (ev) => { ev.preventDefault(); load($('edit-id').value.trim()); });
  $('edit-form').addEventListener('submit', save);
  $('remove').addEventListener('click', askRemove);
  $('confirm').addEventListener('close', remove);
  $('edit-photo').addEventListener('error', () => { $('edit-photo').alt = 'No photo'; });
  if (sessionStorage.getItem(KEY)) signIn(sessionStorage.getItem(KEY));
  else $('key').focus();
})();
