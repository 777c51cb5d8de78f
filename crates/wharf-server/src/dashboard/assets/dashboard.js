// Wharf dashboard: live updates of a deploy's page. Plain JavaScript, no dependencies;
// the pages work without it (they just do not update by themselves).
(function () {
  'use strict';
  // The overview while deploys run: re-read the table every few seconds until none does.
  var overview = document.querySelector('#overview[data-refresh]');
  if (overview) {
    var every = 1000 * Number(overview.dataset.refresh);
    var poll = function () {
      fetch(window.location.href, { credentials: 'same-origin' })
        .then(function (response) { return response.text(); })
        .then(function (text) {
          var fresh = new DOMParser().parseFromString(text, 'text/html').getElementById('overview');
          if (!fresh) { return; }
          overview.innerHTML = fresh.innerHTML;
          if (fresh.dataset.refresh) { window.setTimeout(poll, every); }
        })
        .catch(function () { window.setTimeout(poll, every); });
    };
    window.setTimeout(poll, every);
  }
}());

(function () {
  'use strict';
  var live = document.getElementById('live');
  var list = document.getElementById('events');
  if (!live || !list || live.dataset.settled === 'true' || !window.EventSource) { return; }
  var id = live.dataset.deploy;
  var source = new EventSource('/deploys/' + id + '/events?after=' + (live.dataset.lastEvent || '0'));
  var refreshing = false, again = false;

  function describe(event) {
    var fields = [];
    var body = event.body || {};
    Object.keys(body).sort().forEach(function (key) {
      var value = body[key];
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        fields.push(key + ': ' + value);
      }
    });
    return fields.join(', ');
  }

  function append(event) {
    if (list.querySelector('li[data-id="' + event.id + '"]')) { return; }
    var item = document.createElement('li');
    item.dataset.id = event.id;
    var when = document.createElement('time');
    when.dateTime = event.at;
    when.textContent = event.at.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
    var kind = document.createElement('strong');
    kind.textContent = event.kind;
    item.appendChild(when);
    item.appendChild(document.createTextNode(' '));
    item.appendChild(kind);
    var text = describe(event);
    if (text) { item.appendChild(document.createTextNode(' — ' + text)); }
    list.appendChild(item);
  }

  // Re-read the page and swap the parts that change (summary, actions, stages, nodes).
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(window.location.pathname, { credentials: 'same-origin' })
      .then(function (response) { return response.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var fresh = doc.getElementById('live');
        if (fresh) {
          var focused = document.activeElement && document.activeElement.id;
          live.innerHTML = fresh.innerHTML;
          live.dataset.settled = fresh.dataset.settled;
          if (focused && document.getElementById(focused)) { document.getElementById(focused).focus(); }
          if (fresh.dataset.settled === 'true') {
            source.close();
            var note = document.getElementById('live-note');
            if (note) { note.textContent = 'This deploy is over.'; }
          }
        }
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  function onEvent(message) {
    try { append(JSON.parse(message.data)); } catch (e) { return; }
    refresh();
  }

  ['deploy.started', 'stage.started', 'checks.finished', 'stage.finished', 'deploy.paused',
   'deploy.waiting', 'deploy.finished', 'deploy.succeeded', 'deploy.failed', 'deploy.interrupted',
   'deploy.cancelled', 'deploy.cancel_requested', 'deploy.approve', 'deploy.resume',
   'downgrade.announced', 'downgrade.completed'].forEach(function (kind) {
    source.addEventListener(kind, onEvent);
  });
  source.onmessage = onEvent;
  // The stream ends when the deploy stops; the refresh then sees it settled and closes.
  source.onerror = function () { refresh(); };
}());
