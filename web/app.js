/* web/app.js — the search page: takes a photo (pick, camera, drop, paste), an optional crop
 * box dragged on it, filters built from GET /api/facets, the results grid, a product's
 * detail with "more like this", the catalog map (#/map: GET /api/map drawn on a canvas with
 * pan, zoom, hover and click; the last photo's place marked), and hash routing (#/search?...,
 * #/item/ID?...) so a view can be shared and the back button works. No framework, no build
 * step; it only talks to the JSON API of docs/API.md. */
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
    const path = view === 'item' ? '/item/' + id : view === 'search' ? '/search' : '/';
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
      413: 'Use a photo under 20 MB and 40 megapixels.',
      415: 'Use a JPEG, PNG or WebP photo.',
      422: 'Drag a larger box on the photo, or search the whole photo.',
      503: 'Try again in a moment.',
    };
    ui.errorTitle.textContent = titles[s] || 'Something went wrong.';
    const detail = [hints[s], err && err.message ? '(' + err.message + ')' : ''].filter(Boolean).join(' ');
    ui.errorDetail.textContent = detail;
    ui.error.hidden = false;
    ui.error.dataset.status = String(s);
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
    h('span', { class: 'vh', text: ': ' }), // read "same product: Nike …", not "same productNike …"
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
    // its name is its text, read as "same product: Nike Women … T-Shirts, Tshirts · White ·
    // Women": the label, then the name (the photo's alt would repeat the name first)
    h('a', { href: '#/item/' + hit.id + (qs ? '?' + qs : ''), title: name },
      h('span', { class: 'thumb' },
        h('img', { src: '/photos/' + hit.id, alt: '', loading: 'lazy', decoding: 'async' })),
      strength(hit),
      h('span', { class: 'name', text: name }),
      h('span', { class: 'vh', text: ', ' }),
      h('span', { class: 'sub', text: sub })));
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
    for (const [key, v] of cleanParams(params, ['crop'])) fd.append(key, v);
    return api('/api/search', { method: 'POST', body: fd, signal });
  }

  async function takeFile(file) {
    if (!file) return;
    hideError();
    const photo = await preparePhoto(file);
    const r = parseHash();
    const params = filterParams(r.params);
    newRequest();
    const status = ui.status.textContent;
    setBusy(true, 'Searching…');
    try {
      const body = await apiSearch(photo, params, state.abort.signal);
      if (state.photo && state.photo.url) URL.revokeObjectURL(state.photo.url);
      state.photo = photo;
      state.cache.set(searchKey(photo, params), body);
      storePhoto(photo);
      setBusy(false);
      go(hashFor('search', params));
    } catch (e) {
      if (photo.url) URL.revokeObjectURL(photo.url);
      if (e.name === 'AbortError') return; // a newer photo or view took over
      setBusy(false, status);
      showError(e);
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
    // A few products to start from without a photo (one draw per visit, so Back keeps it).
    const signal = state.abort.signal;
    return cached('sample', () => api('/api/items?sample=' + (window.innerWidth < 760 ? 8 : 15), { signal }))
      .then((body) => {
        if (signal.aborted) return;
        const links = filterParams(params);
        ui.grid.replaceChildren(...body.items.map((x) => card(x, links)));
      })
      .catch((e) => { if (e.name !== 'AbortError') ui.grid.replaceChildren(); });
  }

  async function showSearch(params) {
    ui.query.hidden = false;
    ui.detail.hidden = true;
    document.title = 'Results — lookalike';
    if (!state.photo) {
      setBusy(true, 'Loading your photo…');
      state.photo = await restorePhoto();
      setBusy(false, '');
      if (!state.photo) {
        showHome(params);
        ui.status.textContent = 'Add your photo again to see these results.';
        return;
      }
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
    ui.query.hidden = true;
    ui.detail.hidden = false;
    ui.intro.hidden = true;
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
      ui.detailName.textContent = name;
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
      ui.title.textContent = 'Product ' + id;
      ui.detailName.textContent = 'Product ' + id;
      ui.detailFields.replaceChildren();
      ui.detailPhoto.removeAttribute('src');
      showError(e);
    }
  }


  /* ------------------------------------------------------------ the map */

  // Colours of the 12 commonest types (the order of body.types), grey for the rest; as in
  // `lookalike map`'s pictures.
  const MAP_COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
    '#e377c2', '#17becf', '#bcbd22', '#393b79', '#ad494a', '#637939'];
  const MAP_GREY = '#b8b8b8';
  const mapColour = (t) => (t >= 0 && t < MAP_COLOURS.length ? MAP_COLOURS[t] : MAP_GREY);

  function mapSize() {
    const c = ui.mapCanvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, hgt = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(hgt * dpr);
    }
    return { w, h: hgt, dpr };
  }

  function mapFit() {
    const m = state.map;
    const { w, h: hgt } = mapSize();
    const b = m.bounds;
    const s = Math.min((w - 40) / Math.max(b.x1 - b.x0, 1e-9), (hgt - 40) / Math.max(b.y1 - b.y0, 1e-9));
    m.view = { s, tx: w / 2 - s * (b.x0 + b.x1) / 2, ty: hgt / 2 - s * (b.y0 + b.y1) / 2 };
  }

  // The mean map position of the last photo's top hits: where the photo would sit.
  function mapQuery() {
    const m = state.map;
    if (!m || !state.lastHits || !state.lastHits.length) return null;
    let x = 0, y = 0, n = 0;
    for (const id of state.lastHits) {
      const i = m.index.get(id);
      if (i === undefined) continue;
      x += m.body.xy[2 * i]; y += m.body.xy[2 * i + 1]; n++;
    }
    return n ? { x: x / n, y: y / n } : null;
  }

  function mapDraw() {
    const m = state.map;
    if (!m || ui.mapView.hidden) return;
    const { w, h: hgt, dpr } = mapSize();
    const ctx = ui.mapCanvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const { s, tx, ty } = m.view;
    const xy = m.body.xy, type = m.body.type;
    const base = m.body.count < 1000 ? 5 : m.body.count < 10000 ? 3 : 2; // px at the fitted zoom
    const r = Math.min(9, base * (1 + 0.4 * Math.log2(Math.max(1, s / m.fitScale))));
    ctx.globalAlpha = 0.75;
    for (const pass of [0, 1]) { // grey under colour
      for (let i = 0; i < type.length; i++) {
        const coloured = type[i] >= 0 && type[i] < MAP_COLOURS.length;
        if (coloured !== (pass === 1)) continue;
        const px = s * xy[2 * i] + tx, py = s * xy[2 * i + 1] + ty;
        if (px < -r || py < -r || px > w + r || py > hgt + r) continue;
        ctx.fillStyle = mapColour(type[i]);
        ctx.fillRect(px - r / 2, py - r / 2, r, r);
      }
    }
    ctx.globalAlpha = 1;
    if (m.hover >= 0) {
      const px = s * xy[2 * m.hover] + tx, py = s * xy[2 * m.hover + 1] + ty;
      ctx.strokeStyle = '#111'; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(px, py, r + 3, 0, 2 * Math.PI); ctx.stroke();
    }
    const q = mapQuery();
    if (q) {
      const px = s * q.x + tx, py = s * q.y + ty;
      ctx.lineWidth = 3; ctx.strokeStyle = '#fff';
      ctx.beginPath(); ctx.arc(px, py, 11, 0, 2 * Math.PI); ctx.stroke();
      ctx.lineWidth = 2; ctx.strokeStyle = '#e11d48';
      ctx.beginPath(); ctx.arc(px, py, 11, 0, 2 * Math.PI); ctx.stroke();
      ctx.font = '600 13px system-ui, sans-serif'; ctx.fillStyle = '#e11d48';
      ctx.fillText('your photo', px + 15, py + 4);
    }
  }

  // Index of the point nearest to canvas position (cx, cy) within 10 px, or -1.
  function mapPick(cx, cy) {
    const m = state.map;
    const { s, tx, ty } = m.view;
    const xy = m.body.xy;
    let best = -1, bd = 100;
    for (let i = 0; i < m.body.count; i++) {
      const dx = s * xy[2 * i] + tx - cx, dy = s * xy[2 * i + 1] + ty - cy;
      const d = dx * dx + dy * dy;
      if (d < bd) { bd = d; best = i; }
    }
    return best;
  }

  function mapZoom(f, cx, cy) {
    const v = state.map.view;
    const s = Math.max(state.map.fitScale / 2, Math.min(state.map.fitScale * 400, v.s * f));
    f = s / v.s;
    v.tx = cx - f * (cx - v.tx); v.ty = cy - f * (cy - v.ty); v.s = s;
    mapDraw();
  }

  function mapHover(i, cx, cy) {
    const m = state.map;
    if (m.hover === i) return;
    m.hover = i;
    ui.mapCanvas.classList.toggle('over', i >= 0);
    if (i < 0) { ui.mapTip.hidden = true; mapDraw(); return; }
    const id = m.body.ids[i];
    ui.mapTipPhoto.src = '/photos/' + id;
    ui.mapTipName.textContent = m.body.names[i] || 'Product ' + id;
    ui.mapTip.dataset.id = String(id);
    const { w } = mapSize();
    ui.mapTip.style.left = (cx + 160 > w ? cx - 160 : cx + 14) + 'px';
    ui.mapTip.style.top = Math.max(4, cy - 60) + 'px';
    ui.mapTip.hidden = false;
    mapDraw();
  }

  (function mapEvents() {
    const c = ui.mapCanvas;
    let drag = null;
    const at = (e) => { const b = c.getBoundingClientRect(); return [e.clientX - b.left, e.clientY - b.top]; };
    c.addEventListener('pointerdown', (e) => {
      if (!state.map) return;
      const [x, y] = at(e);
      drag = { x, y, tx: state.map.view.tx, ty: state.map.view.ty, moved: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointermove', (e) => {
      if (!state.map) return;
      const [x, y] = at(e);
      if (drag) {
        if (Math.abs(x - drag.x) + Math.abs(y - drag.y) > 3) { drag.moved = true; c.classList.add('dragging'); }
        if (drag.moved) {
          state.map.view.tx = drag.tx + x - drag.x; state.map.view.ty = drag.ty + y - drag.y;
          mapHover(-1); mapDraw(); return;
        }
      }
      mapHover(mapPick(x, y), x, y);
    });
    c.addEventListener('pointerup', (e) => {
      if (!state.map || !drag) return;
      const moved = drag.moved;
      drag = null;
      c.classList.remove('dragging');
      if (moved) return;
      const [x, y] = at(e);
      const i = mapPick(x, y);
      if (i >= 0) go('#/item/' + state.map.body.ids[i]);
    });
    c.addEventListener('pointercancel', () => { drag = null; c.classList.remove('dragging'); });
    c.addEventListener('pointerleave', () => { if (state.map && !drag) mapHover(-1); });
    c.addEventListener('wheel', (e) => {
      if (!state.map) return;
      e.preventDefault();
      const [x, y] = at(e);
      mapZoom(Math.exp(-e.deltaY * 0.0015), x, y);
    }, { passive: false });
    const centre = () => { const { w, h: hgt } = mapSize(); return [w / 2, hgt / 2]; };
    ui.mapIn.addEventListener('click', () => { if (state.map) mapZoom(1.6, ...centre()); });
    ui.mapOut.addEventListener('click', () => { if (state.map) mapZoom(1 / 1.6, ...centre()); });
    ui.mapFit.addEventListener('click', () => { if (state.map) { mapFit(); mapDraw(); } });
    window.addEventListener('resize', () => mapDraw());
  })();

  function mapLegend(body) {
    const counts = new Array(body.types.length).fill(0);
    let other = 0;
    for (const t of body.type) { if (t >= 0 && t < MAP_COLOURS.length) counts[t]++; else other++; }
    const items = body.types.slice(0, MAP_COLOURS.length).map((name, t) =>
      h('li', {}, h('i', { style: 'background:' + mapColour(t) }), `${name} (${fmtInt(counts[t])})`));
    if (other) items.push(h('li', {}, h('i', { style: 'background:' + MAP_GREY }), `other (${fmtInt(other)})`));
    ui.mapLegend.replaceChildren(...items);
  }

  function hideMap() {
    ui.mapView.hidden = true;
    ui.mapTip.hidden = true;
  }

  async function showMap() {
    const signal = newRequest();
    ui.intro.hidden = true;
    ui.grid.replaceChildren();
    ui.more.hidden = true;
    ui.title.textContent = 'Catalog map';
    document.title = 'Map — lookalike';
    ui.mapView.hidden = false;
    ui.mapHint.hidden = true;
    setBusy(true, 'Loading the map…');
    try {
      const body = await cached('map', () => api('/api/map', { signal }));
      if (signal.aborted) return;
      setBusy(false);
      if (!state.map || state.map.body !== body) {
        let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
        for (let i = 0; i < body.count; i++) {
          const x = body.xy[2 * i], y = body.xy[2 * i + 1];
          if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
        }
        const index = new Map();
        body.ids.forEach((id, i) => index.set(id, i));
        state.map = { body, index, bounds: { x0, x1, y0, y1 }, hover: -1 };
        mapFit();
        state.map.fitScale = state.map.view.s;
        mapLegend(body);
      }
      ui.mapCanvas.dataset.points = String(body.count);
      const q = mapQuery();
      ui.status.textContent = `${fmtInt(body.count)} products, similar-looking ones close together` +
        (q ? ' · the ring marks your photo' : '') + (body.stale ? ' · made before the catalog last changed' : '');
      ui.status.title = 'Drag to pan, scroll or +/− to zoom, hover for the product, click to open it';
      mapDraw();
    } catch (e) {
      if (e.name === 'AbortError') return;
      setBusy(false, '');
      state.cache.delete('map');
      ui.mapLegend.replaceChildren();
      if (e.status === 404) {
        const ctx = ui.mapCanvas.getContext('2d');
        ctx.clearRect(0, 0, ui.mapCanvas.width, ui.mapCanvas.height);
        ui.mapHint.replaceChildren('This catalog has no map yet. Make one with ',
          h('code', { text: 'lookalike map --db CATALOG --out map.png' }), ' and reload.');
        ui.mapHint.hidden = false;
        ui.status.textContent = '';
      } else {
        showError(e);
      }
    }
  }

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
    syncFilters(r.params);
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
