/* Kiosk mode: back to the start after a minute without a touch, screens that follow
   an order reloaded every few seconds, the number pad without a round trip, and the
   receipt's print button. Every page works without this file: the pad's keys are
   submit buttons, and <noscript> meta refreshes reset and follow. */
(function () {
  "use strict";

  var screen = document.querySelector("[data-kiosk-home]");
  var home = screen ? screen.getAttribute("data-kiosk-home") : "/kiosk";
  var idleSeconds = screen ? parseInt(screen.getAttribute("data-kiosk-idle"), 10) : 60;
  if (!(idleSeconds > 0)) {
    idleSeconds = 60;
  }

  var timer = null;
  function restartIdleTimer() {
    if (timer !== null) {
      window.clearTimeout(timer);
    }
    timer = window.setTimeout(function () {
      window.location.assign(home);
    }, idleSeconds * 1000);
  }
  ["pointerdown", "keydown", "input", "wheel"].forEach(function (name) {
    document.addEventListener(name, restartIdleTimer, { passive: true, capture: true });
  });
  restartIdleTimer();

  var follow = screen ? parseInt(screen.getAttribute("data-kiosk-follow"), 10) : 0;
  if (follow > 0) {
    window.setTimeout(function () {
      window.location.reload();
    }, follow * 1000);
  }

  var field = document.getElementById("digits");
  if (field) {
    var limit = parseInt(field.getAttribute("maxlength"), 10) || 16;
    var pad = document.querySelectorAll(".keypad button[name=key]");
    Array.prototype.forEach.call(pad, function (button) {
      button.addEventListener("click", function (event) {
        var key = button.value;
        var value = field.value;
        if (key === "clear") {
          value = "";
        } else if (key === "back") {
          value = value.slice(0, -1);
        } else if (/^[0-9]$/.test(key)) {
          if (value.length < limit) {
            value += key;
          }
        } else {
          return; /* anything else goes to the server */
        }
        event.preventDefault();
        field.value = value;
      });
    });
  }

  var print = document.querySelectorAll("[data-kiosk-print]");
  Array.prototype.forEach.call(print, function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
