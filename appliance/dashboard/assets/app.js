// tanjay dashboard: live updates over server-sent events, sorting and
// filtering of the phone table. No framework, no network but this origin.
(function () {
  'use strict';
  // The phone table is one page of the fleet, filtered and sorted by the
  // server: headers, the filter form and the pager are plain links and a
  // GET form, so they work without this script. The script submits the
  // stage choice at once and keeps the page live.
  var tbody = document.getElementById('rows');
  var query = document.getElementById('fleet-query');
  var stageFilter = document.getElementById('stage-filter');
  if (query && stageFilter) stageFilter.addEventListener('change', function () { query.submit(); });

  // A "rows" event carries the changed phones' rows and the summary,
  // rendered by the server: rows this page shows are replaced in place,
  // rows of other pages are not this page's. New phones may belong on
  // this page, so they bring a (throttled) refresh of the live parts; a
  // "refresh" event means we missed updates: the same.
  function applyRows(up) {
    var summary = document.getElementById('summary');
    if (summary && up.summary) summary.innerHTML = up.summary;
    if (!tbody) return;
    (up.rows || []).forEach(function (r) {
      var old = document.getElementById('r-' + r.id);
      if (!old) return;
      var t = document.createElement('template');
      t.innerHTML = r.html.trim();
      var tr = t.content.firstElementChild;
      old.replaceWith(tr);
      tr.classList.add('changed');
    });
    (up.removed || []).forEach(function (id) {
      var old = document.getElementById('r-' + id);
      if (old) old.remove();
    });
    if (up.added) refreshSoon();
  }

  var refreshAfter = 5000, lastRefresh = 0, refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer) return;
    var wait = Math.max(0, lastRefresh + refreshAfter - Date.now());
    refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, wait);
  }

  var refreshing = false, again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    lastRefresh = Date.now();
    fetch(location.href, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) {
        // 503: the server is busy; the next change or refresh tries again.
        if (!res.ok) throw new Error(res.status);
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        document.querySelectorAll('[data-live]').forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh) el.innerHTML = fresh.innerHTML;
        });
        // The server sends a fleet stream the rows of the phones its page
        // showed when it opened: the table changed, so open it again.
        if (tbody) connect();
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  var stream = document.body.getAttribute('data-stream');
  var live = document.getElementById('live');
  var es = null;
  function connect() {
    if (!stream || !window.EventSource) return;
    if (es) es.close();
    es = new EventSource('/events?' + stream);
    es.addEventListener('open', function () { if (live) live.classList.add('on'); });
    es.addEventListener('error', function () { if (live) live.classList.remove('on'); });
    es.addEventListener('rows', function (e) { applyRows(JSON.parse(e.data)); });
    es.addEventListener('refresh', refresh);
  }
  connect();
})();
