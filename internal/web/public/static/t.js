/* fairlead tracking (docs/tracking.md). Keeps no HTTP state. Before the site
   reports consent (data-consent="tracking" or fairlead.consent()) it neither
   reads nor writes the device's storage and sends no event: events wait in
   memory. Global Privacy Control stops it and sends one objection. */
(function (w, d, n) {
  var s = d.currentScript, base = new URL(s.src).origin, ws = s.getAttribute('data-workspace') || '';
  var K = 'fairlead_vt', gpc = n.globalPrivacyControl === true, ok = false, tok = '', q = [];
  function ls(f) { try { return f(w.localStorage); } catch (e) { return null; } }
  function post(body, done) {
    fetch(base + '/p/t', {method: 'POST', keepalive: true, credentials: 'omit', headers: {'Content-Type': 'text/plain'}, body: JSON.stringify(body)})
      .then(function (r) { return r.json(); }).then(done || function () {}).catch(function () {});
  }
  function flush() {
    if (gpc || !ok || !tok || !q.length) return;
    var e = q; q = [];
    post({w: ws, v: tok, e: e}, function (j) {
      // The token stays on the device only while the server finds a
      // tracking consent for it.
      if (j && j.identified) { ls(function (l) { l.setItem(K, tok); }); }
      else { ls(function (l) { l.removeItem(K); }); tok = ''; }
    });
  }
  function track(type, name, props) {
    if (gpc) return;
    q.push({type: type, name: String(name || '').slice(0, 200), props: props || {}});
    if (q.length > 50) q.shift();
    flush();
  }
  function consent(t) {
    if (gpc) return;
    ok = true;
    tok = t || tok || ls(function (l) { return l.getItem(K); }) || '';
    flush();
  }
  w.fairlead = {
    track: track,
    consent: consent,
    revoke: function () { ok = false; q = []; tok = ''; ls(function (l) { l.removeItem(K); }); }
  };
  if (gpc) { post({w: ws, gpc: true}); return; }
  // A consented identification link may carry the token (?fl_vt=...).
  var m = /[?&]fl_vt=([A-Za-z0-9_-]+)/.exec(w.location.search);
  if (m) tok = m[1];
  track('page_view', w.location.pathname);
  d.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a[data-fairlead-download]');
    if (a) track('download', a.getAttribute('data-fairlead-download') || a.pathname);
  });
  if (s.getAttribute('data-consent') === 'tracking' || m) consent();
})(window, document, navigator);
