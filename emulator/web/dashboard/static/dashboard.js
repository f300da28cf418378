/* The dashboard's buttons: each one calls the JSON admin API (/_admin/…) and reloads or
 * reports. Pages work without this file; it only adds the actions. No dependencies. */
(function () {
  "use strict";

  var FLASH_KEY = "oir-dashboard-flash";
  var body = document.body;

  function msg(name, fallback) {
    return body.getAttribute("data-msg-" + name) || fallback;
  }

  function flash(text, isError) {
    var box = document.getElementById("flash");
    if (!box) { return; }
    box.textContent = text;
    box.className = isError ? "error" : "";
    box.hidden = false;
  }

  function flashAfterReload(text) {
    try { window.sessionStorage.setItem(FLASH_KEY, text); } catch (e) { /* private mode */ }
  }

  function showPendingFlash() {
    var text = null;
    try {
      text = window.sessionStorage.getItem(FLASH_KEY);
      window.sessionStorage.removeItem(FLASH_KEY);
    } catch (e) { /* private mode */ }
    if (text) { flash(text, false); }
  }

  /* Call the admin API; resolves with the parsed JSON, rejects with a readable message.
   * A state-changing call is always JSON (or YAML for a scenario), and with an admin
   * token set it carries the session's CSRF token; the token itself is never in a page. */
  function admin(method, path, payload, contentType) {
    var headers = { "Content-Type": contentType || "application/json" };
    var meta = document.querySelector('meta[name="oir-csrf-token"]');
    if (meta) { headers["X-CSRF-Token"] = meta.getAttribute("content"); }
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (payload === undefined) { payload = {}; }
    init.body = typeof payload === "string" ? payload : JSON.stringify(payload);
    return window.fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { error: text }; }
        if (!response.ok) {
          var what = (data && data.error) || (response.status + " " + response.statusText);
          if (data && data.field) { what += " (" + data.field + ")"; }
          throw new Error(what);
        }
        return data;
      });
    });
  }

  function busy(element, on) {
    var buttons = document.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = on; }
    if (on) { flash(msg("working", "…"), false); }
    if (element && element.setAttribute) { element.setAttribute("aria-busy", on ? "true" : "false"); }
  }

  function fail(error) {
    busy(null, false);
    flash(msg("error", "Error") + ": " + error.message, true);
  }

  /* "+3 events: reminder_sent ×2, handover ×1" from the admin API's event list. */
  function describeEvents(result) {
    var events = (result && result.events) || [];
    var counts = {};
    var order = [];
    events.forEach(function (e) {
      var key = e.event || "?";
      if (!(key in counts)) { counts[key] = 0; order.push(key); }
      counts[key] += 1;
    });
    var parts = order.map(function (k) { return k + " ×" + counts[k]; });
    var now = (result && result.now ? result.now.replace("T", " ").slice(0, 16) : "");
    return "⏱ " + now + " — " + events.length + " " + msg("events", "events") +
      (parts.length ? ": " + parts.join(", ") : "");
  }

  function reloadWith(text) {
    flashAfterReload(text);
    window.location.reload();
  }

  function onAdvance(event) {
    var button = event.currentTarget;
    var days = parseInt(button.getAttribute("data-advance-days"), 10);
    busy(button, true);
    admin("POST", "/_admin/clock/advance", { days: days })
      .then(function (result) { reloadWith(describeEvents(result)); })
      .catch(fail);
  }

  function onSetClock(event) {
    event.preventDefault();
    var form = event.currentTarget;
    busy(form, true);
    admin("PUT", "/_admin/clock", { now: form.elements.now.value })
      .then(function (result) { reloadWith(describeEvents(result)); })
      .catch(fail);
  }

  function onFault(event) {
    event.preventDefault();
    var f = event.currentTarget.elements;
    var spec = {
      operation: f.operation.value,
      kind: f.kind.value,
      count: parseInt(f.count.value, 10),
      delay_ms: parseInt(f.delay_ms.value || "0", 10)
    };
    busy(event.currentTarget, true);
    admin("POST", "/_admin/faults", spec)
      .then(function (fault) {
        reloadWith("✓ " + fault.operation + ": " + fault.kind + " ×" + fault.count);
      })
      .catch(fail);
  }

  function onClearFaults(event) {
    busy(event.currentTarget, true);
    admin("DELETE", "/_admin/faults")
      .then(function (result) { reloadWith("✓ " + result.cleared); })
      .catch(fail);
  }

  function onScenario(event) {
    event.preventDefault();
    var form = event.currentTarget;
    busy(form, true);
    admin("POST", "/_admin/scenario", form.elements.scenario.value, "application/x-yaml")
      .then(function (summary) {
        busy(form, false);
        var out = document.getElementById("scenario-result");
        out.textContent = JSON.stringify(summary, null, 2);
        out.hidden = false;
        flash("✓ " + Object.keys(summary.accounts || {}).length + " / " +
              Object.keys(summary.claims || {}).length, false);
      })
      .catch(fail);
  }

  function onReset(event) {
    var button = event.currentTarget;
    if (button.getAttribute("data-armed") !== "yes") {
      button.setAttribute("data-armed", "yes");
      button.setAttribute("data-label", button.textContent);
      button.textContent = button.getAttribute("data-confirm") || button.textContent;
      window.setTimeout(function () {
        button.setAttribute("data-armed", "no");
        button.textContent = button.getAttribute("data-label");
      }, 5000);
      return;
    }
    busy(button, true);
    admin("POST", "/_admin/reset")
      .then(function () { flashAfterReload("✓ reset"); window.location.href = "/"; })
      .catch(fail);
  }

  function on(selector, type, handler) {
    var nodes = document.querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i++) { nodes[i].addEventListener(type, handler); }
  }

  showPendingFlash();
  on("[data-advance-days]", "click", onAdvance);
  on("#set-clock", "submit", onSetClock);
  on("#fault-form", "submit", onFault);
  on("#clear-faults", "click", onClearFaults);
  on("#scenario-form", "submit", onScenario);
  on("#reset", "click", onReset);
}());
