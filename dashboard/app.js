/* stockpulse big screen.
 *
 * Polls the dashboard API every few seconds (?refresh=SECONDS, default 3) and draws one tile per
 * SKU: tier colour, available and sell-out ETA in big numbers, velocity, restock quantity, held
 * stock (on hand, not for sale), the consumption curve against its expected band (uPlot, shipped
 * from node_modules), and the alerts feed. Labels in Chinese and English (?lang=zh|en or the toggle).
 *
 * Address parameters: session (the live session id), token (the access token: kept in
 * sessionStorage and removed from the address bar), refresh, lang, api (the API's base URL;
 * default "api", the local server).
 */
(function () {
  "use strict";

  var I18N = {
    zh: {
      title: "直播间库存大屏", waiting: "正在等待直播场次数据…", alerts: "预警动态", noAlerts: "暂无预警",
      pickSession: "直播场次 ID", open: "打开", paused: "已暂停", available: "可售库存", eta: "预计售罄",
      velocity: "速度", restock: "建议补货", sold: "已售", reserved: "待支付", held: "锁定", forecast: "预测",
      curve: "消耗曲线", band: "预期区间", stopLine: "停售线", perMin: "/分", min: "分钟", hour: "小时",
      soldOut: "已售罄", notSelling: "暂无销售", lessThanMin: "<1", left: "剩余", upcoming: "未开始",
      live: "直播中", ended: "已结束", unauthorized: "访问令牌缺失或错误：请打开 stockpulse serve 打印的地址。",
      notFound: "未找到直播场次", error: "连接中断，正在重试…", updated: "更新于",
      tiers: { none: "正常", yellow: "黄色预警", orange: "橙色预警", red: "红色预警" },
      kinds: { alert: "", repeat: "（重复）", resolved: "（已解除）", stepped_down: "（已降级）", sold_out: "（已售罄）", pre_show: "（开播前检查）", slow: "（互动提示）" },
      platforms: { douyin: "抖音", kuaishou: "快手", taobao: "淘宝", jd: "京东", pdd: "拼多多", wechat: "视频号", xiaohongshu: "小红书" },
      langButton: "EN"
    },
    en: {
      title: "Live-room stock screen", waiting: "Waiting for the session's data…", alerts: "Alerts", noAlerts: "No alerts yet",
      pickSession: "Session id", open: "Open", paused: "Paused", available: "Available", eta: "Sell-out in",
      velocity: "Velocity", restock: "Restock", sold: "Sold", reserved: "Reserved", held: "Held", forecast: "Forecast",
      curve: "Consumption", band: "Expected band", stopLine: "Stop line", perMin: "/min", min: "min", hour: "h",
      soldOut: "Sold out", notSelling: "Not selling", lessThanMin: "<1", left: "left", upcoming: "Upcoming",
      live: "Live", ended: "Ended", unauthorized: "Access token missing or wrong: open the address stockpulse serve printed.",
      notFound: "Session not found", error: "Connection lost, retrying…", updated: "Updated",
      tiers: { none: "OK", yellow: "Yellow", orange: "Orange", red: "Red" },
      kinds: { alert: "", repeat: " (repeat)", resolved: " (resolved)", stepped_down: " (stepped down)", sold_out: " (sold out)", pre_show: " (pre-show check)", slow: " (selling slowly)" },
      platforms: {},
      langButton: "中文"
    }
  };
  var TIER_COLOURS = { none: "#3fb37f", yellow: "#f4c430", orange: "#ff8a1f", red: "#ff3b47" };
  var TOKEN_KEY = "stockpulse.token";
  var LANG_KEY = "stockpulse.lang";

  var params = new URLSearchParams(window.location.search);
  var state = {
    session: params.get("session") || "",
    token: params.get("token") || sessionStorage.getItem(TOKEN_KEY) || "",
    api: (params.get("api") || "api").replace(/\/+$/, ""),
    refreshMs: Math.round(1000 * clamp(parseFloat(params.get("refresh") || "3"), 0.5, 600, 3)),
    lang: pickLang(params.get("lang") || localStorage.getItem(LANG_KEY) || navigator.language || "zh"),
    tiles: {},          // sku_id -> {el, chart, last}
    seenAlerts: null,   // Set of alert ids (null before the first load: no "new" flash then)
    lastSkus: null,
    lastSession: null,
    lastAlerts: null,
    updates: 0
  };

  // The token stays in this tab only, and out of the address bar (screenshots, history).
  if (params.get("token")) {
    sessionStorage.setItem(TOKEN_KEY, state.token);
    params.delete("token");
    var rest = params.toString();
    history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : "") + window.location.hash);
  }

  function clamp(value, lo, hi, fallback) {
    if (!isFinite(value)) return fallback;
    return Math.min(hi, Math.max(lo, value));
  }
  function pickLang(value) { return String(value).toLowerCase().indexOf("zh") === 0 ? "zh" : "en"; }
  function t(key) { return I18N[state.lang][key]; }
  function $(id) { return document.getElementById(id); }

  // ------------------------------------------------------------------ API
  function ApiError(status, message) { this.status = status; this.message = message; }

  function api(path) {
    var headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    return fetch(state.api + "/" + path, { headers: headers, cache: "no-store" }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        if (!res.ok) throw new ApiError(res.status, body.message || res.statusText);
        return body;
      });
    });
  }

  function start() {
    applyLang();
    $("lang-toggle").addEventListener("click", function () {
      state.lang = state.lang === "zh" ? "en" : "zh";
      localStorage.setItem(LANG_KEY, state.lang);
      applyLang();
      rerender();
    });
    if (state.session) { loop(); return; }
    api("config").then(function (config) {
      if (config.session_id) { state.session = config.session_id; loop(); } else { askSession(); }
    }, function (err) {
      if (err && err.status === 401) { setConn("error", t("unauthorized")); showPlaceholder(t("unauthorized")); }
      askSession();
    });
  }

  function askSession() {
    var form = $("pick");
    form.hidden = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      state.session = $("pick-session").value.trim();
      if (!state.session) return;
      form.hidden = true;
      params.set("session", state.session);
      history.replaceState(null, "", window.location.pathname + "?" + params.toString());
      loop();
    });
  }

  function loop() {
    var id = encodeURIComponent(state.session);
    Promise.all([
      api("sessions/" + id),
      api("sessions/" + id + "/skus"),
      api("sessions/" + id + "/alerts?limit=40")
    ]).then(function (views) {
      state.lastSession = views[0];
      state.lastSkus = views[1];
      state.lastAlerts = views[2];
      rerender();
      state.updates += 1;
      document.body.dataset.updates = String(state.updates);
      setConn("ok", t("updated") + " " + new Date().toLocaleTimeString());
    }, function (err) {
      if (err && err.status === 401) { setConn("error", t("unauthorized")); showPlaceholder(t("unauthorized")); }
      else if (err && err.status === 404) { setConn("ok", t("notFound")); if (!state.lastSkus) showPlaceholder(t("waiting")); }
      else { setConn("error", t("error")); }
    }).then(function () {
      window.setTimeout(loop, state.refreshMs);
    });
  }

  function setConn(stateName, title) {
    var el = $("conn");
    el.dataset.state = stateName;
    el.title = title;
  }

  function showPlaceholder(text) {
    var p = $("placeholder");
    p.hidden = false;
    p.textContent = text;
  }

  // ------------------------------------------------------------------ rendering
  function applyLang() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.body.dataset.lang = state.lang;
    document.querySelectorAll("[data-i18n]").forEach(function (el) {
      var text = t(el.dataset.i18n);
      if (typeof text === "string") el.textContent = text;
    });
    $("lang-toggle").textContent = t("langButton");
    document.title = "stockpulse · " + t("title");
  }

  function rerender() {
    if (state.lastSession) renderHeader(state.lastSession);
    if (state.lastSkus) renderTiles(state.lastSkus);
    if (state.lastAlerts) renderAlerts(state.lastAlerts);
  }

  function renderHeader(s) {
    $("session-id").textContent = s.session_id;
    var status = $("session-status");
    status.dataset.status = s.status;
    status.textContent = t(s.status);
    // The tiles' instant (the SKU view is read after the summary) keeps clock and curves in step.
    $("session-clock").textContent = clockText(state.lastSkus ? state.lastSkus.as_of_ms : s.as_of_ms);
    $("session-left").textContent = s.status === "live"
      ? t("left") + " " + Math.ceil(s.minutes_left) + " " + t("min") : "";
    var counts = $("tier-counts");
    counts.textContent = "";
    ["red", "orange", "yellow", "none"].forEach(function (tier) {
      var chip = document.createElement("span");
      chip.className = "count";
      chip.dataset.tier = tier;
      chip.title = t("tiers")[tier];
      chip.textContent = String(s.tiers[tier] || 0);
      counts.appendChild(chip);
    });
  }

  function renderTiles(view) {
    var container = $("tiles");
    var seen = {};
    $("placeholder").hidden = view.skus.length > 0;
    var n = view.skus.length;
    container.style.setProperty("--cols", String(n <= 3 ? Math.max(1, n) : n === 4 ? 2 : n <= 6 ? 3 : 4));
    view.skus.forEach(function (sku, index) {
      seen[sku.sku_id] = true;
      var tile = state.tiles[sku.sku_id];
      if (!tile) {
        tile = createTile(sku);
        state.tiles[sku.sku_id] = tile;
      }
      if (container.children[index + 1] !== tile.el) container.insertBefore(tile.el, container.children[index + 1] || null);
      updateTile(tile, sku, view);
    });
    Object.keys(state.tiles).forEach(function (id) {
      if (!seen[id]) {
        var gone = state.tiles[id];
        if (gone.chart) gone.chart.destroy();
        gone.el.remove();
        delete state.tiles[id];
      }
    });
  }

  function createTile(sku) {
    var el = $("tile-template").content.firstElementChild.cloneNode(true);
    el.dataset.sku = sku.sku_id;
    el.querySelectorAll("[data-i18n]").forEach(function (node) { node.textContent = t(node.dataset.i18n); });
    return { el: el, chart: null, last: {} };
  }

  function field(tile, name) { return tile.el.querySelector('[data-field="' + name + '"]'); }

  function setValue(tile, name, html, plain) {
    var node = field(tile, name);
    if (tile.last[name] !== undefined && tile.last[name] !== plain) {
      node.classList.add("changed");
      window.setTimeout(function () { node.classList.remove("changed"); }, 1200);
    }
    tile.last[name] = plain;
    node.innerHTML = html;
  }

  function updateTile(tile, sku, view) {
    var el = tile.el;
    el.dataset.tier = sku.tier;
    el.querySelector(".name").textContent = sku.name;
    el.querySelector(".name").title = sku.name;
    el.querySelector(".sku").textContent = sku.sku_id + (sku.importance === "core" ? " · ★" : "");
    el.querySelector(".badge.tier").textContent = t("tiers")[sku.tier];
    el.querySelector(".badge.paused").hidden = !sku.paused;
    el.querySelectorAll("[data-i18n]").forEach(function (node) { node.textContent = t(node.dataset.i18n); });

    setValue(tile, "available", String(sku.ledger.available), String(sku.ledger.available));
    // After the session, "sell-out in" no longer means anything.
    var ended = view.as_of_ms >= view.ends_ms && sku.ledger.available > 0;
    var eta = ended ? { value: "—", unit: "" } : etaParts(sku.sell_out_eta_minutes, sku.ledger.available);
    var etaKey = ended ? "ended" : sku.ledger.available + "/" + Math.round(sku.sell_out_eta_minutes || -1);
    setValue(tile, "eta", escapeHtml(eta.value) + (eta.unit ? "<small> " + escapeHtml(eta.unit) + "</small>" : ""), etaKey);
    field(tile, "eta").classList.toggle("word", !/^[<\d—]/.test(eta.value));
    setValue(tile, "velocity", fmt(sku.velocity, 1) + "<small>" + escapeHtml(t("perMin")) + "</small>", fmt(sku.velocity, 1));
    setValue(tile, "restock", String(sku.restock_quantity), String(sku.restock_quantity));
    setValue(tile, "sold", String(sku.ledger.sold), String(sku.ledger.sold));
    setValue(tile, "reserved", String(sku.ledger.reserved), String(sku.ledger.reserved));
    setValue(tile, "held", String(sku.ledger.held), String(sku.ledger.held));
    var f = sku.forecast;
    var fText = Math.round(f.effective) === f.configured ? String(f.configured) : f.configured + "→" + Math.round(f.effective);
    setValue(tile, "forecast", escapeHtml(fText), fText);
    field(tile, "action").textContent = state.lang === "zh" ? sku.action_zh : sku.action_en;

    var platforms = field(tile, "platforms");
    platforms.textContent = "";
    sku.platforms.forEach(function (p) {
      var chip = document.createElement("span");
      chip.className = "platform" + (p.cap !== null && p.headroom === 0 ? " full" : "");
      var name = t("platforms")[p.platform] || p.platform;
      chip.innerHTML = escapeHtml(name) + " <b>" + p.used + "</b>" + (p.cap !== null ? " / " + p.cap : "");
      platforms.appendChild(chip);
    });

    drawChart(tile, sku, view);
  }

  function etaParts(minutes, available) {
    if (available <= 0) return { value: t("soldOut"), unit: "" };
    if (minutes === null || minutes === undefined) return { value: "—", unit: "" };
    if (minutes < 1) return { value: t("lessThanMin"), unit: t("min") };
    if (minutes < 100) return { value: String(Math.round(minutes)), unit: t("min") };
    return { value: fmt(minutes / 60, 1), unit: t("hour") };
  }

  // ------------------------------------------------------------------ chart
  function chartData(sku, view) {
    var s = sku.series;
    var start = view.starts_ms, end = view.ends_ms, span = Math.max(1, end - start);
    var endLow = sku.band_end.low, endHigh = sku.band_end.high;
    var x = [], low = [], high = [], stop = [], curve = [];
    function push(ms, lo, hi, c) {
      if (x.length && ms / 1000 <= x[x.length - 1]) return;
      x.push(ms / 1000); low.push(lo); high.push(hi); stop.push(sku.forecast.lines.red); curve.push(c);
    }
    function band(ms) { var share = Math.min(1, Math.max(0, (ms - start) / span)); return [endLow * share, endHigh * share]; }
    push(start, 0, 0, s.minute_ms.length && s.minute_ms[0] <= start ? s.consumption[0] : 0);
    for (var i = 0; i < s.minute_ms.length; i++) push(s.minute_ms[i], s.band_low[i], s.band_high[i], s.consumption[i]);
    // The live point: the ledger is fresher than the last per-minute sample.
    var now = Math.min(end, Math.max(start, view.as_of_ms));
    var b = band(now);
    push(now, b[0], b[1], sku.consumption);
    push(end, endLow, endHigh, null);
    return [x, low, high, stop, curve];
  }

  // The y-axis shows the whole plan (stop line, the band's end) unless that squashes the curve
  // under a third of the height; then it fits the curve and the band up to now, and the stop line
  // far above becomes a label at the top instead of stretching the axis.
  function yScale(sku, data) {
    var red = sku.forecast.lines.red;
    var curve = data[4], last = -1, curveMax = 0;
    for (var i = 0; i < curve.length; i++) if (isNum(curve[i])) { last = i; curveMax = Math.max(curveMax, curve[i]); }
    var whole = Math.max(red, sku.band_end.high, curveMax, 1) * 1.08;
    if (curveMax === 0 || curveMax >= whole / 3) return { max: whole, stopAbove: false };
    var near = Math.min(whole, Math.max(curveMax, last >= 0 ? data[2][last] : 0) * 1.5);
    return near >= red ? { max: Math.max(near, red * 1.08), stopAbove: false } : { max: near, stopAbove: true };
  }

  function drawChart(tile, sku, view) {
    var container = tile.el.querySelector(".chart");
    var data = chartData(sku, view);
    var y = yScale(sku, data);
    var yMax = y.max;
    var far = container.querySelector(".stop-far");
    far.hidden = !y.stopAbove;
    far.textContent = t("stopLine") + " " + Math.round(sku.forecast.lines.red) + " ↑";
    container.setAttribute("aria-label", t("curve") + " / " + t("band"));
    if (!container.isConnected && !tile.el.isConnected) return;
    if (tile.chart) {
      tile.yMax = yMax;
      tile.chart.setData(data);
      if (tile.chartLang !== state.lang) { tile.chart.destroy(); tile.chart = null; } else return;
    }
    tile.yMax = yMax;
    var width = Math.max(200, container.clientWidth || 400);
    var height = Math.max(120, container.clientHeight || 200);
    var axisFont = (window.innerWidth > 900 ? 16 : 12) + "px sans-serif";
    var opts = {
      width: width,
      height: height,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: true, range: function () { return [view.starts_ms / 1000, view.ends_ms / 1000]; } },
        y: { range: function () { return [0, tile.yMax]; } }
      },
      axes: [
        {
          stroke: "#8e9aab", font: axisFont, grid: { stroke: "#2a3442", width: 1 }, ticks: { stroke: "#2a3442" },
          values: function (u, splits) { return splits.map(function (v) { return clockText(v * 1000, true); }); }
        },
        {
          stroke: "#8e9aab", font: axisFont, size: 56, grid: { stroke: "#2a3442", width: 1 }, ticks: { stroke: "#2a3442" },
          incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000]
        }
      ],
      series: [
        {},
        { label: "band_low", stroke: "rgba(244,196,48,0.75)", width: 1.5, points: { show: false } },
        { label: "band_high", stroke: "rgba(244,196,48,0.75)", width: 1.5, points: { show: false } },
        { label: "stop", stroke: TIER_COLOURS.red, width: 2, dash: [10, 8], points: { show: false } },
        { label: "consumption", stroke: "#4fc3ff", width: 4, points: { show: false }, spanGaps: false }
      ],
      bands: [{ series: [2, 1], fill: "rgba(244,196,48,0.20)" }]
    };
    tile.chart = new uPlot(opts, data, container);
    tile.chartLang = state.lang;
    if (!tile.observer && window.ResizeObserver) {
      tile.observer = new ResizeObserver(function () {
        if (tile.chart && container.clientWidth > 0) {
          tile.chart.setSize({ width: container.clientWidth, height: Math.max(120, container.clientHeight) });
        }
      });
      tile.observer.observe(container);
    }
  }

  // ------------------------------------------------------------------ alerts
  function renderAlerts(view) {
    var list = $("alerts");
    var first = state.seenAlerts === null;
    var seen = state.seenAlerts || new Set();
    list.textContent = "";
    view.alerts.forEach(function (a) {
      var li = document.createElement("li");
      li.className = "alert" + (!first && !seen.has(a.alert_id) ? " new" : "");
      li.dataset.tier = a.tier;
      li.dataset.kind = a.kind;
      var tiers = t("tiers");
      // A tier said again (a repeat, a calm tier that now asks to act) is one tier, not "red → red".
      var move = a.previous_tier === a.tier ? tiers[a.tier] : tiers[a.previous_tier] + " → " + tiers[a.tier];
      // Back to normal is resolved; a step down to a tier that still asks something is not.
      var kind = a.kind === "resolved" && a.tier !== "none" ? "stepped_down" : a.kind;
      li.innerHTML =
        '<span class="when">' + escapeHtml(clockText(a.at_ms, true)) + "</span>" +
        '<span class="what">' + escapeHtml(a.sku_name) + "</span>" +
        '<span class="move">' + escapeHtml(move + (t("kinds")[kind] || "")) + "</span>" +
        '<span class="todo">' + escapeHtml(state.lang === "zh" ? a.action_zh : a.action_en) + "</span>";
      list.appendChild(li);
      seen.add(a.alert_id);
    });
    state.seenAlerts = seen;
    $("alerts-empty").hidden = view.alerts.length > 0;
  }

  // ------------------------------------------------------------------ helpers
  // Times as the studio's clock (the show's UTC offset), wherever the screen's browser is.
  function clockText(ms, short) {
    var offset = state.lastSession ? state.lastSession.utc_offset_minutes : null;
    var opts = { hour: "2-digit", minute: "2-digit", hour12: false };
    if (!short) opts.second = "2-digit";
    if (isNum(offset)) { ms += offset * 60000; opts.timeZone = "UTC"; }
    return new Date(ms).toLocaleTimeString(state.lang === "zh" ? "zh-CN" : "en-GB", opts);
  }
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function fmt(value, digits) { return isNum(value) ? value.toFixed(digits).replace(/\.0+$/, "") : "—"; }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  start();
})();
