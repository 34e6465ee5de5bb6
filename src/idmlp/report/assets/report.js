/* idmlp interactive report: every view is drawn from the JSON embedded in the page.
 * Nothing is fetched; the arrays are zlib-compressed 8-bit codes in base64, decoded with
 * DecompressionStream. Sets <html data-ready="1"> when every view is drawn. */
(function () {
  "use strict";

  // -- small helpers -------------------------------------------------------------------
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const pct = (p, d) => (100 * p).toFixed(d === undefined ? 1 : d) + "%";
  function decimals(lo, hi) {  // as idmlp.report.stats.percent_decimals
    const hw = 100 * Math.abs(hi - lo) / 2;
    if (!(hw > 0) || !isFinite(hw)) return 1;
    return Math.min(3, Math.max(0, 1 - Math.floor(Math.log10(hw))));
  }
  const pctCI = (p, lo, hi) => {
    const d = decimals(lo, hi);
    return pct(p, d) + " (" + (100 * lo).toFixed(d) + "–" + (100 * hi).toFixed(d) + ")";
  };
  const OK = "#009E73", BAD = "#D55E00";  // Okabe-Ito bluish green and vermillion
  const LINE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"];
  const DASH = ["", "6 4", "2 3", "8 3 2 3", "1 2", "10 4", "4 2"];
  const MARK = ["circle", "square", "triangle", "diamond", "circle", "square", "triangle"];
  const mark = (ok) => ok ? '<span class="mark ok" aria-label="right">✓</span>'
                          : '<span class="mark bad" aria-label="wrong">✗</span>';

  function lut(stops) {  // 256 RGB entries interpolated between hex stops
    const rgb = stops.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
    const out = new Uint8Array(256 * 3);
    for (let q = 0; q < 256; q++) {
      const t = q / 255 * (rgb.length - 1), i = Math.min(rgb.length - 2, Math.floor(t));
      const f = t - i;
      for (let c = 0; c < 3; c++) out[3 * q + c] = Math.round(rgb[i][c] * (1 - f) + rgb[i + 1][c] * f);
    }
    return out;
  }
  // ColorBrewer RdBu (reversed: blue = negative, red = positive), colour-blind safe.
  const DIVERGING = lut(["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
                         "#fddbc7", "#f4a582", "#d6604d", "#b2182b"]);
  // ColorBrewer Blues, sequential, for probabilities.
  const BLUES = lut(["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6",
                     "#2171b5", "#08519c", "#08306b"]);
  // ColorBrewer Purples, sequential, for maps that are never negative.
  const PURPLES = lut(["#fcfbfd", "#efedf5", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba",
                       "#6a51a3", "#54278f", "#3f007d"]);
  const rgbOf = (table, q) => "rgb(" + table[3 * q] + "," + table[3 * q + 1] + "," + table[3 * q + 2] + ")";
  // map codes: 128 + 4k for k in -31..31 span [-v, v] (idmlp.report.data.MAP_LEVELS)
  const divCode = (q) => Math.max(0, Math.min(255, Math.round((q - 4) * 255 / 248)));

  // -- data ----------------------------------------------------------------------------
  function bytesOf(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  async function decode(blob) {
    if (!blob) return null;
    const raw = await inflate(bytesOf(blob.b64));
    const size = blob.shape.reduce((a, b) => a * b, 1);
    let q;
    if (blob.dtype === "u1") q = raw;
    else if (blob.dtype === "u2") q = new Uint16Array(raw.buffer, raw.byteOffset, size);
    else q = new Uint32Array(raw.buffer, raw.byteOffset, size);
    if (blob.delta !== null && blob.delta !== undefined) {  // cumulative sum, modulo 256
      const shape = blob.shape, ax = blob.delta;
      const outer = shape.slice(0, ax).reduce((a, b) => a * b, 1);
      const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1), n = shape[ax];
      for (let o = 0; o < outer; o++) {
        for (let i = 1; i < n; i++) {
          const cur = (o * n + i) * inner, prev = cur - inner;
          for (let p = 0; p < inner; p++) q[cur + p] = (q[cur + p] + q[prev + p]) & 255;
        }
      }
    }
    return { q: q, shape: blob.shape, scale: blob.scale, offset: blob.offset };
  }

  // -- drawing -------------------------------------------------------------------------
  function paint(canvas, h, w, codes, start, color) {
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h), px = img.data;
    for (let p = 0; p < h * w; p++) {
      const c = color(codes[start + p]);
      px[4 * p] = c[0]; px[4 * p + 1] = c[1]; px[4 * p + 2] = c[2]; px[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  const grey = (q) => { const v = 255 - q; return [v, v, v]; };
  const diverging = (q) => { const i = 3 * divCode(q); return [DIVERGING[i], DIVERGING[i + 1], DIVERGING[i + 2]]; };
  // sequential codes: 4k for k in 0..63 span [0, v]
  const sequential = (q) => { const i = 3 * Math.min(255, Math.round(q * 255 / 252)); return [PURPLES[i], PURPLES[i + 1], PURPLES[i + 2]]; };
  const colourOf = (meta) => (meta.kind === "sequential" ? sequential : diverging);
  const wordsOf = (meta) => (meta.kind === "sequential" ? "dark purple where " + meta.signs[1] + ", white near zero"
    : "red where " + meta.signs[1] + ", blue where " + meta.signs[0] + ", white near zero");
  function pixelCanvas(cls, label, h, w) {
    const c = document.createElement("canvas");
    c.className = "px " + (cls || "");
    c.setAttribute("role", "img");
    c.setAttribute("aria-label", label);
    c.width = w; c.height = h;
    c.style.aspectRatio = h === 1 ? "" : w + " / " + h;
    if (h === 1) c.style.height = "18px";
    return c;
  }
  function colourBar(el, meta, what) {
    el.innerHTML = "";
    const vmax = meta.vmax, signs = meta.signs, seq = meta.kind === "sequential";
    const c = document.createElement("canvas");
    c.width = 255; c.height = 1;
    c.setAttribute("role", "img");
    c.setAttribute("aria-label", seq ? "Colour scale of " + what + ": white for zero to dark purple for " + vmax.toPrecision(2) + " (" + signs[1] + ")"
      : "Colour scale of " + what + ": blue for negative values (" + signs[0] + ") down to −" +
      vmax.toPrecision(2) + ", white for zero, red for positive values (" + signs[1] + ") up to +" + vmax.toPrecision(2));
    const codes = new Uint8Array(255);
    for (let i = 0; i < 255; i++) codes[i] = seq ? Math.round(i * 252 / 254) : 4 + Math.round(i * 248 / 254);
    paint(c, 1, 255, codes, 0, seq ? sequential : diverging);
    const lo = document.createElement("span"), hi = document.createElement("span");
    lo.textContent = seq ? "0" : "−" + vmax.toPrecision(2) + " (" + signs[0] + ")";
    hi.textContent = "+" + vmax.toPrecision(2) + " (" + signs[1] + ")";
    el.append(lo, c, hi);
  }

  // a line chart as SVG markup; series: {label, y[], lo[], hi[], color, dash, marker}
  function lineChart(opts) {
    const W = opts.width || 640, H = opts.height || 280, m = { l: 48, r: 12, t: 12, b: 40 };
    const xs = opts.x, x0 = xs[0], x1 = xs[xs.length - 1];
    const span = x1 > x0 ? x1 - x0 : 1;
    const X = (v) => m.l + (xs.length > 1 ? (v - x0) / span : 0.5) * (W - m.l - m.r);
    const [y0, y1] = opts.ylim;
    const Y = (v) => m.t + (1 - (v - y0) / (y1 - y0)) * (H - m.t - m.b);
    let s = '<svg viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="' + esc(opts.alt) + '">';
    s += '<g class="grid">';
    for (const t of opts.yticks) s += '<line x1="' + m.l + '" x2="' + (W - m.r) + '" y1="' + Y(t) + '" y2="' + Y(t) + '"/>';
    s += '</g><g class="axis">';
    s += '<line x1="' + m.l + '" x2="' + m.l + '" y1="' + m.t + '" y2="' + (H - m.b) + '"/>';
    s += '<line x1="' + m.l + '" x2="' + (W - m.r) + '" y1="' + (H - m.b) + '" y2="' + (H - m.b) + '"/>';
    for (const t of opts.yticks) s += '<text x="' + (m.l - 6) + '" y="' + (Y(t) + 4) + '" text-anchor="end">' + esc(opts.yfmt(t)) + "</text>";
    const every = Math.max(1, Math.ceil(xs.length / 10));
    xs.forEach((v, i) => {
      if (i % every === 0 || i === xs.length - 1) s += '<text x="' + X(v) + '" y="' + (H - m.b + 16) + '" text-anchor="middle">' + v + "</text>";
    });
    s += '<text x="' + ((m.l + W - m.r) / 2) + '" y="' + (H - 4) + '" text-anchor="middle">' + esc(opts.xlabel) + "</text>";
    s += "</g>";
    if (opts.hline !== undefined) s += '<line x1="' + m.l + '" x2="' + (W - m.r) + '" y1="' + Y(opts.hline) + '" y2="' + Y(opts.hline) + '" stroke="#666" stroke-dasharray="2 4" stroke-width="1.5"/>';
    if (opts.highlight) s += '<line id="' + opts.highlight + '" x1="0" x2="0" y1="' + m.t + '" y2="' + (H - m.b) + '" stroke="#222" stroke-width="1.5" stroke-dasharray="4 3" visibility="hidden"/>';
    opts.series.forEach((se) => {
      const pts = xs.map((v, i) => [v, se.y[i]]).filter((p) => p[1] !== null && isFinite(p[1]));
      if (se.lo && se.hi) {
        const up = xs.map((v, i) => [v, se.hi[i]]).filter((p) => p[1] !== null);
        const dn = xs.map((v, i) => [v, se.lo[i]]).filter((p) => p[1] !== null).reverse();
        if (up.length > 1) s += '<path d="M' + up.concat(dn).map((p) => X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1)).join("L") + 'Z" fill="' + se.color + '" fill-opacity="0.18" stroke="none"/>';
        else if (up.length === 1) s += '<line x1="' + X(up[0][0]) + '" x2="' + X(up[0][0]) + '" y1="' + Y(up[0][1]) + '" y2="' + Y(dn[0][1]) + '" stroke="' + se.color + '" stroke-width="3" stroke-opacity="0.4"/>';
      }
      if (pts.length > 1) s += '<polyline fill="none" stroke="' + se.color + '" stroke-width="2" stroke-dasharray="' + se.dash + '" points="' + pts.map((p) => X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1)).join(" ") + '"/>';
      const step = Math.max(1, Math.ceil(pts.length / 25));
      pts.forEach((p, i) => { if (i % step === 0 || i === pts.length - 1) s += marker(se.marker, X(p[0]), Y(p[1]), 3.5, se.color); });
    });
    if (opts.highlight) s += '<g id="' + opts.highlight + '-pts"></g>';
    s += "</svg>";
    return { svg: s, X: X, Y: Y, m: m, W: W, H: H };
  }
  function marker(kind, x, y, r, color, extra) {
    const a = ' fill="' + color + '" stroke="#fff" stroke-width="1" ' + (extra || "");
    if (kind === "square") return '<rect x="' + (x - r) + '" y="' + (y - r) + '" width="' + 2 * r + '" height="' + 2 * r + '"' + a + "/>";
    if (kind === "triangle") return '<path d="M' + x + "," + (y - r * 1.2) + "L" + (x + r * 1.1) + "," + (y + r * 0.8) + "L" + (x - r * 1.1) + "," + (y + r * 0.8) + 'Z"' + a + "/>";
    if (kind === "diamond") return '<path d="M' + x + "," + (y - r * 1.3) + "L" + (x + r) + "," + y + "L" + x + "," + (y + r * 1.3) + "L" + (x - r) + "," + y + 'Z"' + a + "/>";
    return '<circle cx="' + x + '" cy="' + y + '" r="' + r + '"' + a + "/>";
  }
  function legend(el, series, extra) {
    el.innerHTML = series.map((se) => '<span><svg width="34" height="12" aria-hidden="true"><line x1="1" x2="33" y1="6" y2="6" stroke="' + se.color +
      '" stroke-width="2" stroke-dasharray="' + se.dash + '"/>' + marker(se.marker, 17, 6, 3.5, se.color) + "</svg>" + esc(se.label) + "</span>").join("") + (extra || "");
  }

  // -- the lightbox for static figures -------------------------------------------------
  function initLightbox() {
    const buttons = $$("button.zoom");
    if (!buttons.length || typeof HTMLDialogElement === "undefined") return;
    const dlg = document.createElement("dialog");
    dlg.id = "lightbox";
    dlg.setAttribute("aria-label", "Figure at full size");
    dlg.innerHTML = '<div class="lb-bar"><button type="button" class="lb-close">Close ✕</button></div><div class="lb-body"></div>';
    document.body.appendChild(dlg);
    const body = $(".lb-body", dlg);
    $(".lb-close", dlg).addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => { body.innerHTML = ""; });
    dlg.addEventListener("click", (e) => { if (e.target === dlg || e.target === body) dlg.close(); });
    buttons.forEach((b) => b.addEventListener("click", () => {
      const src = $("img", b);
      const img = document.createElement("img");
      img.src = src.src;
      img.alt = src.alt;
      body.innerHTML = "";
      body.appendChild(img);
      dlg.showModal();
    }));
  }

  // -- the interactive views -----------------------------------------------------------
  async function initViews(D) {
    const M = D.model, L = M.L, C = M.C, names = D.classNames;
    const shape = M.shape.length === 2 ? M.shape : [1, M.N];
    const [H, W] = shape, P = H * W;
    const E = D.examples, m = E.m;
    const [ids, labels, preds, probs, inputs] = await Promise.all(
      [E.ids, E.labels, E.preds, E.probs, E.inputs].map(decode));
    const mapSets = {};
    for (const ms of D.maps) {
      const [idx, maps, means] = await Promise.all([decode(ms.indices), decode(ms.maps), decode(ms.classMeans)]);
      const pos = new Int32Array(m).fill(-1);
      for (let j = 0; j < idx.q.length; j++) pos[idx.q[j]] = j;
      mapSets[ms.key] = { meta: ms, maps: maps, means: means, pos: pos, k: idx.q.length };
    }
    const S = { layer: L, map: D.defaultMap, filter: "all", cell: null, sel: -1, shown: 0, list: [], thumbMode: "input" };
    const PAGE = 60;
    const pred = (i, l) => preds.q[i * L + l - 1];
    const prob = (i, l, c) => probs.q[(i * L + l - 1) * C + c] / 255;
    const curMap = () => (S.map ? mapSets[S.map] : null);
    const mapStart = (ms, j, l) => (j * ms.meta.layers + Math.min(l, ms.meta.layers) - 1) * P;

    // per-layer plot
    const accSeries = [
      { label: "accuracy (95% interval)", y: D.accuracy, lo: D.accuracyLow, hi: D.accuracyHigh },
      { label: "mean p(true class)", y: D.trueClassProb },
      ...D.curves.map((c) => ({ label: c.label, y: c.values, lo: c.lower, hi: c.upper })),
    ].map((se, i) => Object.assign(se, { color: LINE[i % LINE.length], dash: DASH[i % DASH.length], marker: MARK[i % MARK.length] }));
    const layers = Array.from({ length: L }, (_, i) => i + 1);
    const accBox = $("#acc-chart");
    const fit = (box, most) => Math.max(300, Math.min(most, Math.round(box.clientWidth || most)));
    const accOpts = {
      x: layers, width: fit(accBox, 640), height: 260, ylim: [0, 1], yticks: [0, 0.25, 0.5, 0.75, 1], yfmt: (t) => pct(t, 0),
      xlabel: "layer", series: accSeries, hline: 1 / C, highlight: "acc-hl",
      alt: "Line chart against the layer, 1 to " + L + ": accuracy from " + pct(D.accuracy[0]) +
        " at layer 1 to " + pct(D.accuracy[L - 1]) + " at layer " + L + ", mean probability of the true class from " +
        D.trueClassProb[0].toFixed(2) + " to " + D.trueClassProb[L - 1].toFixed(2) + "; chance is " + pct(1 / C, 0) + ".",
    };
    let acc = lineChart(accOpts);
    accBox.innerHTML = acc.svg;
    legend($("#acc-legend"), accSeries, '<span><svg width="34" height="12" aria-hidden="true"><line x1="1" x2="33" y1="6" y2="6" stroke="#666" stroke-dasharray="2 4" stroke-width="1.5"/></svg>chance</span>');
    accBox.style.cursor = "pointer";
    accBox.addEventListener("click", (e) => {
      const r = $("svg", accBox).getBoundingClientRect(), x = (e.clientX - r.left) / r.width * acc.W;
      let best = 1;
      for (const l of layers) if (Math.abs(acc.X(l) - x) < Math.abs(acc.X(best) - x)) best = l;
      setLayer(best);
    });

    // class means
    function drawClassMaps() {
      const box = $("#class-maps-grid");
      if (!box) return;
      const ms = curMap();
      box.innerHTML = "";
      const desc = $("#map-desc");
      if (desc && ms) desc.textContent = ms.meta.title + ": " + ms.meta.description;
      const bar = $('.cbar[data-for="class"]');
      if (!ms || !ms.means) {
        box.innerHTML = '<p class="nomap">No class means for this map.</p>';
        if (bar) bar.innerHTML = "";
        return;
      }
      for (let c = 0; c < C; c++) {
        const fig = document.createElement("figure");
        const missing = ms.meta.classMissing && ms.meta.classMissing[c];
        const cv = pixelCanvas("", "Mean " + ms.meta.title + " of class " + names[c] + " at layer " + S.layer +
          (missing ? ": no example of this class" : ", " + wordsOf(ms.meta)), H, W);
        cv.dataset.layer = S.layer;
        paint(cv, H, W, ms.means.q, (c * ms.meta.layers + Math.min(S.layer, ms.meta.layers) - 1) * P, colourOf(ms.meta));
        const cap = document.createElement("figcaption");
        cap.textContent = names[c];
        fig.append(cv, cap);
        box.appendChild(fig);
      }
      if (bar) colourBar(bar, ms.meta, "the class means");
    }

    // the sample browser
    const filterSel = $("#sb-filter");
    function filterOptions() {
      let o = '<option value="all">all ' + m + " examples</option>" +
        '<option value="err-last">misclassified by the last layer</option>' +
        '<option value="err-layer">misclassified by the chosen layer</option>';
      if (S.map) o += '<option value="has-map">examples with maps embedded</option>';
      for (let c = 0; c < C; c++) o += '<option value="class:' + c + '">true class ' + esc(names[c]) + "</option>";
      if (S.cell) o += '<option value="cell">true ' + esc(names[S.cell[0]]) + ", predicted " + esc(names[S.cell[1]]) + " (last layer)</option>";
      filterSel.innerHTML = o;
      filterSel.value = S.filter;
    }
    function applyFilter() {
      const out = [], f = S.filter;
      for (let i = 0; i < m; i++) {
        let keep = true;
        if (f === "err-last") keep = pred(i, L) !== labels.q[i];
        else if (f === "err-layer") keep = pred(i, S.layer) !== labels.q[i];
        else if (f === "has-map") keep = curMap() && curMap().pos[i] >= 0;
        else if (f === "cell") keep = labels.q[i] === S.cell[0] && pred(i, L) === S.cell[1];
        else if (f.startsWith("class:")) keep = labels.q[i] === +f.slice(6);
        if (keep) out.push(i);
      }
      S.list = out;
      S.shown = Math.min(PAGE, out.length);
      if (out.length && out.indexOf(S.sel) < 0) S.sel = out[0];
      if (!out.length) S.sel = -1;
      const what = { all: "all embedded examples", "err-last": "misclassified by the last layer (layer " + L + ")",
        "err-layer": "misclassified by layer " + S.layer, "has-map": "examples with maps embedded" }[f] ||
        (f === "cell" ? "true class " + names[S.cell[0]] + ", predicted " + names[S.cell[1]] + " by the last layer" :
          "true class " + names[+f.slice(6)]);
      const cnt = $("#sb-count");
      cnt.textContent = out.length + (out.length === 1 ? " example: " : " examples: ") + what + ". Marks: the prediction of layer " + S.layer + ".";
      cnt.dataset.count = out.length;
      drawThumbs();
      drawDetail();
    }
    function thumbLabel(i) {
      const p = pred(i, S.layer), ok = p === labels.q[i];
      return "Example #" + ids.q[i] + ", true class " + names[labels.q[i]] + ", layer " + S.layer + " predicts " + names[p] + (ok ? " (right)" : " (wrong)");
    }
    function drawThumb(btn, i) {
      const cv = $("canvas", btn), ms = curMap();
      const p = pred(i, S.layer), ok = p === labels.q[i];
      if (S.thumbMode === "map" && ms) {
        const j = ms.pos[i];
        if (j >= 0) {
          paint(cv, H, W, ms.maps.q, mapStart(ms, j, S.layer), colourOf(ms.meta));
          cv.setAttribute("aria-label", ms.meta.title + " of example #" + ids.q[i] + " at layer " + S.layer);
        } else {
          const ctx = cv.getContext("2d");
          ctx.fillStyle = "#eee"; ctx.fillRect(0, 0, W, H);
          cv.setAttribute("aria-label", "No map embedded for example #" + ids.q[i]);
        }
      } else {
        paint(cv, H, W, inputs.q, i * P, grey);
        cv.setAttribute("aria-label", "Input of example #" + ids.q[i] + ", true class " + names[labels.q[i]]);
      }
      cv.dataset.layer = S.layer;
      $(".tl", btn).innerHTML = esc(names[labels.q[i]]) + (ok ? "" : "→" + esc(names[p])) + " " + mark(ok);
      btn.setAttribute("aria-label", thumbLabel(i));
      btn.title = thumbLabel(i);
    }
    function drawThumbs() {
      const box = $("#sb-thumbs");
      box.innerHTML = "";
      for (const i of S.list.slice(0, S.shown)) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "thumb";
        b.dataset.pos = i;
        b.dataset.id = ids.q[i];
        b.setAttribute("role", "listitem");
        b.setAttribute("aria-pressed", String(i === S.sel));
        const cv = pixelCanvas("", "", H, W);
        const t = document.createElement("span");
        t.className = "tl";
        b.append(cv, t);
        drawThumb(b, i);
        b.addEventListener("click", () => {
          S.sel = i;
          $$(".thumb", box).forEach((x) => x.setAttribute("aria-pressed", String(+x.dataset.pos === i)));
          drawDetail();
          const r = $("#sb-detail").getBoundingClientRect();
          if (r.top < 0 || r.top > window.innerHeight) $("#sb-detail").scrollIntoView({ block: "start" });
        });
        box.appendChild(b);
      }
      const more = $("#sb-more"), rest = S.list.length - S.shown;
      more.hidden = rest <= 0;
      more.textContent = "Show " + Math.min(PAGE, rest) + " more (" + rest + " not shown)";
    }
    $("#sb-more").addEventListener("click", () => { S.shown = Math.min(S.list.length, S.shown + PAGE); drawThumbs(); });
    filterSel.addEventListener("change", () => { S.filter = filterSel.value; pressCell(null); applyFilter(); });
    $("#sb-thumb-mode").addEventListener("change", (e) => { S.thumbMode = e.target.value; $$("#sb-thumbs .thumb").forEach((b) => drawThumb(b, +b.dataset.pos)); });

    function heatMap(i) {  // layers (rows) x classes (columns), true class outlined
      const cw = 34, rh = Math.max(9, Math.min(18, Math.floor(360 / L))), left = 58, top = 34, right = 30;
      const Wd = left + C * cw + right, Hd = top + L * rh + 56, y = labels.q[i];
      const lastP = prob(i, L, pred(i, L));
      let s = '<svg viewBox="0 0 ' + Wd + " " + Hd + '" role="img" class="heat-svg" aria-label="' + esc(
        "Heat map of the class probabilities of example #" + ids.q[i] + " at every layer (rows 1 to " + L + ") for every class (columns); the true class " +
        names[y] + " is outlined. Layer 1 gives it " + prob(i, 1, y).toFixed(2) + ", layer " + L + " " + prob(i, L, y).toFixed(2) +
        "; the last layer predicts " + names[pred(i, L)] + " with " + lastP.toFixed(2) + ".") + '">';
      s += '<text x="' + (left + C * cw / 2) + '" y="11" text-anchor="middle" class="ch">predicted class</text>';
      for (let c = 0; c < C; c++) {
        const lab = names[c].length > 4 ? names[c].slice(0, 3) + "…" : names[c];
        s += '<text x="' + (left + c * cw + cw / 2) + '" y="' + (top - 6) + '" text-anchor="middle" class="ch"' + (c === y ? ' font-weight="700"' : "") + "><title>" + esc(names[c]) + "</title>" + esc(lab) + (c === y ? "▾" : "") + "</text>";
      }
      for (let l = 1; l <= L; l++) {
        const yy = top + (l - 1) * rh, p = pred(i, l);
        if (l === 1 || l === L || l % 5 === 0 || L <= 12) s += '<text x="' + (left - 6) + '" y="' + (yy + rh - 2) + '" text-anchor="end" class="ch">' + l + "</text>";
        for (let c = 0; c < C; c++) {
          const q = probs.q[(i * L + l - 1) * C + c];
          s += '<rect x="' + (left + c * cw) + '" y="' + yy + '" width="' + cw + '" height="' + rh + '" fill="' + rgbOf(BLUES, q) + '"/>';
        }
        const dark = probs.q[(i * L + l - 1) * C + p] > 150;
        s += '<circle cx="' + (left + p * cw + cw / 2) + '" cy="' + (yy + rh / 2) + '" r="' + Math.min(3.5, rh / 3) + '" fill="' + (dark ? "#fff" : "#000") + '"/>';
        s += '<text x="' + (left + C * cw + 6) + '" y="' + (yy + rh - 2) + '" class="ch" fill="' + (p === y ? OK : BAD) + '">' + (p === y ? "✓" : "✗") + "</text>";
      }
      s += '<rect x="' + (left + y * cw + 1) + '" y="' + (top + 1) + '" width="' + (cw - 2) + '" height="' + (L * rh - 2) + '" fill="none" stroke="#E69F00" stroke-width="2.5"/>';
      s += '<rect id="heat-hl" x="' + (left - 2) + '" y="' + (top + (S.layer - 1) * rh) + '" width="' + (C * cw + 4) + '" height="' + rh + '" fill="none" stroke="#000" stroke-width="2"/>';
      s += '<text x="12" y="' + (top + L * rh / 2) + '" transform="rotate(-90 12 ' + (top + L * rh / 2) + ')" text-anchor="middle" class="ch">layer</text>';
      const gy = top + L * rh + 14;
      s += '<text x="' + left + '" y="' + (gy + 10) + '" class="ch">p = 0</text>';
      for (let g = 0; g < 20; g++) s += '<rect x="' + (left + 44 + g * 6) + '" y="' + gy + '" width="6" height="12" fill="' + rgbOf(BLUES, Math.round(g * 255 / 19)) + '"/>';
      s += '<text x="' + (left + 170) + '" y="' + (gy + 10) + '" class="ch">p = 1</text>';
      s += '<text x="' + left + '" y="' + (gy + 30) + '" class="ch">● prediction · orange box: true class</text>';
      return s + "</svg>";
    }
    function detailLines(i) {
      const y = labels.q[i], pl = pred(i, S.layer), pL = pred(i, L);
      return "Layer " + S.layer + " predicts " + esc(names[pl]) + " (p = " + prob(i, S.layer, pl).toFixed(2) + ") " + mark(pl === y) +
        (S.layer !== L ? " · last layer predicts " + esc(names[pL]) + " (p = " + prob(i, L, pL).toFixed(2) + ") " + mark(pL === y) : "") +
        " · p(true class " + esc(names[y]) + ") at layer " + S.layer + ": " + prob(i, S.layer, y).toFixed(2);
    }
    function drawDetail() {
      const box = $("#sb-detail"), i = S.sel;
      box.innerHTML = "";
      box.dataset.pos = i;
      if (i < 0) { box.innerHTML = '<p class="lines">No example in this group.</p>'; return; }
      const y = labels.q[i];
      box.insertAdjacentHTML("beforeend", "<h3>Example #" + ids.q[i] + " of the " + esc(D.split) + " split: true class " + esc(names[y]) + "</h3>" +
        '<p class="lines" id="sb-lines">' + detailLines(i) + "</p>");
      const f1 = document.createElement("figure");
      const cin = pixelCanvas("", "Input of example #" + ids.q[i] + " (" + H + " × " + W + " values in grey, dark = high), true class " + names[y], H, W);
      paint(cin, H, W, inputs.q, i * P, grey);
      f1.append(cin);
      f1.insertAdjacentHTML("beforeend", "<figcaption>" + esc(D.inputTitle) + "</figcaption>");
      box.appendChild(f1);
      const f2 = document.createElement("figure");
      f2.id = "sb-map";
      const ms = curMap();
      if (ms && ms.pos[i] >= 0) {
        const cv = pixelCanvas("", "", H, W);
        cv.id = "sb-map-canvas";
        f2.append(cv);
        f2.insertAdjacentHTML("beforeend", '<figcaption id="sb-map-cap"></figcaption><div class="cbar" id="sb-cbar"></div>');
        box.appendChild(f2);
        colourBar($("#sb-cbar"), ms.meta, ms.meta.title);
        drawDetailMap();
      } else {
        f2.innerHTML = '<p class="nomap">' + (ms ? "No " + esc(ms.meta.title) + " embedded for this example: maps are embedded for " + ms.k + " of the " + m +
          " examples (the last layer's errors first, then a few of each class) to keep the file small. Choose “examples with maps embedded” to see them." :
          "This report has no maps.") + "</p>";
        box.appendChild(f2);
      }
      const f3 = document.createElement("figure");
      f3.className = "heat";
      f3.innerHTML = '<div id="sb-heat">' + heatMap(i) + "</div><figcaption>Class probabilities of every layer; the black box is the chosen layer.</figcaption>";
      box.appendChild(f3);
    }
    function drawDetailMap() {
      const cv = $("#sb-map-canvas"), ms = curMap(), i = S.sel;
      if (!cv || !ms || i < 0 || ms.pos[i] < 0) return;
      paint(cv, H, W, ms.maps.q, mapStart(ms, ms.pos[i], S.layer), colourOf(ms.meta));
      cv.dataset.layer = S.layer;
      cv.setAttribute("aria-label", ms.meta.title + " of example #" + ids.q[i] + " at layer " + S.layer + ": " + wordsOf(ms.meta));
      $("#sb-map-cap").textContent = ms.meta.title + " at layer " + S.layer;
    }

    // confusion matrix cells
    function pressCell(btn) { $$("button.cm").forEach((b) => b.setAttribute("aria-pressed", String(b === btn))); }
    $$("button.cm").forEach((b) => {
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", () => {
        S.cell = [+b.dataset.true, +b.dataset.pred];
        S.filter = "cell";
        filterOptions();
        pressCell(b);
        applyFilter();
        $("#browser").scrollIntoView({ block: "start" });
      });
    });

    // training curves
    const T = D.training;
    function niceTicks(lo, hi) {  // about 4 steps of 1, 2, 2.5 or 5 times a power of ten
      const raw = (hi - lo) / 4, p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
      const step = [1, 2, 2.5, 5, 10].map((k) => k * p).find((v) => v >= raw) || raw;
      const out = [];
      for (let v = Math.floor(lo / step) * step; v < hi + step - 1e-9; v += step) out.push(+v.toFixed(10));
      return out;
    }
    function drawTraining() {
      if (!T || !$("#train-loss")) return;
      const ep = T.epoch, last = ep.length - 1;
      const finite = (a) => a.filter((v) => v !== null && isFinite(v));
      const f3 = (v) => (v === null ? "n/a" : v.toFixed(3)), fp = (v) => (v === null ? "n/a" : pct(v));
      const ser = (label, y, i) => ({ label: label, y: y, color: LINE[i], dash: DASH[i], marker: MARK[i] });
      const ls = [ser("train", T.train_loss, 0), ser("test", T.test_loss, 1)];
      const all = finite(T.train_loss.concat(T.test_loss));
      const lt = niceTicks(0, all.length ? Math.max(...all) : 1);
      const box1 = $("#train-loss"), box2 = $("#train-acc");
      box1.innerHTML = lineChart({ x: ep, width: fit(box1, 460), height: 250, ylim: [0, lt[lt.length - 1]], yticks: lt,
        yfmt: (t) => String(t), xlabel: "epoch", series: ls,
        alt: "Line chart of the loss against the epoch, 1 to " + ep[last] + ": training loss from " + f3(T.train_loss[0]) +
          " to " + f3(T.train_loss[last]) + ", test loss from " + f3(T.test_loss[0]) + " to " + f3(T.test_loss[last]) + "." }).svg;
      const as = [ser("train", T.train_acc, 0), ser("test", T.test_acc, 1)];
      const accs = finite(T.train_acc.concat(T.test_acc));
      const lo = accs.length ? Math.max(0, Math.floor(Math.min(...accs) * 10) / 10) : 0;
      const at = niceTicks(lo, 1).filter((t) => t >= lo && t <= 1);
      box2.innerHTML = lineChart({ x: ep, width: fit(box2, 460), height: 250, ylim: [lo, 1], yticks: at, yfmt: (t) => pct(t, 0),
        xlabel: "epoch", series: as,
        alt: "Line chart of the accuracy against the epoch: training accuracy from " + fp(T.train_acc[0]) + " to " + fp(T.train_acc[last]) +
          ", test accuracy from " + fp(T.test_acc[0]) + " to " + fp(T.test_acc[last]) + "." }).svg;
      legend($("#train-legend"), ls);
    }
    drawTraining();
    let resizeTimer = 0, lastWidth = window.innerWidth;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        if (window.innerWidth === lastWidth) return;
        lastWidth = window.innerWidth;
        accOpts.width = fit(accBox, 640);
        acc = lineChart(accOpts);
        accBox.innerHTML = acc.svg;
        drawTraining();
        setLayer(S.layer);
      }, 150);
    });

    // the layer slider moves everything
    const slider = $("#layer");
    function setLayer(l) {
      S.layer = Math.max(1, Math.min(L, l | 0));
      slider.value = S.layer;
      $("#layer-value").textContent = S.layer;
      const hl = $("#acc-hl"), x = acc.X(S.layer);
      hl.setAttribute("x1", x); hl.setAttribute("x2", x); hl.setAttribute("visibility", "visible");
      hl.dataset.layer = S.layer;
      $("#acc-hl-pts").innerHTML = accSeries.map((se) => (se.y[S.layer - 1] === null ? "" : marker(se.marker, x, acc.Y(se.y[S.layer - 1]), 6, se.color, 'stroke="#000" stroke-width="1.5"'))).join("");
      const i = S.layer - 1;
      $("#layer-readout").textContent = "Layer " + S.layer + ": accuracy " + pctCI(D.accuracy[i], D.accuracyLow[i], D.accuracyHigh[i]) +
        ", mean p(true class) " + D.trueClassProb[i].toFixed(2) +
        D.curves.map((c) => (c.values[i] === null ? "" : "; " + c.label + " " + (c.lower ? pctCI(c.values[i], c.lower[i], c.upper[i]) : pct(c.values[i])))).join("") + ".";
      drawClassMaps();
      if (S.filter === "err-layer") applyFilter();
      else {
        $$("#sb-thumbs .thumb").forEach((b) => drawThumb(b, +b.dataset.pos));
        const cnt = $("#sb-count");
        cnt.textContent = cnt.textContent.replace(/Marks: the prediction of layer \d+\./, "Marks: the prediction of layer " + S.layer + ".");
        if (S.sel >= 0) {
          $("#sb-lines").innerHTML = detailLines(S.sel);
          drawDetailMap();
          const h = $("#heat-hl"), rh = +$("#sb-heat rect").getAttribute("height");
          if (h) h.setAttribute("y", 34 + (S.layer - 1) * rh);
        }
      }
    }
    slider.addEventListener("input", () => setLayer(+slider.value));
    const mapSel = $("#map-select");
    if (mapSel) mapSel.addEventListener("change", () => { S.map = mapSel.value; drawClassMaps(); applyFilter(); });

    filterOptions();
    applyFilter();
    setLayer(L);
  }

  async function main() {
    initLightbox();
    const el = document.getElementById("idmlp-data");
    if (el) {
      if (typeof DecompressionStream === "undefined") {
        const w = document.createElement("p");
        w.className = "warn";
        w.textContent = "This browser cannot decode the report's embedded data (it needs DecompressionStream: Chrome 80, Firefox 113, Safari 16.4 or later). The tables and figures still work.";
        $(".interactive").prepend(w);
      } else {
        await initViews(JSON.parse(el.textContent));
      }
    }
    document.documentElement.dataset.ready = "1";
  }
  main().catch((err) => { console.error("idmlp report:", err); document.documentElement.dataset.ready = "error"; });
})();
