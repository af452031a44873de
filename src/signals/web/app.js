/*
 * signals dashboard: reads GET /v1/stats (which carries the newest webhook deliveries too) and
 * GET /v1/signals from the service that serves this page and draws them with the vendored
 * Chart.js. A click on an anomaly (or its Events button) lists that episode's events:
 * GET /v1/signals for its user and signal type from opened_at until closed_at. No inline script, no eval, no external request:
 * the service sends `Content-Security-Policy: default-src 'self'`.
 *
 * Data from the service (user ids, signal types, texts, cues) only ever reaches the DOM through
 * textContent or a canvas, never as markup.
 *
 * Test hooks: window.signalsCharts (the Chart instances by name), window.signalsDashboard
 * (refresh(), state()), and <html data-refreshes="n" data-range="..."> after each render.
 */
"use strict";

(function () {
  const REFRESH_MS = 5000;
  const KEY_STORAGE = "signals.readKey";
  const EVENTS_LIMIT = 50;
  const EPISODE_EVENTS_LIMIT = 100;
  const ATTEMPTS_SHOWN = 5;
  const RANGES = {
    "15m": { text: "last 15 minutes", seconds: 15 * 60 },
    "1h": { text: "last hour", seconds: 3600 },
    "24h": { text: "last 24 hours", seconds: 86400 },
    "7d": { text: "last 7 days", seconds: 7 * 86400 },
  };
  const SENTIMENTS = ["stressed", "uncertain", "positive", "neutral"];
  const SEVERITIES = ["warning", "critical"];
  // Okabe-Ito: distinguishable with the common colour-vision deficiencies. The two "bad" series
  // (stressed, critical) are also hatched and uncertain is dotted, so colour is never the only cue.
  const COLOURS = {
    stressed: "#D55E00",
    uncertain: "#E69F00",
    positive: "#009E73",
    neutral: "#56B4E9",
    warning: "#E69F00",
    critical: "#D55E00",
    volume: "#0072B2",
    other: "#56B4E9",
  };
  const FILLS = {
    stressed: "hatch",
    uncertain: "dots",
    positive: "solid",
    neutral: "solid",
    warning: "solid",
    critical: "hatch",
  };

  const $ = (id) => document.getElementById(id);
  const number = new Intl.NumberFormat();
  const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 0 });
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const clockSeconds = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
  const dayClock = new Intl.DateTimeFormat(undefined, {
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
  const dateClock = new Intl.DateTimeFormat(undefined, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });

  const state = {
    range: initialRange(),
    live: true,
    timer: null,
    inflight: false,
    pending: false,
    needsKey: false,
    refreshes: 0,
    lastStartedAt: 0,
    lastRenderedRange: null,
    tableSignatures: { anomalies: "", events: "", deliveries: "", episodeEvents: "" },
    episodes: new Map(), // the anomalies table's episodes, by id
    selected: null, // the episode whose events are shown
    opener: null, // the button that showed them: focus goes back there on close
  };
  const charts = {};

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      const envelope = body && body.error ? body.error : null;
      super(envelope && envelope.message ? envelope.message : "HTTP " + status);
      this.status = status;
      this.code = envelope ? envelope.code : null;
      this.requestId = body ? body.request_id : null;
      this.retryAfter = retryAfter;
    }
  }

  // ---- data access -------------------------------------------------------------------------

  function storedKey() {
    try {
      return window.sessionStorage.getItem(KEY_STORAGE);
    } catch (err) {
      return null;
    }
  }

  function storeKey(key) {
    try {
      if (key) {
        window.sessionStorage.setItem(KEY_STORAGE, key);
      } else {
        window.sessionStorage.removeItem(KEY_STORAGE);
      }
    } catch (err) {
      // Storage can be disabled; the key then lives only as long as this page.
      memoryKey = key;
    }
  }

  let memoryKey = null;

  async function getJSON(path) {
    const headers = { Accept: "application/json" };
    const key = storedKey() || memoryKey;
    if (key) {
      headers["X-API-Key"] = key;
    }
    const response = await fetch(path, { headers, cache: "no-store", credentials: "same-origin" });
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, body, response.headers.get("Retry-After"));
    }
    return body;
  }

  // ---- formatting --------------------------------------------------------------------------

  function initialRange() {
    const match = /range=(15m|1h|24h|7d)/.exec(window.location.hash);
    return match ? match[1] : "15m";
  }

  function toDate(value) {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function sameDay(a, b) {
    return a.toDateString() === b.toDateString();
  }

  function formatInstant(value) {
    const date = toDate(value);
    if (!date) {
      return value || "–";
    }
    return sameDay(date, new Date()) ? clockSeconds.format(date) : dateClock.format(date);
  }

  function bucketLabel(value, bucketSeconds, rangeSeconds) {
    const date = toDate(value);
    if (!date) {
      return String(value);
    }
    return rangeSeconds > 86400 || bucketSeconds >= 86400 ? dayClock.format(date) : clock.format(date);
  }

  function bucketSpan(seconds) {
    if (seconds % 86400 === 0) {
      return seconds / 86400 + (seconds === 86400 ? " day" : " days");
    }
    if (seconds % 3600 === 0) {
      return seconds / 3600 + " h";
    }
    if (seconds % 60 === 0) {
      return seconds / 60 + " min";
    }
    return seconds + " s";
  }

  function perBucket(seconds) {
    if (seconds === 60) {
      return "per minute";
    }
    if (seconds === 3600) {
      return "per hour";
    }
    return "per " + bucketSpan(seconds);
  }

  function sum(values) {
    return values.reduce((total, value) => total + (Number(value) || 0), 0);
  }

  function shorten(value, max) {
    const text = String(value);
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  // ---- fills -------------------------------------------------------------------------------

  function fill(colour, kind) {
    if (kind === "solid") {
      return colour;
    }
    const size = 10;
    const tile = document.createElement("canvas");
    tile.width = size;
    tile.height = size;
    const ctx = tile.getContext("2d");
    if (!ctx) {
      return colour;
    }
    ctx.fillStyle = colour;
    ctx.fillRect(0, 0, size, size);
    if (kind === "hatch") {
      ctx.strokeStyle = "rgba(255, 255, 255, 0.6)";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(0, size);
      ctx.lineTo(size, 0);
      ctx.moveTo(-size / 2, size / 2);
      ctx.lineTo(size / 2, -size / 2);
      ctx.moveTo(size / 2, size * 1.5);
      ctx.lineTo(size * 1.5, size / 2);
      ctx.stroke();
    } else {
      ctx.fillStyle = "rgba(255, 255, 255, 0.65)";
      ctx.beginPath();
      ctx.arc(size / 2, size / 2, 1.8, 0, Math.PI * 2);
      ctx.fill();
    }
    return ctx.createPattern(tile, "repeat") || colour;
  }

  // ---- charts ------------------------------------------------------------------------------

  function axisTitle(text) {
    return { display: true, text, color: "#5a6675", font: { weight: "600" } };
  }

  function timeScales(yTitle) {
    return {
      x: {
        stacked: true,
        grid: { display: false },
        ticks: { autoSkip: true, maxRotation: 0, maxTicksLimit: 10 },
        title: axisTitle("time (local)"),
      },
      y: {
        stacked: true,
        beginAtZero: true,
        ticks: { precision: 0 },
        title: axisTitle(yTitle),
      },
    };
  }

  function baseOptions(extra) {
    return Object.assign(
      {
        responsive: true,
        maintainAspectRatio: false,
        animation: { duration: 300 },
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: true, position: "bottom", labels: { boxWidth: 14, boxHeight: 12 } },
          tooltip: { boxPadding: 4 },
        },
      },
      extra,
    );
  }

  function seriesDataset(name, label) {
    const background = fill(COLOURS[name], FILLS[name]);
    return {
      label,
      key: name,
      data: [],
      backgroundColor: background,
      hoverBackgroundColor: background,
      borderColor: COLOURS[name],
      borderWidth: 1,
      categoryPercentage: 0.9,
      barPercentage: 0.95,
    };
  }

  function createCharts() {
    const Chart = window.Chart;
    Chart.defaults.font.family =
      'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
    Chart.defaults.font.size = 12;
    Chart.defaults.color = "#3b4654";
    Chart.defaults.borderColor = "#e6ebf0";

    charts.events = new Chart($("chart-events"), {
      type: "bar",
      data: {
        labels: [],
        datasets: SENTIMENTS.map((s) => seriesDataset(s, s)),
      },
      options: baseOptions({
        scales: timeScales("events per minute"),
        plugins: {
          legend: { display: true, position: "bottom", labels: { boxWidth: 14, boxHeight: 12 } },
          tooltip: { boxPadding: 4, callbacks: { title: bucketTooltipTitle("events") } },
        },
      }),
    });

    charts.types = new Chart($("chart-types"), {
      type: "bar",
      data: {
        labels: [],
        datasets: [
          {
            label: "events",
            data: [],
            backgroundColor: COLOURS.volume,
            borderColor: COLOURS.volume,
            borderWidth: 1,
            maxBarThickness: 26,
          },
        ],
      },
      options: baseOptions({
        indexAxis: "y",
        interaction: { mode: "nearest", axis: "y", intersect: false },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 }, title: axisTitle("events") },
          y: {
            grid: { display: false },
            ticks: { autoSkip: false, callback: categoryTick(22) },
            title: axisTitle("signal type"),
          },
        },
      }),
    });

    charts.anomalies = new Chart($("chart-anomalies"), {
      type: "bar",
      data: {
        labels: [],
        datasets: SEVERITIES.map((s) => seriesDataset(s, s)),
      },
      options: baseOptions({
        scales: timeScales("episodes opened"),
        plugins: {
          legend: { display: true, position: "bottom", labels: { boxWidth: 14, boxHeight: 12 } },
          tooltip: { boxPadding: 4, callbacks: { title: bucketTooltipTitle("anomalies") } },
        },
      }),
    });

    const stressed = seriesDataset("stressed", "stressed events");
    charts.users = new Chart($("chart-users"), {
      type: "bar",
      data: {
        labels: [],
        datasets: [
          Object.assign(stressed, { maxBarThickness: 22 }),
          {
            label: "other events",
            key: "other",
            data: [],
            backgroundColor: COLOURS.other,
            borderColor: COLOURS.volume,
            borderWidth: 1,
            maxBarThickness: 22,
          },
        ],
      },
      options: baseOptions({
        indexAxis: "y",
        interaction: { mode: "index", axis: "y", intersect: false },
        scales: {
          x: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: axisTitle("events") },
          y: {
            stacked: true,
            grid: { display: false },
            ticks: { autoSkip: false, callback: userTick },
            title: axisTitle("user (stressed share)"),
          },
        },
        plugins: {
          legend: { display: true, position: "bottom", labels: { boxWidth: 14, boxHeight: 12 } },
          tooltip: {
            boxPadding: 4,
            callbacks: {
              title: (items) => (items.length ? usersMeta[items[0].dataIndex].user_id : ""),
              footer: (items) => {
                if (!items.length) {
                  return "";
                }
                const user = usersMeta[items[0].dataIndex];
                const share = user.events ? user.stressed / user.events : 0;
                return number.format(user.events) + " events, " + percent.format(share) + " stressed";
              },
            },
          },
        },
      }),
    });

    window.signalsCharts = charts;
  }

  let usersMeta = [];
  const bucketMeta = { events: [], anomalies: [], seconds: 60 };

  function categoryTick(max) {
    return function (value) {
      return shorten(this.getLabelForValue(value), max);
    };
  }

  // A user's id, shortened to fit the chart, with their stressed share.
  function userTick(value, index) {
    const user = usersMeta[index];
    if (!user) {
      return "";
    }
    const share = user.events ? user.stressed / user.events : 0;
    const room = this.chart.width < 520 ? 12 : 24;
    return shorten(user.user_id, room) + " (" + percent.format(share) + ")";
  }

  function bucketTooltipTitle(which) {
    return (items) => {
      if (!items.length) {
        return "";
      }
      const start = toDate(bucketMeta[which][items[0].dataIndex]);
      if (!start) {
        return items[0].label;
      }
      const end = new Date(start.getTime() + bucketMeta.seconds * 1000);
      const head = sameDay(start, new Date()) ? clock.format(start) : dayClock.format(start);
      return head + " – " + clock.format(end);
    };
  }

  // ---- rendering ---------------------------------------------------------------------------

  function renderStats(stats) {
    const range = RANGES[stats.range] || RANGES[state.range];
    const bucketSeconds = stats.bucket_seconds || 60;
    const per = perBucket(bucketSeconds);
    const buckets = stats.buckets || [];
    const anomalyBuckets = stats.anomaly_buckets || [];
    const bySentiment = stats.by_sentiment || {};
    const bySeverity = stats.anomalies_by_severity || {};
    const total = sum(Object.values(bySentiment));
    const anomalies = sum(Object.values(bySeverity));

    bucketMeta.seconds = bucketSeconds;
    bucketMeta.events = buckets.map((b) => b.start);
    bucketMeta.anomalies = anomalyBuckets.map((b) => b.start);

    $("range-caption").textContent =
      "Showing the " + range.text + " · " + buckets.length + " buckets of " +
      bucketSpan(bucketSeconds);
    $("events-sub").textContent = "stacked, events " + per;
    $("anomalies-sub").textContent = "episodes opened " + per + ", by severity";

    const events = charts.events;
    events.data.labels = buckets.map((b) => bucketLabel(b.start, bucketSeconds, range.seconds));
    for (const dataset of events.data.datasets) {
      dataset.data = buckets.map((b) => (b.counts && b.counts[dataset.key]) || 0);
    }
    events.options.scales.y.title.text = "events " + per;

    const types = Object.entries(stats.by_signal_type || {}).sort((a, b) => b[1] - a[1]);
    charts.types.data.labels = types.map((entry) => entry[0]);
    charts.types.data.datasets[0].data = types.map((entry) => entry[1]);

    const anomaliesChart = charts.anomalies;
    anomaliesChart.data.labels = anomalyBuckets.map((b) =>
      bucketLabel(b.start, bucketSeconds, range.seconds),
    );
    for (const dataset of anomaliesChart.data.datasets) {
      dataset.data = anomalyBuckets.map((b) => (b.counts && b.counts[dataset.key]) || 0);
    }
    anomaliesChart.options.scales.y.title.text = "episodes " + per;

    usersMeta = (stats.top_users || []).slice();
    charts.users.data.labels = usersMeta.map((u) => u.user_id);
    charts.users.data.datasets[0].data = usersMeta.map((u) => u.stressed);
    charts.users.data.datasets[1].data = usersMeta.map((u) => Math.max(0, u.events - u.stressed));

    const animate = state.lastRenderedRange !== state.range;
    for (const chart of Object.values(charts)) {
      chart.update(animate ? undefined : "none");
    }

    setEmpty("chart-events", total === 0);
    setEmpty("chart-types", types.length === 0);
    setEmpty("chart-anomalies", anomalies === 0);
    setEmpty("chart-users", usersMeta.length === 0);
    $("empty-hint").hidden = total !== 0;

    renderKpis(stats, range, total, anomalies, types.length, bySentiment, bySeverity);
    $("chart-events").setAttribute(
      "aria-label",
      "Events over time by sentiment, " + range.text + ": " +
        SENTIMENTS.map((s) => s + " " + (bySentiment[s] || 0)).join(", "),
    );
  }

  function setEmpty(canvasId, empty) {
    const box = $(canvasId).parentElement;
    box.querySelector(".chart-empty").hidden = !empty;
  }

  function renderKpis(stats, range, total, anomalies, typeCount, bySentiment, bySeverity) {
    const stressed = bySentiment.stressed || 0;
    $("kpi-events").textContent = number.format(total);
    $("kpi-events-note").textContent =
      range.text + " · " + decimal.format(total / (range.seconds / 60)) + " per minute";
    $("kpi-stressed").textContent = total ? percent.format(stressed / total) : "–";
    $("kpi-stressed-note").textContent = number.format(stressed) + " stressed events";
    $("kpi-anomalies").textContent = number.format(anomalies);
    $("kpi-anomalies-note").textContent =
      number.format(bySeverity.critical || 0) + " critical · " +
      number.format(bySeverity.warning || 0) + " warning";
    $("kpi-types").textContent = number.format(typeCount);
    const top = Object.entries(stats.by_signal_type || {}).sort((a, b) => b[1] - a[1])[0];
    $("kpi-types-note").textContent = top ? "most: " + shorten(top[0], 28) : "seen in range";
  }

  function cell(text, className, title) {
    const td = document.createElement("td");
    if (className) {
      td.className = className;
    }
    if (text !== null && text !== undefined) {
      td.textContent = String(text);
    }
    if (title) {
      td.title = title;
    }
    return td;
  }

  function badge(kind, text) {
    const span = document.createElement("span");
    span.className = "badge badge-" + kind;
    span.textContent = text;
    return span;
  }

  // A cue is "label:phrase" (the label it counts for, the words that matched): the phrase is
  // shown, the label marks the chip's edge and is spelled out in the tooltip.
  function cueChip(cue) {
    const chip = document.createElement("span");
    const split = cue.indexOf(":");
    const kind = split > 0 ? cue.slice(0, split) : "";
    chip.className = "cue" + (SENTIMENTS.includes(kind) ? " cue-" + kind : "");
    chip.textContent = split > 0 ? cue.slice(split + 1) : cue;
    chip.title = kind ? kind + " cue: " + chip.textContent : cue;
    return chip;
  }

  // A delivery's payload is the signed JSON body, base64 in the API: its episode names the anomaly.
  function payloadEpisode(delivery) {
    try {
      const bytes = Uint8Array.from(window.atob(String(delivery.payload || "")), (c) => c.charCodeAt(0));
      const body = JSON.parse(new TextDecoder().decode(bytes));
      return body && body.episode ? body.episode : null;
    } catch (err) {
      return null;
    }
  }

  function emptyRow(columns, text) {
    const tr = document.createElement("tr");
    const td = cell(text, "empty");
    td.colSpan = columns;
    tr.appendChild(td);
    return tr;
  }

  function renderAnomalies(episodes) {
    const signature = JSON.stringify(episodes);
    if (signature === state.tableSignatures.anomalies) {
      return;
    }
    state.tableSignatures.anomalies = signature;
    const tbody = $("table-anomalies").tBodies[0];
    const rows = [];
    for (const episode of episodes) {
      const tr = keyRow(episode.opened_at, episode.user_id, episode.signal_type);
      tr.dataset.episodeId = String(episode.id);
      const severity = SEVERITIES.includes(episode.severity) ? episode.severity : "warning";
      tr.appendChild(badgeCell(severity, String(episode.severity)));
      tr.appendChild(cell(episode.peak_count + " / " + episode.threshold, "num"));
      tr.appendChild(cell(number.format(episode.event_count), "num"));
      tr.appendChild(cell(decimal.format(episode.window_seconds) + " s", "time"));
      const statusCell = cell(null, "time");
      if (episode.closed_at) {
        statusCell.appendChild(badge("closed", "closed " + formatInstant(episode.closed_at)));
      } else {
        statusCell.appendChild(badge("open", "open"));
      }
      tr.appendChild(statusCell);
      const alerted = Array.isArray(episode.alerted) ? episode.alerted : [];
      tr.appendChild(cell(alerted.length ? alerted.join(", ") : "—", alerted.length ? "" : "dim"));
      const showCell = cell(null);
      showCell.appendChild(eventsButton(episode));
      tr.appendChild(showCell);
      rows.push(tr);
    }
    state.episodes = new Map(episodes.map((episode) => [String(episode.id), episode]));
    tbody.replaceChildren(...(rows.length ? rows : [emptyRow(10, "No anomalies in this range")]));
    markSelected();
    $("anomalies-count").textContent = rows.length
      ? rows.length + " newest first"
      : "none in this range";
  }

  // The anomaly's own button, so the keyboard reaches what a click on its row does.
  function eventsButton(episode) {
    const show = document.createElement("button");
    show.type = "button";
    show.className = "button-link";
    show.textContent = "Events";
    show.setAttribute("aria-controls", "episode-panel");
    show.setAttribute("aria-expanded", "false");
    show.setAttribute(
      "aria-label",
      "Events of the anomaly of " + episode.user_id + ", " + episode.signal_type + ", opened " +
        formatInstant(episode.opened_at),
    );
    return show;
  }

  // A row that starts with when, who and which signal type, as every table here does.
  function keyRow(instant, userId, signalType) {
    const tr = document.createElement("tr");
    tr.appendChild(cell(formatInstant(instant), "time", String(instant)));
    tr.appendChild(cell(userId, "ident", String(userId)));
    tr.appendChild(cell(signalType, "ident", String(signalType)));
    return tr;
  }

  function badgeCell(kind, text) {
    const td = cell(null);
    td.appendChild(badge(kind, text));
    return td;
  }

  function eventRow(record) {
    const tr = keyRow(record.received_at, record.user_id, record.signal_type);
    tr.dataset.eventId = String(record.event_id);
    const sentiment = SENTIMENTS.includes(record.sentiment) ? record.sentiment : "neutral";
    tr.appendChild(badgeCell(sentiment, String(record.sentiment)));
    const cuesCell = cell(null);
    const cues = Array.isArray(record.sentiment_cues) ? record.sentiment_cues : [];
    if (cues.length) {
      const list = document.createElement("div");
      list.className = "cues";
      for (const cue of cues.slice(0, 4)) {
        list.appendChild(cueChip(String(cue)));
      }
      if (cues.length > 4) {
        const more = document.createElement("span");
        more.className = "cue cue-more";
        more.textContent = "+" + (cues.length - 4);
        more.title = cues.slice(4).join("\n");
        list.appendChild(more);
      }
      cuesCell.appendChild(list);
    } else {
      cuesCell.className = "dim";
      cuesCell.textContent = "—";
    }
    tr.appendChild(cuesCell);
    const text = record.text === null || record.text === undefined ? "" : String(record.text);
    tr.appendChild(cell(text || "—", text ? "text" : "text dim", text));
    return tr;
  }

  function renderEvents(records) {
    const signature = JSON.stringify(records.map((r) => r.event_id));
    if (signature === state.tableSignatures.events) {
      return;
    }
    state.tableSignatures.events = signature;
    const rows = records.map(eventRow);
    $("table-events").tBodies[0].replaceChildren(
      ...(rows.length ? rows : [emptyRow(6, "No events in this range")]),
    );
    $("events-count").textContent = rows.length
      ? "latest " + rows.length + ", newest first"
      : "none in this range";
  }

  // ---- webhook deliveries -----------------------------------------------------------------

  const DELIVERY_STATUSES = ["delivered", "pending", "failed"];

  function alertBadge(type) {
    const what = String(type || "").replace(/^anomaly\./, "");
    const kind = what === "resolved" ? "closed" : SEVERITIES.includes(what) ? what : "warning";
    const span = badge(kind, what || "—");
    span.title = String(type);
    return span;
  }

  function attemptItem(attempt) {
    const li = document.createElement("li");
    const ok = attempt.status_code !== null && attempt.status_code >= 200 && attempt.status_code < 300;
    li.className = ok ? "attempt-ok" : "attempt-failed";
    const outcome = ok ? String(attempt.status_code) + " OK" : String(attempt.error || "failed");
    const took = attempt.duration_ms === undefined ? "" : " · " + decimal.format(attempt.duration_ms) + " ms";
    li.textContent = formatInstant(attempt.at) + " · " + outcome + took;
    li.title = String(attempt.at);
    return li;
  }

  function renderDeliveries(deliveries) {
    const signature = JSON.stringify(deliveries.map((d) => [d.id, d.status, (d.attempts || []).length]));
    if (signature === state.tableSignatures.deliveries) {
      return;
    }
    state.tableSignatures.deliveries = signature;
    const rows = [];
    for (const delivery of deliveries) {
      const tr = document.createElement("tr");
      tr.dataset.deliveryId = String(delivery.id);
      tr.appendChild(cell(formatInstant(delivery.created_at), "time", String(delivery.id)));
      const typeCell = cell(null);
      typeCell.appendChild(alertBadge(delivery.type));
      tr.appendChild(typeCell);
      const episode = payloadEpisode(delivery);
      const about = episode ? episode.user_id + " · " + episode.signal_type : delivery.episode_id;
      tr.appendChild(cell(about, "ident", "episode " + delivery.episode_id));
      const status = DELIVERY_STATUSES.includes(delivery.status) ? delivery.status : "pending";
      tr.appendChild(badgeCell(status, String(delivery.status)));
      const attempts = Array.isArray(delivery.attempts) ? delivery.attempts : [];
      const attemptsCell = cell(null, "attempts-cell");
      if (attempts.length) {
        const list = document.createElement("ol");
        list.className = "attempts";
        list.setAttribute("aria-label", attempts.length + (attempts.length === 1 ? " attempt" : " attempts"));
        const skipped = Math.max(0, attempts.length - ATTEMPTS_SHOWN);
        if (skipped) {
          const more = document.createElement("li");
          more.className = "dim";
          more.textContent = skipped + " earlier " + (skipped === 1 ? "attempt" : "attempts");
          list.appendChild(more);
        }
        attempts.slice(skipped).forEach((attempt) => list.appendChild(attemptItem(attempt)));
        attemptsCell.appendChild(list);
      } else {
        attemptsCell.classList.add("dim");
        attemptsCell.textContent = "not sent yet";
      }
      tr.appendChild(attemptsCell);
      rows.push(tr);
    }
    $("table-deliveries").tBodies[0].replaceChildren(
      ...(rows.length ? rows : [emptyRow(5, "No webhook deliveries yet (alerts.webhook_url sets where alerts go)")]),
    );
    $("deliveries-count").textContent = rows.length
      ? "latest " + rows.length + ", newest first, every attempt"
      : "none yet";
  }

  // ---- the events of one anomaly ----------------------------------------------------------

  function markSelected() {
    const id = state.selected ? String(state.selected.id) : null;
    for (const tr of $("table-anomalies").tBodies[0].rows) {
      const selected = id !== null && tr.dataset.episodeId === id;
      tr.classList.toggle("selected", selected);
      const button = tr.querySelector("button");
      if (button) {
        button.setAttribute("aria-expanded", String(selected));
      }
    }
  }

  function episodeQuery(episode) {
    const params = new URLSearchParams({
      user_id: String(episode.user_id),
      signal_type: String(episode.signal_type),
      since: String(episode.opened_at),
      limit: String(EPISODE_EVENTS_LIMIT),
    });
    if (episode.closed_at) {
      params.set("until", String(episode.closed_at));
    }
    return "/v1/signals?" + params.toString();
  }

  function describeEpisode(episode, shown, more) {
    const span = episode.closed_at
      ? "from " + formatInstant(episode.opened_at) + " until it closed at " + formatInstant(episode.closed_at)
      : "since " + formatInstant(episode.opened_at) + ", still open";
    const count = more ? "the newest " + shown : String(shown);
    return (
      episode.user_id + " · " + episode.signal_type + " · " + episode.severity + " · " + span +
      " · " + count + (shown === 1 ? " event" : " events") + ", newest first"
    );
  }

  async function loadEpisodeEvents() {
    const episode = state.selected;
    if (!episode) {
      return;
    }
    const page = await getJSON(episodeQuery(episode));
    if (state.selected === null || String(state.selected.id) !== String(episode.id)) {
      return; // another anomaly was chosen meanwhile
    }
    const records = page.items || [];
    $("episode-sub").textContent = describeEpisode(episode, records.length, Boolean(page.next_cursor));
    const signature = String(episode.id) + JSON.stringify(records.map((r) => r.event_id));
    if (signature !== state.tableSignatures.episodeEvents) {
      state.tableSignatures.episodeEvents = signature;
      const rows = records.map(eventRow);
      $("table-episode-events").tBodies[0].replaceChildren(
        ...(rows.length ? rows : [emptyRow(6, "No events stored for this anomaly")]),
      );
    }
    document.documentElement.dataset.episode = String(episode.id);
  }

  async function selectEpisode(id, opener) {
    const episode = state.episodes.get(id);
    if (!episode) {
      return;
    }
    state.selected = episode;
    state.opener = opener || null;
    state.tableSignatures.episodeEvents = "";
    markSelected();
    const panel = $("episode-panel");
    panel.hidden = false;
    $("episode-sub").textContent = "Loading…";
    $("table-episode-events").tBodies[0].replaceChildren();
    $("episode-title").focus();
    try {
      await loadEpisodeEvents();
    } catch (err) {
      handleError(err);
    }
  }

  function closeEpisode() {
    state.selected = null;
    state.tableSignatures.episodeEvents = "";
    delete document.documentElement.dataset.episode;
    $("episode-panel").hidden = true;
    markSelected();
    const opener = state.opener;
    state.opener = null;
    if (opener && document.body.contains(opener)) {
      opener.focus();
    }
  }

  // ---- status, auth and errors -------------------------------------------------------------

  function setLive(kind, text) {
    $("live-status").dataset.state = kind;
    $("live-text").textContent = text;
  }

  function showBanner(text) {
    const banner = $("error-banner");
    banner.textContent = text;
    banner.hidden = !text;
  }

  function showAuth(message, isError) {
    state.needsKey = true;
    stopTimer();
    $("dashboard").hidden = true;
    $("auth-panel").hidden = false;
    $("key-change").hidden = true;
    const note = $("auth-message");
    note.textContent = message;
    note.classList.toggle("auth-error", Boolean(isError));
    setLive("error", "Waiting for a read key");
    showBanner("");
    const input = $("auth-key");
    input.value = "";
    input.focus();
  }

  function hideAuth() {
    state.needsKey = false;
    $("auth-panel").hidden = true;
    $("dashboard").hidden = false;
    $("key-change").hidden = !(storedKey() || memoryKey);
  }

  function describe(err) {
    if (err instanceof ApiError) {
      const ref = err.requestId ? " (request " + err.requestId + ")" : "";
      return (err.code || "HTTP " + err.status) + ": " + err.message + ref;
    }
    return "cannot reach the service (" + (err && err.message ? err.message : String(err)) + ")";
  }

  function handleError(err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      const hadKey = Boolean(storedKey() || memoryKey);
      storeKey(null);
      memoryKey = null;
      if (err.status === 403) {
        showAuth("That key is valid but lacks the read scope. Enter a key with the read scope.", true);
      } else if (hadKey) {
        showAuth("That key was not accepted. Enter a key with the read scope.", true);
      } else {
        showAuth(
          "This service requires an API key with the read scope. It is kept in this browser " +
            "tab only (session storage) and sent as X-API-Key.",
          false,
        );
      }
      return;
    }
    if (err instanceof ApiError && err.status === 429) {
      const wait = err.retryAfter ? " Retry in " + err.retryAfter + " s." : "";
      showBanner("The service is rate limiting this address." + wait);
    } else {
      showBanner("Could not refresh: " + describe(err) + ". Retrying every " + REFRESH_MS / 1000 + " s.");
    }
    setLive("error", "Refresh failed at " + clockSeconds.format(new Date()));
  }

  // ---- refresh loop ------------------------------------------------------------------------

  async function refresh() {
    if (state.needsKey) {
      return;
    }
    if (state.inflight) {
      state.pending = true;
      return;
    }
    state.inflight = true;
    state.lastStartedAt = Date.now();
    stopTimer();
    const range = state.range;
    try {
      const stats = await getJSON("/v1/stats?range=" + encodeURIComponent(range));
      const since = stats.since ? "&since=" + encodeURIComponent(stats.since) : "";
      const page = await getJSON("/v1/signals?limit=" + EVENTS_LIMIT + since);
      if (range === state.range) {
        hideAuth();
        renderStats(stats);
        renderAnomalies(stats.recent_anomalies || []);
        renderDeliveries(stats.recent_deliveries || []);
        renderEvents(page.items || []);
        await followSelected();
        state.lastRenderedRange = range;
        state.refreshes += 1;
        document.documentElement.dataset.refreshes = String(state.refreshes);
        document.documentElement.dataset.range = range;
        showBanner("");
        setLive(
          state.live ? "live" : "paused",
          (state.live ? "Live · updated " : "Paused · updated ") + clockSeconds.format(new Date()),
        );
      }
    } catch (err) {
      handleError(err);
    } finally {
      state.inflight = false;
      if (state.pending) {
        state.pending = false;
        refresh();
      } else {
        schedule();
      }
    }
  }

  // An open episode still gathers events: its list follows, in the same refresh.
  async function followSelected() {
    const selected = state.selected;
    if (!selected) {
      return;
    }
    const latest = state.episodes.get(String(selected.id));
    if (latest) {
      state.selected = latest;
    }
    if (!selected.closed_at) {
      await loadEpisodeEvents();
    }
  }

  function stopTimer() {
    if (state.timer !== null) {
      window.clearTimeout(state.timer);
      state.timer = null;
    }
  }

  function schedule() {
    stopTimer();
    if (state.live && !state.needsKey && !document.hidden) {
      state.timer = window.setTimeout(refresh, REFRESH_MS);
    }
  }

  // A tab shown again or resumed refreshes at once only if its last refresh started at least
  // REFRESH_MS ago, else when that time is up: flipping between tabs or clicking Pause and
  // Resume must not add queries (at most one per REFRESH_MS per tab; a new range is asked at
  // once, and the service answers repeated asks from its shared answers).
  function refreshSoon() {
    if (state.inflight) {
      return; // the refresh under way schedules the next one
    }
    const wait = state.lastStartedAt + REFRESH_MS - Date.now();
    if (wait <= 0) {
      refresh();
      return;
    }
    stopTimer();
    state.timer = window.setTimeout(refresh, wait);
  }

  // ---- wiring ------------------------------------------------------------------------------

  function selectRange(range) {
    if (!RANGES[range] || range === state.range) {
      return;
    }
    state.range = range;
    window.history.replaceState(null, "", "#range=" + range);
    refresh();
  }

  function wire() {
    const selector = $("range-selector");
    for (const input of selector.querySelectorAll("input[name=range]")) {
      input.checked = input.value === state.range;
      input.addEventListener("change", () => {
        if (input.checked) {
          selectRange(input.value);
        }
      });
    }

    const toggle = $("live-toggle");
    toggle.addEventListener("click", () => {
      state.live = !state.live;
      toggle.setAttribute("aria-pressed", String(state.live));
      toggle.textContent = state.live ? "Pause" : "Resume";
      if (state.live) {
        refreshSoon();
      } else {
        stopTimer();
        setLive("paused", "Paused");
      }
    });

    // A click anywhere on an anomaly's row, or its Events button (keyboard), shows its events.
    $("table-anomalies").tBodies[0].addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-episode-id]");
      if (row) {
        selectEpisode(row.dataset.episodeId, row.querySelector("button"));
      }
    });
    $("episode-close").addEventListener("click", closeEpisode);
    $("episode-panel").addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        closeEpisode();
      }
    });

    $("key-change").addEventListener("click", () => {
      storeKey(null);
      memoryKey = null;
      showAuth("Enter another key with the read scope.", false);
    });

    $("auth-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("auth-key").value.trim();
      if (!key) {
        return;
      }
      storeKey(key);
      memoryKey = key;
      state.needsKey = false;
      $("auth-panel").hidden = true;
      setLive("live", "Checking key…");
      refresh();
    });

    document.addEventListener("visibilitychange", () => {
      if (document.hidden) {
        stopTimer();
      } else if (state.live) {
        refreshSoon();
      }
    });
  }

  function start() {
    // The same columns as the recent events, so one header serves both tables.
    $("table-episode-events").tBodies[0].before($("table-events").tHead.cloneNode(true));
    if (!window.Chart) {
      showBanner("The chart library did not load (/static/vendor/chartjs/chart.umd.min.js).");
      setLive("error", "Chart.js missing");
      return;
    }
    createCharts();
    wire();
    $("simulate-command").textContent =
      "signals simulate --url " + window.location.origin + " --rate 20 --duration 60";
    window.signalsDashboard = {
      refresh,
      state: () => ({
        range: state.range,
        live: state.live,
        refreshes: state.refreshes,
        needsKey: state.needsKey,
      }),
    };
    refresh();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
