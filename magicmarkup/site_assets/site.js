// The filter box of the index: show the tags whose path, status, note or code hold every word
// typed. The site's only script (the pages' Content-Security-Policy allows no other); it reads
// text from data attributes and never writes HTML.
"use strict";

function applyFilter(box, tags, groups, count) {
  const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const el of tags) {
    const text = el.dataset.search || "";
    const ok = words.every((w) => text.includes(w));
    el.hidden = !ok;
    if (ok) shown += 1;
  }
  // a group (a file, a status) with no tag left is hidden; inner groups first
  for (const group of groups) {
    group.hidden = group.querySelector(".tag:not([hidden])") === null;
  }
  count.textContent = words.length ? `${shown} of ${tags.length} tags` : `${tags.length} tags`;
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("filter");
  const count = document.getElementById("count");
  if (box === null || count === null) return;
  const tags = Array.from(document.querySelectorAll(".tag[data-search]"));
  const groups = Array.from(document.querySelectorAll("[data-group]")).reverse();
  const query = new URLSearchParams(window.location.search).get("q");
  if (query) box.value = query;
  box.addEventListener("input", () => applyFilter(box, tags, groups, count));
  applyFilter(box, tags, groups, count);
  document.body.dataset.ready = "1";
});
