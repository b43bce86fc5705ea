// Keeps deadline countdowns ticking without reloading: each .countdown[data-due] shows the time left (or
// overdue) to its ISO time. The server renders the same text, so the page works without this script.
(function () {
  function render(el) {
    var seconds = Math.round((Date.parse(el.dataset.due) - Date.now()) / 1000);
    var hours = Math.floor(Math.abs(seconds) / 3600);
    var text = hours >= 24 ? Math.floor(hours / 24) + " d " + (hours % 24) + " h"
                           : hours + " h " + Math.floor((Math.abs(seconds) % 3600) / 60) + " min";
    el.textContent = (seconds < 0 ? "overdue by " : "") + text;
    el.classList.toggle("overdue", seconds < 0);
  }
  function tick() { document.querySelectorAll(".countdown[data-due]").forEach(render); }
  tick();
  setInterval(tick, 30000);
})();
