/* A page that follows an order (data-follow="seconds" on an element) reloads itself
   until the order is settled. Without JavaScript, a <noscript> meta refresh does it. */
(function () {
  "use strict";
  var element = document.querySelector("[data-follow]");
  var seconds = element ? parseInt(element.getAttribute("data-follow"), 10) : 0;
  if (seconds > 0) {
    window.setTimeout(function () {
      window.location.reload();
    }, seconds * 1000);
  }
})();
