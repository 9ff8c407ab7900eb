// porch-embedded dashboard: htmx settings and small page behaviours (no build step).
document.addEventListener("DOMContentLoaded", function () {
  // Errors (4xx, 5xx) are swapped too: the server retargets them into the message area.
  htmx.config.responseHandling = [
    {code: "204", swap: false},
    {code: "[23]..", swap: true},
    {code: "[45]..", swap: true, error: true},
  ];
  htmx.config.historyCacheSize = 0;
});
