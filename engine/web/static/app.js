// pathway pages. Pages work without this script; with it, keyboard and screen-reader users land
// on what changed:
// - after htmx swaps the main region (a form posted in place), focus moves to the message it
//   carries (changed since you read it, nothing written, done), else to the heading;
// - after htmx swaps a part of the page (a list's table after filtering, sorting or paging, a
//   result that finished computing), focus stays where it was (htmx keeps an element with an
//   id; when the focused element is gone, focus goes to the part's summary) and the part's summary
//   ([data-announce]) is read out through the page's live region (#announce), which is in the
//   page from the start (a live region swapped in with its text is not announced);
// - an error page answering a part of the page replaces the main region instead (and takes
//   focus, as above); a computation's poll that is still pending swaps nothing;
// - a page loaded with an error message (a refused log-in, a refused admin form, an error page)
//   has focus on that message.
(function () {
  function focusOn(spot) {
    if (!spot.hasAttribute("tabindex")) {
      spot.setAttribute("tabindex", "-1");
    }
    spot.focus();
  }

  function announce(text) {
    var region = document.getElementById("announce");
    if (!region || !text) {
      return;
    }
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = text;
    }, 50);
  }

  var focusWasIn = null; // the part being swapped, when focus was in it

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail || {};
    var elt = detail.elt;
    var answer = detail.xhr ? String(detail.xhr.response || "") : "";
    if (elt && elt.id === "pending" && answer.indexOf('id="pending"') !== -1) {
      detail.shouldSwap = false; // still working it out: keep the message, no churn every 3 s
      return;
    }
    var main = document.getElementById("main");
    if (main && detail.target && detail.target !== main && detail.xhr && detail.xhr.status >= 400) {
      // an error page answering a part of the page (a list's page that is gone, a filter
      // refused): show it as the page's main, not a whole page nested inside the list
      detail.target = main;
      detail.selectOverride = "#main";
      detail.swapOverride = "outerHTML";
    }
    focusWasIn = detail.target && detail.target.contains(document.activeElement) ? detail.target : null;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    var main = document.getElementById("main");
    if (!main || !target) {
      return;
    }
    if (target === main || target.id === "main") {
      var spot = main.querySelector("#stale, [role=alert], [role=status]") || main.querySelector("h1");
      if (spot) {
        focusOn(spot);
      }
      return;
    }
    var part = target.isConnected ? target : (target.id && document.getElementById(target.id));
    if (!part) {
      return;
    }
    var summary = part.matches("[data-announce]") ? part : part.querySelector("[data-announce]");
    if (summary) {
      announce(summary.getAttribute("data-announce") || summary.textContent.replace(/\s+/g, " ").trim());
    }
    var active = document.activeElement;
    var lost = !active || active === document.body || !active.isConnected;
    if (lost && focusWasIn === target) {
      focusOn(summary || part);
    }
    focusWasIn = null;
  });

  function alertOnLoad() {
    var main = document.getElementById("main");
    var alert = main && main.querySelector("[role=alert]");
    if (alert && (document.activeElement === document.body || !document.activeElement)) {
      focusOn(alert);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", alertOnLoad);
  } else {
    alertOnLoad();
  }
})();
