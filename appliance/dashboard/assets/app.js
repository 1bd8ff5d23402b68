// tanjay dashboard: live updates over server-sent events, sorting and
// filtering of the phone table. No framework, no network but this origin.
(function () {
  'use strict';
  var table = document.getElementById('phones');
  var tbody = document.getElementById('rows');
  var filter = document.getElementById('filter');
  var stageFilter = document.getElementById('stage-filter');
  var shown = document.getElementById('shown');
  var sortCol = -1, sortDir = 1;

  function key(tr, i) {
    var td = tr.cells[i];
    if (!td) return '';
    return td.hasAttribute('data-v') ? td.getAttribute('data-v') : td.textContent.trim().toLowerCase();
  }

  function applySort() {
    if (!tbody || sortCol < 0) return;
    var numeric = table.tHead.rows[0].cells[sortCol].hasAttribute('data-num');
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = key(a, sortCol), y = key(b, sortCol);
      if (numeric) return (Number(x) - Number(y)) * sortDir;
      return x < y ? -sortDir : x > y ? sortDir : 0;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r); });
    tbody.appendChild(frag);
  }

  function applyFilter() {
    if (!tbody) return;
    var text = filter ? filter.value.trim().toLowerCase() : '';
    var stage = stageFilter ? stageFilter.value : '';
    var n = 0, total = tbody.rows.length;
    for (var i = 0; i < total; i++) {
      var tr = tbody.rows[i];
      var ok = (!stage || tr.getAttribute('data-stage') === stage) &&
        (!text || tr.textContent.toLowerCase().indexOf(text) >= 0);
      tr.hidden = !ok;
      if (ok) n++;
    }
    if (shown) shown.textContent = (n === total ? total : n + ' of ' + total) + ' phone' + (total === 1 ? '' : 's');
  }

  if (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener('click', function () {
        sortDir = sortCol === i ? -sortDir : 1;
        sortCol = i;
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.classList.remove('asc', 'desc'); });
        th.classList.add(sortDir > 0 ? 'asc' : 'desc');
        applySort();
      });
    });
  }
  if (filter) filter.addEventListener('input', applyFilter);
  if (stageFilter) stageFilter.addEventListener('change', applyFilter);
  applyFilter();

  // A "rows" event carries the changed phones' rows and the summary, rendered
  // by the server; a "refresh" event means we missed updates: re-read the
  // live parts of this page.
  function applyRows(up) {
    var summary = document.getElementById('summary');
    if (summary && up.summary) summary.innerHTML = up.summary;
    if (!tbody) return;
    (up.rows || []).forEach(function (r) {
      var t = document.createElement('template');
      t.innerHTML = r.html.trim();
      var tr = t.content.firstElementChild;
      var old = document.getElementById('r-' + r.id);
      if (old) old.replaceWith(tr); else tbody.appendChild(tr);
      tr.classList.add('changed');
    });
    (up.removed || []).forEach(function (id) {
      var old = document.getElementById('r-' + id);
      if (old) old.remove();
    });
    applySort();
    applyFilter();
  }

  var refreshing = false, again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(location.href, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) { return res.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        document.querySelectorAll('[data-live]').forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh) el.innerHTML = fresh.innerHTML;
        });
        applySort();
        applyFilter();
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  var stream = document.body.getAttribute('data-stream');
  var live = document.getElementById('live');
  if (stream && window.EventSource) {
    var es = new EventSource('/events?' + stream);
    es.addEventListener('open', function () { if (live) live.classList.add('on'); });
    es.addEventListener('error', function () { if (live) live.classList.remove('on'); });
    es.addEventListener('rows', function (e) { applyRows(JSON.parse(e.data)); });
    es.addEventListener('refresh', refresh);
  }
})();
