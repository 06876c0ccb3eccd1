// tisa console: live updates. The console's only script, served by the
// console itself (/console.js; the Content-Security-Policy allows no other
// and no inline script). It listens to the console's server-sent events
// (/events) and updates the pending badge and the missile-track map.
// Everything it inserts goes through textContent, setAttribute and DOM
// element creation: never innerHTML, so no received text becomes markup.
(function () {
  "use strict";
  var badge = document.getElementById("pending-count");
  if (!badge || !window.EventSource) {
    return; // logged out, or no EventSource: the pages work without it
  }
  var SVG = "http://www.w3.org/2000/svg";

  function el(parent, name, attrs) {
    var n = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
    parent.appendChild(n);
    return n;
  }

  function f(v) { return Number(v).toFixed(1); }

  function points(list) {
    return list.map(function (p) { return f(p[0]) + "," + f(p[1]); }).join(" ");
  }

  // The same shapes as the server draws (tisa-console src/map.rs `track`).
  function drawTrack(svg, t) {
    var g = el(svg, "g", { "class": "track", "data-track": t.id });
    el(g, "polyline", { "class": "path", points: points([t.launch].concat(t.path)) });
    var now = t.path.length ? t.path[t.path.length - 1] : null;
    if (now && t.impact) {
      var ix = t.impact[0], iy = t.impact[1];
      el(g, "line", { "class": "predicted", x1: f(now[0]), y1: f(now[1]), x2: f(ix), y2: f(iy) });
      var imp = el(g, "g", { "class": "impact" });
      el(imp, "circle", { cx: f(ix), cy: f(iy), r: 9 });
      el(imp, "line", { x1: f(ix - 6), y1: f(iy - 6), x2: f(ix + 6), y2: f(iy + 6) });
      el(imp, "line", { x1: f(ix - 6), y1: f(iy + 6), x2: f(ix + 6), y2: f(iy - 6) });
    }
    el(g, "rect", { "class": "launch", x: f(t.launch[0] - 5), y: f(t.launch[1] - 5), width: 10, height: 10 });
    if (now) {
      el(g, "circle", { "class": "position", cx: f(now[0]), cy: f(now[1]), r: 6 });
      el(g, "text", { "class": "tracklabel", x: f(now[0] - 20), y: f(now[1] + 26) }).textContent = t.label;
    }
  }

  function showTracks(tracks) {
    var svg = document.getElementById("map");
    var body = document.querySelector("#tracks tbody");
    if (!svg || !body) {
      return;
    }
    svg.querySelectorAll("g.track").forEach(function (g) { svg.removeChild(g); });
    tracks.forEach(function (t) { drawTrack(svg, t); });
    while (body.firstChild) {
      body.removeChild(body.firstChild);
    }
    tracks.forEach(function (t) {
      var tr = document.createElement("tr");
      t.row.forEach(function (cell) {
        var td = document.createElement("td");
        td.textContent = cell;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    var none = document.getElementById("no-tracks");
    if (none) {
      none.hidden = tracks.length > 0;
    }
  }

  var events = new EventSource("/events");
  events.addEventListener("pending", function (e) {
    var n = parseInt(e.data, 10);
    if (!isNaN(n)) {
      badge.textContent = n > 0 ? String(n) : ""; // empty: hidden (none awaits you)
    }
  });
  events.addEventListener("tracks", function (e) {
    try {
      showTracks(JSON.parse(e.data).tracks);
    } catch (err) {
      // A malformed event changes nothing on the page.
    }
  });
})();
