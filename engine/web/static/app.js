// pathway pages: after htmx swaps the main region (a form posted in place), move keyboard focus
// to the message it carries (changed since you read it, nothing written, done), else to the
// heading, so keyboard and screen-reader users land on what changed. Pages work without it.
document.addEventListener("htmx:afterSettle", function (event) {
  var target = event.detail && event.detail.target;
  var main = document.getElementById("main");
  if (!main || !target || (target !== main && target.id !== "main" && !target.isConnected)) {
    return;
  }
  var spot = main.querySelector("#stale, [role=alert], [role=status]") || main.querySelector("h1");
  if (spot) {
    spot.setAttribute("tabindex", "-1");
    spot.focus();
  }
});
