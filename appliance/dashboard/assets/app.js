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
    kiosk.layout();
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
        kiosk.layout();
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

  // The kiosk shows the rows that fit on the screen and moves on to the
  // next screenful every ?rotate= seconds (default 10). After the last
  // screenful of the server's page it loads the server's next page
  // (?offset=, the pager's "next" link), and after the last page the
  // first: a new page brings its own stream (data-stream names its
  // offset), so the live feed always follows the page on screen.
  var kiosk = (function () {
    var on = document.body.classList.contains('kiosk') && tbody;
    var params = new URLSearchParams(location.search);
    var rotate = parseFloat(params.get('rotate'));
    if (!(rotate >= 0.5 && rotate <= 3600)) rotate = 10;
    var screens = [], at = 0;
    var label = document.getElementById('kiosk-screen');

    // layout splits the rows into screenfuls, each as many as fit below
    // the table's head, and shows screenful `at`.
    function layout() {
      if (!on) return;
      var rows = Array.prototype.slice.call(tbody.rows);
      rows.forEach(function (tr) { tr.classList.remove('kiosk-off'); });
      var pager = document.getElementById('pager');
      var room = window.innerHeight - tbody.getBoundingClientRect().top - window.scrollY -
        (pager ? pager.getBoundingClientRect().height : 0) - 60;
      screens = [];
      var cur = null, used = 0;
      rows.forEach(function (tr, i) {
        var h = tr.getBoundingClientRect().height;
        if (!cur || used + h > room) {
          cur = { from: i, to: i };
          screens.push(cur);
          used = 0;
        }
        cur.to = i + 1;
        used += h;
      });
      if (at >= screens.length) at = Math.max(0, screens.length - 1);
      show();
    }

    function show() {
      var s = screens[at];
      Array.prototype.forEach.call(tbody.rows, function (tr, i) {
        tr.classList.toggle('kiosk-off', !s || i < s.from || i >= s.to);
      });
      if (label) {
        label.textContent = screens.length > 1 ? 'screen ' + (at + 1) + ' of ' + screens.length +
          ' · next in ' + rotate + ' s' : '';
      }
    }

    // withRotate keeps the rotation period on the server's page links.
    function withRotate(href) {
      var u = new URL(href, location.href);
      if (params.has('rotate')) u.searchParams.set('rotate', params.get('rotate'));
      return u.pathname + u.search;
    }

    function advance() {
      if (at + 1 < screens.length) {
        at++;
        show();
        return;
      }
      var next = document.getElementById('next-page');
      if (next) {
        location.assign(withRotate(next.getAttribute('href')));
      } else if (params.has('offset') && params.get('offset') !== '0') {
        var first = new URL(location.href);
        first.searchParams.delete('offset');
        location.assign(first.pathname + first.search);
      } else if (screens.length > 1) {
        at = 0;
        show();
      }
    }

    if (on) {
      window.addEventListener('resize', layout);
      window.addEventListener('load', layout);
      layout();
      setInterval(advance, rotate * 1000);
    }
    return { layout: layout };
  })();

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
