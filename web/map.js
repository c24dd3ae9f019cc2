/* web/map.js — the catalog map view of the search page (#/map): GET /api/map drawn on a
 * canvas with pan, zoom, hover and click, and the last photo's place marked. web/app.js
 * creates it with lookalikeMap(page) (its ui, state and helpers) and calls show() and hide()
 * from its router; this file only talks to the JSON API of docs/API.md. */
'use strict';

window.lookalikeMap = (page) => {
  const { ui, state, h, api, cached, go, setBusy, showError, newRequest, fmtInt } = page;

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

  return { show: showMap, hide: hideMap };
};
