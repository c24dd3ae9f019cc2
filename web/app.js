/* web/app.js — the search page: takes a photo (pick, camera, drop, paste), an optional crop
 * box dragged on it, filters built from GET /api/facets, the results grid, a product's
 * detail with "more like this", the catalog map (#/map, drawn by web/map.js), and hash
 * routing (#/search?..., #/item/ID?...) so a view can be shared and the back button works.
 * No framework, no build step; it only talks to the JSON API of docs/API.md. */
'use strict';

(() => {
  const FIELDS = ['gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season', 'usage'];
  const LABELS = {
    gender: 'Gender', masterCategory: 'Category', subCategory: 'Subcategory', articleType: 'Type',
    baseColour: 'Colour', season: 'Season', year: 'Year', usage: 'Usage',
  };
  const PAGE = 24;             // results per "page"; "Show more" adds another
  const MAX_K = 500;           // the API's limit
  const MAX_SIDE = 1600;       // larger photos are scaled down here before the upload
  const STORE_KEY = 'lookalike.photo';
  const STORE_MAX = 3 << 20;   // photos kept in sessionStorage for a reload, bytes

  const $ = (id) => document.getElementById(id);
  const ui = {
    drop: $('drop'), file: $('file'), camera: $('camera'), preview: $('preview'), stage: $('stage'),
    photo: $('photo'), box: $('box'), clearCrop: $('clear-crop'), newPhoto: $('new-photo'), multicrop: $('multicrop'),
    cropHint: $('crop-hint'), query: $('query'), detail: $('detail'), back: $('back'),
    detailPhoto: $('detail-photo'), detailName: $('detail-name'), detailFields: $('detail-fields'),
    filters: $('filters'), filtersPanel: $('filters-panel'), filterCount: $('filter-count'),
    clearFilters: $('clear-filters'), error: $('error'),
    errorTitle: $('error-title'), errorDetail: $('error-detail'), errorClose: $('error-close'),
    title: $('results-title'), status: $('status'), intro: $('intro'), grid: $('grid'),
    more: $('more'), overlay: $('dropzone-overlay'), size: $('catalog-size'),
    mapView: $('map-view'), mapCanvas: $('map-canvas'), mapTip: $('map-tip'), mapTipPhoto: $('map-tip-photo'),
    mapTipName: $('map-tip-name'), mapLegend: $('map-legend'), mapHint: $('map-hint'),
    mapIn: $('map-in'), mapOut: $('map-out'), mapFit: $('map-fit'),
    navSearch: $('nav-search'), navMap: $('nav-map'),
    skip: $('skip'), yours: $('detail-yours'), yoursPhoto: $('detail-yours-photo'),
  };

  const state = {
    photo: null,        // {blob, url, w, h, name, id}: the photo being searched
    seq: 0,             // photo ids
    facets: null,       // GET /api/facets
    cache: new Map(),   // request key -> response body (the last few)
    abort: null,        // AbortController of the request in flight
    navs: 0,            // in-page navigations so far (for the Back button)
    busy: false,
    lastHits: null,     // ids of the last photo search's top hits (marks the photo on the map)
    map: null,          // {body, view: {s, tx, ty}, hover}: the map view's data and camera
    photos: new Map(),  // photo id (the hash's photo=) -> photo, the last few uploads: Back finds them
  };

  /* ------------------------------------------------------------ small helpers */

  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else if (k in e) e[k] = v;
      else e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(url, opts) {
    let res;
    try {
      res = await fetch(url, opts);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'the server did not answer');
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) throw new ApiError(res.status, (body && body.error) || res.statusText);
    return body;
  }

  function cached(key, load) {
    if (state.cache.has(key)) return Promise.resolve(state.cache.get(key));
    return load().then((body) => {
      state.cache.set(key, body);
      if (state.cache.size > 30) state.cache.delete(state.cache.keys().next().value);
      return body;
    });
  }

  const fmtInt = (n) => Number(n).toLocaleString('en');
  const fmtMs = (ms) => (ms >= 100 ? Math.round(ms) : ms >= 1 ? ms.toFixed(1) : ms.toFixed(2)) + ' ms';

  /* ------------------------------------------------------------ routing */

  // #/            home (filters may ride along: #/?gender=Women)
  // #/search?...  results for the photo in memory (k, crop, filters)
  // #/item/ID?... a product and its neighbours (k, filters)
  function parseHash() {
    const raw = location.hash.replace(/^#/, '') || '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const m = path.match(/^\/item\/(\d{1,18})$/);
    if (m) return { view: 'item', id: m[1], params };
    if (path === '/search') return { view: 'search', params };
    if (path === '/map') return { view: 'map', params };
    return { view: 'home', params };
  }

  function hashFor(view, params, id) {
    const qs = params.toString().replace(/%2C/gi, ','); // readable crop=x,y,w,h
    const path = view === 'item' ? '/item/' + id : view === 'search' ? '/search' : view === 'map' ? '/map' : '/';
    return '#' + path + (qs ? '?' + qs : '');
  }

  function go(hash, replace) {
    if (location.hash === hash || (hash === '#/' && !location.hash)) { render(); return; }
    if (replace) { history.replaceState(null, '', hash); render(); return; }
    location.hash = hash; // hashchange renders
  }

  // The parameters that matter for a view, in a stable order: filters, k, crop.
  function cleanParams(params, keep) {
    const out = new URLSearchParams();
    for (const f of FIELDS) { const v = params.get(f); if (v) out.set(f, v); }
    const k = parseInt(params.get('k'), 10);
    if (keep.includes('k') && k > PAGE && k <= MAX_K) out.set('k', String(k));
    const crop = params.get('crop');
    if (keep.includes('crop') && crop && /^\d+,\d+,\d+,\d+$/.test(crop)) out.set('crop', crop);
    if (keep.includes('crop') && params.get('multicrop') === '1') out.set('multicrop', '1'); // photo and its parts
    const photo = params.get('photo'); // which upload (each its own history entry)
    if (keep.includes('crop') && photo && /^\d{1,15}$/.test(photo)) out.set('photo', photo);
    return out;
  }

  function filterParams(params) { return cleanParams(params, []); }
  function wantK(params) {
    const k = parseInt(params.get('k'), 10);
    return k > 0 && k <= MAX_K ? k : PAGE;
  }

  /* ------------------------------------------------------------ messages */

  function showError(err) {
    if (err && err.name === 'AbortError') return;
    const s = err instanceof ApiError ? err.status : -1;
    const titles = {
      0: 'Cannot reach the server.',
      400: 'That request was not understood.',
      404: 'Not found.',
      413: 'That photo is too large.',
      415: 'That file is not an image we can read.',
      422: 'That part of the photo cannot be searched.',
      503: 'The server is busy.',
    };
    const hints = {
      0: 'Check that `lookalike serve` is running, then try again.',
      400: 'Something in the link is not valid: clear the filters, or start again from the start page.',
      404: 'It may have been removed. Search with a photo, or go back to the start.',
      413: 'Use a photo under 20 MB and 40 megapixels.',
      415: 'Use a JPEG, PNG or WebP photo.',
      422: 'Drag a larger box on the photo, or search the whole photo.',
      503: 'Try again in a moment.',
    };
    peopleError(titles[s] || 'Something went wrong.', hints[s] || (err && err.message) || 'Try again in a moment.');
    ui.errorDetail.title = (err && err.message) || ''; // the server's own words, for whoever debugs
    ui.error.dataset.status = String(s);
  }

  // A message for people: what happened and what to do.
  function peopleError(title, detail) {
    ui.errorTitle.textContent = title;
    ui.errorDetail.textContent = detail;
    ui.errorDetail.title = '';
    ui.error.hidden = false;
    ui.error.dataset.status = '';
  }

  function hideError() { ui.error.hidden = true; }

  function setBusy(on, text) {
    state.busy = on;
    document.body.classList.toggle('busy', on);
    ui.grid.setAttribute('aria-busy', on ? 'true' : 'false');
    if (text !== undefined) ui.status.textContent = text;
  }

  /* ------------------------------------------------------------ filters */

  function buildFilters() {
    ui.filters.replaceChildren();
    for (const f of FIELDS) {
      const values = (state.facets && state.facets.facets[f]) || [];
      const sel = h('select', { name: f, id: 'filter-' + f },
        h('option', { value: '', text: 'Any ' + LABELS[f].toLowerCase() }),
        ...values.map((v) => h('option', { value: v.value, text: `${v.value} (${fmtInt(v.count)})` })));
      sel.addEventListener('change', onFilterChange);
      ui.filters.append(h('label', { class: 'filter' }, h('span', { text: LABELS[f] }), sel));
    }
  }

  function syncFilters(params) {
    let any = 0;
    for (const f of FIELDS) {
      const sel = ui.filters.elements[f];
      if (!sel) continue;
      const v = params.get(f) || '';
      if (v && ![...sel.options].some((o) => o.value === v)) sel.append(h('option', { value: v, text: v }));
      sel.value = v;
      sel.classList.toggle('set', !!v);
      if (v) any++;
    }
    ui.clearFilters.hidden = !any;
    ui.filterCount.hidden = !any;
    ui.filterCount.textContent = any ? String(any) : '';
  }

  function onFilterChange() {
    const r = parseHash();
    const p = cleanParams(r.params, ['crop']);
    for (const f of FIELDS) {
      const v = ui.filters.elements[f].value;
      if (v) p.set(f, v); else p.delete(f);
    }
    go(hashFor(r.view, p, r.id));
  }

  ui.clearFilters.addEventListener('click', () => {
    const r = parseHash();
    const p = cleanParams(r.params, ['crop']);
    for (const f of FIELDS) p.delete(f);
    go(hashFor(r.view, p, r.id));
  });

  /* ------------------------------------------------------------ results grid */

  // Match strength (docs/API.md "match"): the calibrated label and a bar of as many steps, never
  // a raw percentage; an uncalibrated catalog's hits carry no match and show none.
  const STRENGTH = { 'same product': 5, 'very similar': 4, 'same kind': 3, 'loosely related': 2, 'no close match': 1 };

  function strength(hit) {
    const m = hit.match;
    if (!m || !STRENGTH[m.label]) return null;
    const steps = STRENGTH[m.label];
    return h('span', {
      class: 'score strength-' + steps, 'data-label': m.label,
      title: m.label + ' (same kind ' + Math.round(m.p_same_kind * 100) + '% likely, same product ' +
        Math.round(m.p_same_product * 100) + '%; score ' + hit.score.toFixed(4) + ')',
    },
    h('span', { class: 'score-label', text: m.label }),
    h('span', { class: 'score-bar', 'aria-hidden': 'true' }, h('span', { class: 'score-fill', 'data-pct': String(steps * 20) })));
  }

  function card(hit, linkParams) {
    const sub = [hit.articleType, hit.baseColour, hit.gender].filter(Boolean).join(' · ');
    const qs = linkParams.toString();
    const name = hit.productDisplayName || 'Product ' + hit.id;
    return h('li', {
      class: 'card', 'data-id': String(hit.id), 'data-gender': hit.gender || '',
      'data-article-type': hit.articleType || '', 'data-colour': hit.baseColour || '',
    },
    // its name is its text, read name first: "Nike Women … T-Shirts, Tshirts · White · Women,
    // same product" (the photo's alt would repeat the name); the CSS shows the label above the name
    h('a', { href: '#/item/' + hit.id + (qs ? '?' + qs : ''), title: name },
      h('span', { class: 'thumb' },
        h('img', { src: '/photos/' + hit.id, alt: '', loading: 'lazy', decoding: 'async' })),
      h('span', { class: 'name', text: name }),
      h('span', { class: 'vh', text: ', ' }),
      h('span', { class: 'sub', text: sub }),
      h('span', { class: 'vh', text: ', ' }),
      strength(hit)));
  }

  // "No close match: draw a box around the garment, or remove the filter gender=Men." first in
  // the results of a weak answer (docs/API.md "weak", "advice"); it goes with them.
  function weakNote(body) {
    return body.weak ? h('li', { class: 'weak-note', id: 'weak-note' }, h('p', { text: body.advice || 'No close match.' })) : null;
  }

  function showHits(body, params, title) {
    ui.intro.hidden = true;
    ui.title.textContent = title;
    const links = filterParams(params);
    ui.grid.replaceChildren(...body.hits.map((x) => card(x, links)));
    if (body.weak) ui.grid.prepend(weakNote(body));
    for (const fill of ui.grid.querySelectorAll('.score-fill')) fill.style.width = fill.dataset.pct + '%';
    const k = wantK(params);
    ui.more.hidden = !(body.count >= k && k < MAX_K);
    if (!body.hits.length) {
      ui.grid.append(h('li', { class: 'empty' },
        h('p', { text: 'No product matches these filters.' }),
        h('button', { type: 'button', class: 'btn', text: 'Clear filters', onclick: () => ui.clearFilters.click() })));
    }
  }

  ui.more.addEventListener('click', () => {
    const r = parseHash();
    const p = cleanParams(r.params, ['k', 'crop']);
    p.set('k', String(Math.min(MAX_K, wantK(r.params) + PAGE)));
    go(hashFor(r.view, p, r.id), true);
  });

  /* ------------------------------------------------------------ the photo */

  function loadImage(blob) {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(blob);
      const img = new Image();
      img.onload = () => resolve({ img, url });
      img.onerror = () => { URL.revokeObjectURL(url); reject(new Error('not an image')); };
      img.src = url;
    });
  }

  // A photo the browser can show: scaled down when huge (uploads stay small on phones), and
  // re-encoded as JPEG when the server could not read its format (HEIC in Safari, AVIF, GIF).
  async function preparePhoto(file) {
    const photo = { blob: file, url: null, w: 0, h: 0, name: file.name || 'photo', id: ++state.seq };
    let loaded;
    try { loaded = await loadImage(file); } catch (e) { return photo; } // the server will explain
    const { img, url } = loaded;
    photo.url = url;
    photo.w = img.naturalWidth;
    photo.h = img.naturalHeight;
    const side = Math.max(photo.w, photo.h);
    const readable = /^image\/(jpeg|png|webp)$/.test(file.type);
    if (side > MAX_SIDE || !readable) {
      const s = Math.min(1, MAX_SIDE / side);
      const canvas = h('canvas', { width: Math.round(photo.w * s), height: Math.round(photo.h * s) });
      const ctx = canvas.getContext('2d');
      ctx.fillStyle = '#fff'; // transparent parts on white, as the server does
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      const small = await new Promise((res) => canvas.toBlob(res, 'image/jpeg', 0.92));
      if (small) {
        URL.revokeObjectURL(url);
        photo.blob = small;
        photo.url = URL.createObjectURL(small);
        photo.w = canvas.width;
        photo.h = canvas.height;
        photo.name = 'photo.jpg';
      }
    }
    return photo;
  }

  function searchKey(photo, params) { return 'search:' + photo.id + '?' + params.toString(); }

  function apiSearch(photo, params, signal) {
    const fd = new FormData();
    fd.append('image', photo.blob, photo.name);
    const k = wantK(params);
    fd.append('k', String(k));
    for (const [key, v] of cleanParams(params, ['crop'])) if (key !== 'photo') fd.append(key, v);
    return api('/api/search', { method: 'POST', body: fd, signal });
  }

  async function takeFile(file) {
    if (!file) return;
    hideError();
    if (!file.size) { notPhoto(file, null); return; }
    const photo = await preparePhoto(file);
    if (!photo.url) { notPhoto(file, photo); return; } // the browser cannot show it: neither can the server read it
    const before = state.photo;
    showPreview(photo); // at once, before the results (slow networks)
    const r = parseHash();
    const params = filterParams(r.params);
    params.set('photo', String(photo.id));
    newRequest();
    const status = ui.status.textContent;
    setBusy(true, 'Searching…');
    try {
      const body = await apiSearch(photo, params, state.abort.signal);
      keepPhoto(photo);
      state.photo = photo;
      state.cache.set(searchKey(photo, params), body);
      storePhoto(photo);
      setBusy(false);
      go(hashFor('search', params));
    } catch (e) {
      if (photo.url) URL.revokeObjectURL(photo.url);
      if (e.name === 'AbortError') return; // a newer photo or view took over
      setBusy(false, status);
      if (before && parseHash().view === 'search') showPreview(before, r.params.get('crop'), r.params.get('multicrop') === '1');
      else if (parseHash().view !== 'search') showDropZone();
      showError(e);
    }
  }

  // The last few uploads by id, so that Back to an earlier upload's results finds its photo.
  function keepPhoto(photo) {
    state.photos.set(String(photo.id), photo);
    while (state.photos.size > 8) {
      const [id, old] = state.photos.entries().next().value;
      state.photos.delete(id);
      if (old !== state.photo && old.url) URL.revokeObjectURL(old.url);
    }
  }

  // A file that is no photo, said in words: nothing is sent.
  function notPhoto(file, photo) {
    if (photo && photo.url) URL.revokeObjectURL(photo.url);
    const name = file.name || 'That file';
    if (!file.size) {
      peopleError('That file is empty.', `${name} has nothing in it: 0 bytes. Choose the photo again; if it comes from ` +
        'a website or a chat, save it to your device first and upload the saved photo.');
    } else if (/pdf$/i.test(file.type) || /\.pdf$/i.test(name)) {
      peopleError('That is a PDF, not a photo.', 'Upload a photo (JPEG, PNG or WebP). To search a product shown in a ' +
        'PDF, take a screenshot of it and upload the screenshot.');
    } else {
      peopleError('That file is not an image we can read.', `${name} is not a photo: choose a JPEG, PNG or WebP photo.`);
    }
  }

  function storePhoto(photo) {
    try {
      sessionStorage.removeItem(STORE_KEY);
      if (photo.blob.size > STORE_MAX) return;
      const fr = new FileReader();
      fr.onload = () => {
        try {
          sessionStorage.setItem(STORE_KEY, JSON.stringify({ data: fr.result, name: photo.name, id: photo.id }));
        } catch (e) { /* storage full: a reload will ask for the photo again */ }
      };
      fr.readAsDataURL(photo.blob);
    } catch (e) { /* no storage */ }
  }

  async function restorePhoto() {
    let saved;
    try { saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null'); } catch (e) { saved = null; }
    if (!saved || typeof saved.data !== 'string') return null;
    const m = saved.data.match(/^data:([^;,]*);base64,(.*)$/);
    if (!m) return null;
    const bin = atob(m[2]);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const photo = await preparePhoto(new Blob([bytes], { type: m[1] || 'image/jpeg' }));
    photo.name = saved.name || 'photo.jpg';
    if (Number(saved.id) > 0) { photo.id = Number(saved.id); state.seq = Math.max(state.seq, photo.id); }
    if (photo.url) keepPhoto(photo);
    return photo.url ? photo : null;
  }

  function showPreview(photo, crop, multi) {
    ui.drop.dataset.state = 'photo';
    ui.multicrop.checked = !!multi;
    ui.preview.hidden = false;
    if (ui.photo.getAttribute('src') !== photo.url) ui.photo.src = photo.url || '';
    const c = crop && crop.split(',').map(Number);
    if (c && photo.w) {
      placeBox(c[0] / photo.w, c[1] / photo.h, c[2] / photo.w, c[3] / photo.h);
      ui.clearCrop.hidden = false;
      ui.cropHint.textContent = 'Searching the boxed part.';
    } else {
      ui.box.hidden = true;
      ui.clearCrop.hidden = true;
      ui.cropHint.textContent = 'Drag on the photo to search only part of it.';
    }
  }

  function showDropZone() {
    ui.drop.dataset.state = 'empty';
    ui.preview.hidden = true;
  }

  ui.file.addEventListener('change', () => { takeFile(ui.file.files[0]); ui.file.value = ''; });
  ui.camera.addEventListener('change', () => { takeFile(ui.camera.files[0]); ui.camera.value = ''; });
  ui.newPhoto.addEventListener('click', () => ui.file.click());
  ui.drop.addEventListener('click', (e) => { // the whole empty zone picks a photo
    if (ui.drop.dataset.state === 'empty' && !e.target.closest('label')) ui.file.click();
  });
  ui.clearCrop.addEventListener('click', () => {
    const r = parseHash();
    const params = cleanParams(r.params, ['crop']);
    params.delete('crop');
    go(hashFor('search', params));
  });
  ui.multicrop.addEventListener('change', () => { // search the photo and 13 of its parts
    const r = parseHash();
    const params = cleanParams(r.params, ['crop']);
    if (ui.multicrop.checked) params.set('multicrop', '1'); else params.delete('multicrop');
    go(hashFor('search', params));
  });

  document.addEventListener('paste', (e) => {
    const items = [...((e.clipboardData && e.clipboardData.items) || [])];
    const item = items.find((i) => i.kind === 'file');
    if (item) { e.preventDefault(); takeFile(item.getAsFile()); }
  });

  let dragDepth = 0;
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  window.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth++;
    ui.overlay.hidden = false;
  });
  window.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
  window.addEventListener('dragleave', () => { if (--dragDepth <= 0) { dragDepth = 0; ui.overlay.hidden = true; } });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth = 0;
    ui.overlay.hidden = true;
    takeFile(e.dataTransfer.files[0]);
  });

  /* ------------------------------------------------------------ crop box */

  function placeBox(x, y, w, hgt) {
    const s = ui.box.style;
    s.left = x * 100 + '%';
    s.top = y * 100 + '%';
    s.width = w * 100 + '%';
    s.height = hgt * 100 + '%';
    ui.box.hidden = false;
  }

  let drag = null;
  function rel(e) {
    const r = ui.photo.getBoundingClientRect();
    return {
      x: Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)),
      y: Math.min(1, Math.max(0, (e.clientY - r.top) / r.height)),
      w: r.width, h: r.height,
    };
  }
  ui.stage.addEventListener('pointerdown', (e) => {
    if (!state.photo || !state.photo.w || e.button > 0) return;
    e.preventDefault();
    ui.stage.setPointerCapture(e.pointerId);
    drag = { start: rel(e), prev: ui.box.hidden ? null : { ...ui.box.style } };
  });
  ui.stage.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const a = drag.start, b = rel(e);
    placeBox(Math.min(a.x, b.x), Math.min(a.y, b.y), Math.abs(a.x - b.x), Math.abs(a.y - b.y));
  });
  const endDrag = (e) => {
    if (!drag) return;
    const a = drag.start, b = rel(e), prev = drag.prev;
    drag = null;
    const wpx = Math.abs(a.x - b.x) * b.w, hpx = Math.abs(a.y - b.y) * b.h;
    if (wpx < 12 || hpx < 12) { // a click, not a box: keep what was there
      if (prev) Object.assign(ui.box.style, { left: prev.left, top: prev.top, width: prev.width, height: prev.height });
      else ui.box.hidden = true;
      return;
    }
    const p = state.photo;
    const x = Math.round(Math.min(a.x, b.x) * p.w), y = Math.round(Math.min(a.y, b.y) * p.h);
    const w = Math.max(1, Math.round(Math.abs(a.x - b.x) * p.w)), hh = Math.max(1, Math.round(Math.abs(a.y - b.y) * p.h));
    const r = parseHash();
    const params = cleanParams(r.params, ['crop']);
    params.set('crop', [x, y, w, hh].join(','));
    go(hashFor('search', params));
  };
  ui.stage.addEventListener('pointerup', endDrag);
  ui.stage.addEventListener('pointercancel', () => { drag = null; });

  /* ------------------------------------------------------------ for people (issue 17) */

  // Photo ids go on after a reload's (the last one is kept in sessionStorage), so that an older
  // history entry's photo=N never names a newer upload.
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
    if (saved && Number(saved.id) > 0) state.seq = Number(saved.id);
  } catch (e) { /* no storage */ }


  // A search link without its photo (shared, or opened elsewhere): the filters applied to the
  // start products and a clear request for the photo.
  async function showShared(params) {
    await showHome(params);
    const named = FIELDS.filter((f) => params.get(f)).map((f) => params.get(f));
    ui.intro.hidden = true;
    ui.drop.classList.add('wanted');
    ui.title.textContent = named.length ? 'Upload a photo to search with these filters' : 'Upload a photo to search';
    ui.status.textContent = named.length ? 'Filters: ' + named.join(' · ') + ' · products that match them below' : '';
  }

  function clearDetail(id) {
    ui.detail.dataset.id = String(id);
    ui.detailPhoto.removeAttribute('src');
    ui.detailPhoto.alt = '';
    ui.detailPhoto.hidden = true;
    ui.detailName.textContent = '';
    ui.yours.hidden = true;
    $('detail-this').hidden = true;
  }

  // Your photo beside the product, to compare (when there is one).
  function showYours() {
    const p = state.photo;
    ui.yours.hidden = !(p && p.url);
    $('detail-this').hidden = ui.yours.hidden;
    if (p && p.url && ui.yoursPhoto.getAttribute('src') !== p.url) ui.yoursPhoto.src = p.url;
  }

  // Opening a product lands at its details, with the focus on its name (phones, screen readers).
  function landOnItem() {
    window.scrollTo({ top: 0, left: 0, behavior: 'instant' });
    ui.detailName.focus({ preventScroll: true });
  }

  // The filter menus count within the current filters (GET /api/facets with them): a field's
  // values among the products that pass the other filters; a value that gives nothing says (0)
  // and is disabled. Without filters the whole catalog's counts (state.facets).
  async function updateFacetCounts(params) {
    const qs = filterParams(params).toString();
    let body = state.facets;
    try {
      if (qs) body = await cached('facets?' + qs, () => api('/api/facets?' + qs));
    } catch (e) { return; } // the menus keep the counts they have
    if (!body || filterParams(parseHash().params).toString() !== qs) return; // the filters changed since
    for (const f of FIELDS) {
      const sel = ui.filters.elements[f];
      if (!sel) continue;
      const counts = new Map(((body.facets && body.facets[f]) || []).map((v) => [v.value, v.count]));
      for (const o of sel.options) {
        if (!o.value) continue;
        const n = counts.get(o.value) || 0;
        o.textContent = `${o.value} (${fmtInt(n)})`;
        o.disabled = n === 0 && sel.value !== o.value;
      }
    }
    ui.filters.dataset.counts = qs;
  }

  // Enter on "Choose a photo" / "Take a photo" opens the picker (Space already does).
  for (const input of [ui.file, ui.camera]) {
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); input.click(); }
    });
  }

  // The skip link: to the results heading; the next Tab is the first result.
  ui.skip.addEventListener('click', (e) => {
    e.preventDefault();
    ui.title.focus();
  });

  // Text or a link pasted instead of a photo: said in words, nothing fetched.
  document.addEventListener('paste', (e) => {
    const dt = e.clipboardData;
    if (!dt || [...dt.items].some((i) => i.kind === 'file')) return;
    if (e.target && e.target.closest && e.target.closest('input, textarea, select, [contenteditable]')) return;
    const text = (dt.getData('text/plain') || '').trim();
    if (!text) return;
    e.preventDefault();
    if (/^(https?:\/\/|www\.)\S+$/i.test(text)) {
      peopleError('That is a link, not a photo.', 'lookalike does not fetch photos from links. Open the link, save ' +
        'the photo to your device and upload it here (or copy the image itself and paste it).');
    } else {
      peopleError('That is text, not a photo.', 'Copy a photo itself (right-click it, then Copy image) and paste it ' +
        'here, or choose a photo file.');
    }
  });

  // The crop box by keyboard, on the focused photo: arrow keys move it (a first press draws one),
  // Shift+arrows resize it, Enter searches the boxed part, Escape removes the box.
  function boxNow() {
    if (ui.box.hidden) return null;
    const n = (v) => parseFloat(v) / 100;
    const st = ui.box.style;
    return { x: n(st.left), y: n(st.top), w: n(st.width), h: n(st.height) };
  }
  ui.stage.addEventListener('keydown', (e) => {
    const p = state.photo;
    if (!p || !p.w) return;
    const dirs = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (e.key === 'Enter') {
      const b = boxNow();
      if (!b) return;
      e.preventDefault();
      const r = parseHash();
      const params = cleanParams(r.params, ['crop']);
      params.set('crop', [Math.round(b.x * p.w), Math.round(b.y * p.h), Math.max(1, Math.round(b.w * p.w)),
        Math.max(1, Math.round(b.h * p.h))].join(','));
      go(hashFor('search', params));
    } else if (e.key === 'Escape') {
      if (ui.box.hidden) return;
      e.preventDefault();
      if (parseHash().params.get('crop')) ui.clearCrop.click();
      else ui.box.hidden = true;
    } else if (dirs[e.key]) {
      e.preventDefault();
      const [dx, dy] = dirs[e.key], step = 0.05, min = 0.1;
      let b = boxNow();
      if (!b) b = { x: 0.2, y: 0.2, w: 0.6, h: 0.6 };
      else if (e.shiftKey) {
        b.w = Math.min(1 - b.x, Math.max(min, b.w + dx * step));
        b.h = Math.min(1 - b.y, Math.max(min, b.h + dy * step));
      } else {
        b.x = Math.min(1 - b.w, Math.max(0, b.x + dx * step));
        b.y = Math.min(1 - b.h, Math.max(0, b.y + dy * step));
      }
      placeBox(b.x, b.y, b.w, b.h);
      ui.cropHint.textContent = 'Press Enter to search the boxed part.';
    }
  });

  /* ------------------------------------------------------------ views */

  function newRequest() {
    if (state.abort) state.abort.abort();
    state.abort = new AbortController();
    return state.abort.signal;
  }

  function showHome(params) {
    newRequest();
    ui.query.hidden = false;
    ui.detail.hidden = true;
    showDropZone();
    ui.intro.hidden = false;
    ui.grid.replaceChildren();
    ui.more.hidden = true;
    ui.title.textContent = 'Start with a photo';
    ui.status.textContent = state.facets ? fmtInt(state.facets.items) + ' products to search' : '';
    document.title = 'lookalike — find products that look like your photo';
    // A few products to start from without a photo, within the filters (one draw per visit and
    // filters, so Back keeps it).
    const signal = state.abort.signal;
    const links = filterParams(params), qs = links.toString();
    return cached('sample?' + qs, () => api('/api/items?sample=' + (window.innerWidth < 760 ? 8 : 15) + (qs ? '&' + qs : ''), { signal }))
      .then((body) => {
        if (signal.aborted) return;
        ui.grid.replaceChildren(...body.items.map((x) => card(x, links)));
        if (qs) ui.status.textContent = `${fmtInt(body.total)} products match the filters`;
        if (qs && !body.items.length) {
          ui.grid.append(h('li', { class: 'empty' }, h('p', { text: 'No product matches these filters.' }),
            h('button', { type: 'button', class: 'btn', text: 'Clear filters', onclick: () => ui.clearFilters.click() })));
        }
      })
      .catch((e) => { if (e.name !== 'AbortError') ui.grid.replaceChildren(); });
  }

  async function showSearch(params) {
    ui.query.hidden = false;
    ui.detail.hidden = true;
    document.title = 'Results — lookalike';
    const want = params.get('photo');
    if (want && state.photos.has(want)) state.photo = state.photos.get(want);
    else if (!state.photo || (want && String(state.photo.id) !== want)) {
      setBusy(true, 'Loading your photo…');
      const saved = await restorePhoto();
      setBusy(false, '');
      state.photo = saved && (!want || String(saved.id) === want) ? saved : null;
      if (!state.photo) return showShared(params);
    }
    const photo = state.photo;
    const kept = cleanParams(params, ['crop']);
    const crop = kept.get('crop'), multi = kept.get('multicrop') === '1';
    showPreview(photo, crop, multi);
    const signal = newRequest();
    setBusy(true, 'Searching…');
    try {
      const body = await cached(searchKey(photo, cleanParams(params, ['k', 'crop'])),
        () => apiSearch(photo, params, signal));
      if (signal.aborted) return;
      setBusy(false);
      showHits(body, params, (crop ? 'Products like the boxed part' : 'Products like your photo') + (multi ? ' and its parts' : ''));
      state.lastHits = body.hits.slice(0, 5).map((x) => x.id);
      ui.status.textContent = `${fmtInt(body.count)} results in ${fmtMs(body.took_ms)}`;
      ui.status.title = `decode ${fmtMs(body.decode_ms || 0)}, embed ${fmtMs(body.embed_ms)}, search ${fmtMs(body.search_ms)}`;
    } catch (e) {
      if (e.name === 'AbortError') return;
      setBusy(false, '');
      showError(e);
    }
  }

  function fieldRow(item, f, params) {
    const v = item[f];
    if (v === null || v === undefined || v === '') return null;
    let dd;
    if (FIELDS.includes(f)) {
      const on = params.get(f) === String(v);
      dd = h('dd', {}, h('button', {
        type: 'button', class: 'chip' + (on ? ' on' : ''), text: String(v),
        title: on ? 'Stop filtering by ' + LABELS[f].toLowerCase() : 'Only show ' + v,
        onclick: () => {
          const r = parseHash();
          const p = cleanParams(r.params, []);
          if (on) p.delete(f); else p.set(f, String(v));
          go(hashFor('item', p, r.id));
        },
      }));
    } else {
      dd = h('dd', { text: String(v) });
    }
    return [h('dt', { text: LABELS[f] || f }), dd];
  }

  async function showItem(id, params) {
    const opening = ui.detail.hidden || ui.detail.dataset.id !== String(id); // not a filter or "Show more" on it
    ui.query.hidden = true;
    ui.detail.hidden = false;
    ui.intro.hidden = true;
    if (ui.detail.dataset.id !== String(id)) clearDetail(id);
    const signal = newRequest();
    setBusy(true, 'Loading…');
    const k = wantK(params);
    const sim = cleanParams(params, []);
    sim.set('k', String(k));
    try {
      const [itemR, simR] = await Promise.allSettled([
        cached('item:' + id, () => api('/api/items/' + id, { signal })),
        cached('similar:' + id + '?' + sim.toString(), () => api('/api/items/' + id + '/similar?' + sim.toString(), { signal })),
      ]);
      if (signal.aborted) return;
      if (itemR.status === 'rejected') throw itemR.reason;
      const item = itemR.value;
      setBusy(false);
      const name = item.productDisplayName || 'Product ' + item.id;
      document.title = name + ' — lookalike';
      ui.detail.dataset.id = String(item.id);
      ui.detailPhoto.src = '/photos/' + item.id;
      ui.detailPhoto.alt = name;
      ui.detailPhoto.hidden = false;
      ui.detailName.textContent = name;
      showYours();
      if (opening) landOnItem();
      ui.detailFields.replaceChildren();
      for (const f of [...FIELDS.slice(0, 6), 'year', 'usage'].filter((x, i, a) => a.indexOf(x) === i)) {
        const row = fieldRow(item, f, params);
        if (row) ui.detailFields.append(...row);
      }
      ui.status.title = '';
      if (simR.status === 'rejected') { // e.g. a product whose photo could not be embedded
        ui.title.textContent = 'More like this';
        ui.grid.replaceChildren();
        ui.more.hidden = true;
        ui.status.textContent = '';
        showError(simR.reason);
        return;
      }
      const body = simR.value;
      showHits(body, params, 'More like this');
      ui.status.textContent = `${fmtInt(body.count)} similar products in ${fmtMs(body.took_ms)}`;
    } catch (e) {
      if (e.name === 'AbortError') return;
      setBusy(false, '');
      ui.grid.replaceChildren();
      ui.more.hidden = true;
      clearDetail(id);
      ui.title.textContent = 'Product ' + id;
      ui.detailName.textContent = 'Product ' + id;
      ui.detailFields.replaceChildren();
      if (e.status === 404) {
        ui.detailName.textContent = 'No such product';
        ui.title.textContent = '';
        peopleError('No such product.', `There is no product ${id} in this catalog (it may have been removed). ` +
          'Search with a photo, or go back to the start.');
      } else {
        showError(e);
      }
      if (opening) landOnItem();
    }
  }


  /* ------------------------------------------------------------ the map (web/map.js) */

  const map = window.lookalikeMap({ ui, state, h, api, cached, go, setBusy, showError, newRequest, fmtInt });
  const hideMap = () => map.hide();
  const showMap = () => map.show(parseHash().params); // with the filters of the hash: dims the rest

  ui.back.addEventListener('click', () => {
    if (state.navs > 0) history.back();
    else go('#/');
  });
  ui.errorClose.addEventListener('click', hideError);

  // Shows the view the hash names; body[data-rendered] gets the hash once it is on screen
  // (the browser tests wait for it).
  function render() {
    const r = parseHash();
    const at = location.hash;
    hideError();
    ui.drop.classList.remove('wanted');
    syncFilters(r.params);
    updateFacetCounts(r.params); // on every view, the map included: counts within its filters
    delete document.body.dataset.rendered;
    if (r.view !== 'map') hideMap();
    const [on, off] = r.view === 'map' ? [ui.navMap, ui.navSearch] : [ui.navSearch, ui.navMap];
    on.setAttribute('aria-current', 'page');
    off.removeAttribute('aria-current');
    const done = r.view === 'item' ? showItem(r.id, r.params)
      : r.view === 'search' ? showSearch(r.params)
        : r.view === 'map' ? showMap() : showHome(r.params);
    return Promise.resolve(done).finally(() => {
      if (location.hash === at) document.body.dataset.rendered = at;
    });
  }

  window.addEventListener('hashchange', () => { state.navs++; render(); });

  async function start() {
    if (window.matchMedia('(max-width: 760px)').matches) ui.filtersPanel.open = false;
    buildFilters();
    try {
      state.facets = await api('/api/facets');
      buildFilters();
      ui.size.textContent = fmtInt(state.facets.items) + ' products';
    } catch (e) {
      showError(e);
    }
    render();
  }
  start();
})();
