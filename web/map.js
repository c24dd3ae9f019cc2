/* web/map.js — the catalog map view of the search page (#/map): GET /api/map (gzip) drawn on a
 * canvas. Colours the 16 commonest types of what is in view (or subcategories, categories when
 * zoomed out) with a legend, dims what the filters leave out, pans by drag or arrow keys, zooms
 * by wheel, pinch, +/- keys or buttons, shows the product under the pointer (or nearest the
 * centre, for the keyboard) and opens it on click or Enter; the last photo's place is ringed.
 * web/app.js creates it with lookalikeMap(page) (its ui, state and helpers) and calls
 * show(params) and hide() from its router; it only talks to the JSON API of docs/API.md. */
'use strict';

window.lookalikeMap = (page) => {
  const { ui, state, h, api, cached, go, setBusy, showError, newRequest, fmtInt } = page;
  const $ = (id) => document.getElementById(id);
  const el = {
    frame: ui.mapView.querySelector('.map-frame'), desc: $('map-desc'), live: $('map-live'),
    legendTitle: $('map-legend-title'),
  };

  // 16 colours for the commonest values in view, grey for the rest; dimmed: left out by filters.
  const MAP_COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
    '#e377c2', '#17becf', '#bcbd22', '#393b79', '#ad494a', '#637939', '#7b4173', '#e7969c',
    '#8c6d31', '#6baed6'];
  // Grey and pale on the panel's colour: light and dark schemes (style.css's --panel).
  const dark = window.matchMedia('(prefers-color-scheme: dark)');
  const MAP_GREY_OF = { light: '#a9a9a9', dark: '#7a7a82' };
  const MAP_DIM_OF = { light: '#d4d4d4', dark: '#3a3a40' };
  let MAP_GREY = MAP_GREY_OF.light, MAP_DIM = MAP_DIM_OF.light, MAP_INK = '#111';
  function scheme() {
    const s = dark.matches ? 'dark' : 'light';
    MAP_GREY = MAP_GREY_OF[s]; MAP_DIM = MAP_DIM_OF[s]; MAP_INK = dark.matches ? '#ececf0' : '#111';
  }
  // Colour levels, finest first: the first whose 16 commonest values cover COVER of the dots in
  // view is used (articleType when zoomed in, subCategory or masterCategory when zoomed out).
  const LEVELS = [['articleType', 'type'], ['subCategory', 'subcategory'], ['masterCategory', 'category']];
  const COVER = 0.9;
  const FILTER_FIELDS = ['gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season', 'usage'];

  // The per-point values of a field: {values, of} (articleType comes as types/type).
  function column(body, f) {
    if (f === 'articleType') return { values: body.types, of: body.type };
    return (body.fields && body.fields[f]) || null;
  }

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

  // m.match[i] = 1 when point i passes every filter of params (all 1 without filters).
  function mapFilter(params) {
    const m = state.map, body = m.body;
    const match = new Uint8Array(body.count).fill(1);
    const active = [];
    for (const f of FILTER_FIELDS) {
      const v = params.get(f);
      if (!v) continue;
      active.push(v);
      const col = column(body, f);
      const vi = col ? col.values.indexOf(v) : -1;
      for (let i = 0; i < body.count; i++) if (vi < 0 || col.of[i] !== vi) match[i] = 0;
    }
    let n = 0;
    for (let i = 0; i < body.count; i++) n += match[i];
    m.match = match; m.matched = n; m.filters = active;
  }

  const inView = (m, i, w, hgt) => {
    const { s, tx, ty } = m.view;
    const px = s * m.body.xy[2 * i] + tx, py = s * m.body.xy[2 * i + 1] + ty;
    return px >= 0 && py >= 0 && px <= w && py <= hgt;
  };

  // Picks the colour level for the dots in view that pass the filters, and gives the 16
  // commonest values colours; a value keeps its colour while it stays among them (no flicker
  // when panning). Sets m.colour (palette index per point, -1 grey) and m.legend.
  function mapColours(w, hgt) {
    const m = state.map, body = m.body;
    let seen = 0;
    const vis = new Uint8Array(body.count);
    for (let i = 0; i < body.count; i++) if (m.match[i] && inView(m, i, w, hgt)) { vis[i] = 1; seen++; }
    let pick = null;
    for (const [f, word] of LEVELS) {
      const col = column(body, f);
      if (!col) continue;
      const counts = new Array(col.values.length).fill(0);
      for (let i = 0; i < body.count; i++) if (vis[i] && col.of[i] >= 0) counts[col.of[i]]++;
      const top = counts.map((c, v) => [c, v]).filter((x) => x[0] > 0).sort((a, b) => b[0] - a[0])
        .slice(0, MAP_COLOURS.length);
      const covered = top.reduce((a, x) => a + x[0], 0);
      pick = { f, word, col, top, covered };
      if (covered >= COVER * seen) break;
    }
    const colour = new Int8Array(body.count).fill(-1);
    if (!pick) { m.colour = colour; m.legend = null; return; }
    const keep = m.colourOf && m.colourOf.f === pick.f ? m.colourOf.map : new Map();
    const map = new Map();
    const topSet = new Set(pick.top.map((x) => x[1]));
    for (const [v, c] of keep) if (topSet.has(v)) map.set(v, c);
    const free = MAP_COLOURS.map((_, c) => c).filter((c) => ![...map.values()].includes(c));
    for (const [, v] of pick.top) if (!map.has(v)) map.set(v, free.shift());
    m.colourOf = { f: pick.f, map };
    for (let i = 0; i < body.count; i++) {
      const v = pick.col.of[i];
      if (v >= 0 && map.has(v)) colour[i] = map.get(v);
    }
    m.colour = colour;
    m.legend = {
      word: pick.word, seen,
      items: pick.top.map(([c, v]) => ({ name: pick.col.values[v], count: c, colour: MAP_COLOURS[map.get(v)] })),
      other: seen - pick.covered,
      dimmed: body.count - m.matched,
    };
  }

  function mapLegendShow() {
    const m = state.map, L = m.legend;
    const key = L ? JSON.stringify(L) + MAP_GREY : '';
    if (key === m.legendKey) return;
    m.legendKey = key;
    if (!L) { ui.mapLegend.replaceChildren(); el.legendTitle.textContent = ''; return; }
    const items = L.items.map((x) => h('li', {}, h('i', { style: 'background:' + x.colour }), `${x.name} (${fmtInt(x.count)})`));
    if (L.other) items.push(h('li', {}, h('i', { style: 'background:' + MAP_GREY }), `other (${fmtInt(L.other)})`));
    if (L.dimmed) items.push(h('li', { class: 'dim' }, h('i', { style: 'background:' + MAP_DIM }), `not matching the filters (${fmtInt(L.dimmed)})`));
    ui.mapLegend.replaceChildren(...items);
    el.legendTitle.textContent = `Colours by ${L.word}, for the ${fmtInt(L.seen)} products in view` +
      (m.filters.length ? ' that match the filters' : '');
    ui.mapLegend.setAttribute('aria-label', 'Colours by ' + L.word);
  }

  function mapDraw() {
    const m = state.map;
    if (!m || ui.mapView.hidden) return;
    const { w, h: hgt, dpr } = mapSize();
    scheme();
    mapColours(w, hgt);
    mapLegendShow();
    const ctx = ui.mapCanvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const { s, tx, ty } = m.view;
    ui.mapCanvas.dataset.view = [s, tx, ty].map((x) => x.toFixed(3)).join(' '); // the camera, for tests
    const xy = m.body.xy, colour = m.colour, match = m.match;
    const base = m.body.count < 1000 ? 5 : m.body.count < 10000 ? 3 : 2; // px at the fitted zoom
    const r = Math.min(9, base * (1 + 0.4 * Math.log2(Math.max(1, s / m.fitScale))));
    for (const pass of [0, 1, 2]) { // dimmed, then grey, then coloured on top
      ctx.globalAlpha = pass === 0 ? 0.5 : 0.75;
      for (let i = 0; i < m.body.count; i++) {
        const p = !match[i] ? 0 : colour[i] < 0 ? 1 : 2;
        if (p !== pass) continue;
        const px = s * xy[2 * i] + tx, py = s * xy[2 * i + 1] + ty;
        if (px < -r || py < -r || px > w + r || py > hgt + r) continue;
        ctx.fillStyle = pass === 0 ? MAP_DIM : pass === 1 ? MAP_GREY : MAP_COLOURS[colour[i]];
        ctx.fillRect(px - r / 2, py - r / 2, r, r);
      }
    }
    ctx.globalAlpha = 1;
    if (m.hover >= 0) {
      const px = s * xy[2 * m.hover] + tx, py = s * xy[2 * m.hover + 1] + ty;
      ctx.strokeStyle = MAP_INK; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(px, py, r + 3, 0, 2 * Math.PI); ctx.stroke();
    }
    if (m.keys) { // the keyboard's aim: the centre
      ctx.strokeStyle = '#e11d48'; ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(w / 2 - 9, hgt / 2); ctx.lineTo(w / 2 + 9, hgt / 2);
      ctx.moveTo(w / 2, hgt / 2 - 9); ctx.lineTo(w / 2, hgt / 2 + 9); ctx.stroke();
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

  // Index of the point nearest to canvas position (cx, cy) within sqrt(max2) px, or -1; one
  // that passes the filters when there is one that close.
  function mapPick(cx, cy, max2 = 100) {
    const m = state.map;
    const { s, tx, ty } = m.view;
    const xy = m.body.xy;
    let best = -1, bd = max2, dim = -1, dd = max2;
    for (let i = 0; i < m.body.count; i++) {
      const dx = s * xy[2 * i] + tx - cx, dy = s * xy[2 * i + 1] + ty - cy;
      const d = dx * dx + dy * dy;
      if (m.match[i]) { if (d < bd) { bd = d; best = i; } } else if (d < dd) { dd = d; dim = i; }
    }
    return best >= 0 ? best : dim;
  }

  function mapZoom(f, cx, cy) {
    const v = state.map.view;
    const s = Math.max(state.map.fitScale / 2, Math.min(state.map.fitScale * 400, v.s * f));
    f = s / v.s;
    v.tx = cx - f * (cx - v.tx); v.ty = cy - f * (cy - v.ty); v.s = s;
  }

  const itemLink = (id) => {
    const p = new URLSearchParams();
    for (const f of FILTER_FIELDS) { const v = state.map.params && state.map.params.get(f); if (v) p.set(f, v); }
    const qs = p.toString();
    return '#/item/' + id + (qs ? '?' + qs : '');
  };

  // Shows point i's card beside canvas position (cx, cy), or hides it (i < 0); redraws.
  function mapHover(i, cx, cy, force) {
    const m = state.map;
    if (m.hover === i && !force) {
      if (i >= 0) place(cx, cy);
      return;
    }
    m.hover = i;
    ui.mapCanvas.classList.toggle('over', i >= 0);
    if (i < 0) { ui.mapTip.hidden = true; mapDraw(); return; }
    const id = m.body.ids[i];
    if (ui.mapTip.dataset.id !== String(id)) {
      ui.mapTipPhoto.src = '/photos/' + id;
      ui.mapTipName.textContent = m.body.names[i] || 'Product ' + id;
      ui.mapTip.dataset.id = String(id);
    }
    place(cx, cy);
    ui.mapTip.hidden = false;
    mapDraw();
  }

  function place(cx, cy) {
    const { w, h: hgt } = mapSize();
    ui.mapTip.style.left = (cx + 160 > w ? Math.max(4, cx - 160) : cx + 14) + 'px';
    ui.mapTip.style.top = Math.max(4, Math.min(hgt - 200, cy - 60)) + 'px';
  }

  // The keyboard's product: the one nearest the centre; its card shows and is announced.
  function mapAim() {
    const m = state.map;
    const { w, h: hgt } = mapSize();
    const i = mapPick(w / 2, hgt / 2, Infinity);
    mapHover(i, w / 2, hgt / 2, true);
    if (i < 0) return;
    const name = m.body.names[i] || 'Product ' + m.body.ids[i];
    const t = m.body.type[i] >= 0 ? m.body.types[m.body.type[i]] : '';
    el.live.textContent = `Nearest: ${name}${t ? ', ' + t : ''}${m.match[i] ? '' : ' (not matching the filters)'}. Enter opens it.`;
  }

  (function mapEvents() {
    const c = ui.mapCanvas;
    const pts = new Map(); // pointerId -> {x, y} of the pointers down (two: a pinch)
    let drag = null, pinch = null;
    const at = (e) => { const b = c.getBoundingClientRect(); return [e.clientX - b.left, e.clientY - b.top]; };
    const pinchStart = () => {
      const [a, b] = [...pts.values()];
      const v = state.map.view;
      const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
      pinch = { d: Math.hypot(a.x - b.x, a.y - b.y) || 1, s: v.s, wx: (mx - v.tx) / v.s, wy: (my - v.ty) / v.s };
      drag = null;
    };
    c.addEventListener('pointerdown', (e) => {
      if (!state.map) return;
      const [x, y] = at(e);
      pts.set(e.pointerId, { x, y });
      c.setPointerCapture(e.pointerId);
      if (pts.size === 2) { pinchStart(); return; }
      if (pts.size > 2) return;
      drag = { x, y, tx: state.map.view.tx, ty: state.map.view.ty, moved: false };
    });
    c.addEventListener('pointermove', (e) => {
      if (!state.map) return;
      const [x, y] = at(e);
      if (pts.has(e.pointerId)) pts.set(e.pointerId, { x, y });
      if (pinch && pts.size === 2) { // zoom by the fingers' spread, about their midpoint
        const [a, b] = [...pts.values()];
        const v = state.map.view, m = state.map;
        const s = Math.max(m.fitScale / 2, Math.min(m.fitScale * 400, pinch.s * Math.hypot(a.x - b.x, a.y - b.y) / pinch.d));
        v.s = s; v.tx = (a.x + b.x) / 2 - pinch.wx * s; v.ty = (a.y + b.y) / 2 - pinch.wy * s;
        ui.mapTip.hidden = true; state.map.hover = -1;
        mapDraw();
        return;
      }
      if (drag) {
        if (Math.abs(x - drag.x) + Math.abs(y - drag.y) > 3) { drag.moved = true; c.classList.add('dragging'); }
        if (drag.moved) {
          state.map.view.tx = drag.tx + x - drag.x; state.map.view.ty = drag.ty + y - drag.y;
          mapHover(-1); return;
        }
      }
      if (!pinch) mapHover(mapPick(x, y), x, y);
    });
    const up = (e, open) => {
      pts.delete(e.pointerId);
      if (!state.map) return;
      if (pinch) { if (pts.size < 2) pinch = null; drag = null; c.classList.remove('dragging'); return; }
      if (!drag) return;
      const moved = drag.moved;
      drag = null;
      c.classList.remove('dragging');
      if (moved || !open) return;
      const [x, y] = at(e);
      const i = mapPick(x, y);
      if (i >= 0) go(itemLink(state.map.body.ids[i]));
    };
    c.addEventListener('pointerup', (e) => up(e, true));
    c.addEventListener('pointercancel', (e) => up(e, false));
    c.addEventListener('pointerleave', (e) => { if (state.map && !drag && !pinch && e.pointerType === 'mouse') mapHover(-1); });
    c.addEventListener('wheel', (e) => {
      if (!state.map) return;
      e.preventDefault();
      const [x, y] = at(e);
      mapZoom(Math.exp(-e.deltaY * 0.0015), x, y);
      mapHover(mapPick(x, y), x, y, true); // the dot now under the pointer, not the one before the zoom
    }, { passive: false });
    c.addEventListener('keydown', (e) => {
      const m = state.map;
      if (!m || e.altKey || e.ctrlKey || e.metaKey) return;
      const { w, h: hgt } = mapSize();
      const step = Math.max(20, Math.min(w, hgt) / 8);
      const k = e.key;
      if (k === 'ArrowLeft') m.view.tx += step;
      else if (k === 'ArrowRight') m.view.tx -= step;
      else if (k === 'ArrowUp') m.view.ty += step;
      else if (k === 'ArrowDown') m.view.ty -= step;
      else if (k === '+' || k === '=') mapZoom(1.6, w / 2, hgt / 2);
      else if (k === '-' || k === '_') mapZoom(1 / 1.6, w / 2, hgt / 2);
      else if (k === '0') mapFit();
      else if (k === 'Enter') {
        const i = m.hover >= 0 ? m.hover : mapPick(w / 2, hgt / 2, Infinity);
        if (i >= 0) go(itemLink(m.body.ids[i]));
      } else return;
      e.preventDefault();
      m.keys = true;
      if (k !== 'Enter') mapAim();
    });
    c.addEventListener('focus', () => {
      if (!state.map || !c.matches(':focus-visible')) return;
      state.map.keys = true; mapAim();
    });
    c.addEventListener('blur', () => { if (state.map && state.map.keys) { state.map.keys = false; mapHover(-1); } });
    const centre = () => { const { w, h: hgt } = mapSize(); return [w / 2, hgt / 2]; };
    ui.mapIn.addEventListener('click', () => { if (state.map) { mapZoom(1.6, ...centre()); mapDraw(); } });
    ui.mapOut.addEventListener('click', () => { if (state.map) { mapZoom(1 / 1.6, ...centre()); mapDraw(); } });
    ui.mapFit.addEventListener('click', () => { if (state.map) { mapFit(); mapDraw(); } });
    window.addEventListener('resize', () => mapDraw());
  })();

  function hideMap() {
    ui.mapView.hidden = true;
    ui.mapTip.hidden = true;
  }

  function noMap() {
    el.frame.hidden = true;
    ui.mapLegend.replaceChildren();
    el.legendTitle.textContent = '';
    ui.mapHint.replaceChildren('The catalog map is not available yet. ',
      h('a', { href: '#/', text: 'Search with a photo' }), ' or browse the products instead.');
    ui.mapHint.hidden = false;
    ui.status.textContent = '';
  }

  async function showMap(params) {
    const entering = ui.mapView.hidden;
    const signal = newRequest();
    ui.detail.hidden = true;
    ui.query.hidden = false;
    ui.intro.hidden = true;
    ui.grid.replaceChildren();
    ui.more.hidden = true;
    ui.title.textContent = 'Catalog map';
    document.title = 'Map — lookalike';
    ui.mapView.hidden = false;
    ui.mapHint.hidden = true;
    el.frame.hidden = false;
    if (entering) { // on a phone the map sits below the photo and filters: bring it up
      const top = document.querySelector('header.top');
      const stuck = top && getComputedStyle(top).position === 'sticky' ? top.offsetHeight : 0;
      window.scrollTo({ top: Math.max(0, ui.title.getBoundingClientRect().top + window.scrollY - stuck - 8) });
      ui.mapCanvas.focus({ preventScroll: true });
    }
    setBusy(true, 'Loading the map…');
    try {
      const body = await cached('map', () => api('/api/map', { signal }));
      if (signal.aborted) return;
      setBusy(false);
      const old = state.map;
      if (!old || old.body !== body) {
        let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
        for (let i = 0; i < body.count; i++) {
          const x = body.xy[2 * i], y = body.xy[2 * i + 1];
          if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
        }
        const index = new Map();
        body.ids.forEach((id, i) => index.set(id, i));
        state.map = { body, index, bounds: { x0, x1, y0, y1 }, hover: -1, keys: false };
        if (old && old.body.count === body.count && old.body.recipe_id === body.recipe_id) { // same map: same camera
          state.map.view = old.view; state.map.fitScale = old.fitScale;
        } else {
          mapFit();
          state.map.fitScale = state.map.view.s;
        }
      }
      const m = state.map;
      m.params = params;
      mapFilter(params);
      ui.mapCanvas.dataset.points = String(body.count);
      ui.mapCanvas.dataset.matched = String(m.matched);
      const q = mapQuery();
      ui.status.textContent = (m.filters.length ? `${fmtInt(m.matched)} of ${fmtInt(body.count)} products match the filters`
        : `${fmtInt(body.count)} products`) + ', similar-looking ones close together' +
        (q ? ' · the ring marks your photo' : '') + (body.stale ? ' · made before the catalog last changed' : '');
      ui.status.title = 'Drag to pan, scroll, pinch or +/− to zoom, hover for the product, click to open it';
      el.desc.textContent = `A map of ${fmtInt(body.count)} products where similar-looking ones sit close together` +
        (m.filters.length ? `; ${fmtInt(m.matched)} match the filters (${m.filters.join(', ')}), the others are pale` : '') +
        '. Arrow keys move, plus and minus zoom, 0 shows everything, Enter opens the product nearest the centre.';
      if (document.activeElement === ui.mapCanvas && ui.mapCanvas.matches(':focus-visible')) m.keys = true; // came by keyboard
      mapDraw();
      if (m.keys) mapAim();
    } catch (e) {
      if (e.name === 'AbortError') return;
      setBusy(false, '');
      state.cache.delete('map');
      if (e.status === 404) noMap();
      else { ui.mapLegend.replaceChildren(); showError(e); }
    }
  }

  return { show: showMap, hide: hideMap };
};
