// Findings: typing a label offers HPO terms (labels and synonyms, from the registry's HpoTerm table); choosing
// one (click, or arrow keys and Enter) fills the row's label and HPO id. Typing on without choosing keeps the
// label as typed (a finding HPO has no term for stays uncoded).
"use strict";
(function () {
  let list = null, input = null, timer = null, active = -1;

  function close() {
    if (list) list.remove();
    list = null; input = null; active = -1;
  }

  function choose(option) {
    const target = input;
    const id = document.getElementsByName(target.name.replace(/label$/, "hpo_id"))[0];
    target.value = option.dataset.label;
    if (id) id.value = option.dataset.id;
    close();
    target.dispatchEvent(new Event("change", {bubbles: true}));
    if (id) id.dispatchEvent(new Event("change", {bubbles: true}));
  }

  function show(field, results) {
    close();
    if (!results.length || document.activeElement !== field) return;
    input = field;
    list = document.createElement("ul");
    list.className = "hpo-options";
    list.setAttribute("role", "listbox");
    results.forEach(term => {
      const option = document.createElement("li");
      option.setAttribute("role", "option");
      option.dataset.id = term.id;
      option.dataset.label = term.label;
      option.textContent = term.label + (term.synonym ? " (" + term.synonym + ")" : "") + " · " + term.id;
      option.addEventListener("mousedown", event => { event.preventDefault(); choose(option); });
      list.appendChild(option);
    });
    const box = field.getBoundingClientRect();  // under the label, whatever the row's layout
    list.style.top = (box.bottom + window.scrollY) + "px";
    list.style.left = Math.max(0, Math.min(box.left, document.documentElement.clientWidth - 300) + window.scrollX) + "px";
    list.style.minWidth = box.width + "px";
    document.body.appendChild(list);
  }

  function highlight(n) {
    const options = list.querySelectorAll("li");
    active = (n + options.length) % options.length;
    options.forEach((o, i) => o.classList.toggle("active", i === active));
  }

  document.addEventListener("input", event => {
    const field = event.target;
    if (!field.dataset || !field.dataset.hpoLookup) return;
    clearTimeout(timer);
    const text = field.value.trim();
    if (text.length < 2) { close(); return; }
    timer = setTimeout(() => {
      fetch(field.dataset.hpoLookup + "?q=" + encodeURIComponent(text), {credentials: "same-origin"})
        .then(response => response.ok ? response.json() : {results: []})
        .then(data => { if (field.value.trim() === text) show(field, data.results); });
    }, 150);
  });

  document.addEventListener("keydown", event => {
    if (!list || event.target !== input) return;
    if (event.key === "ArrowDown") { highlight(active + 1); event.preventDefault(); }
    else if (event.key === "ArrowUp") { highlight(active - 1); event.preventDefault(); }
    else if (event.key === "Enter" && active >= 0) { choose(list.querySelectorAll("li")[active]); event.preventDefault(); }
    else if (event.key === "Escape") close();
  });

  document.addEventListener("focusout", event => { if (event.target === input) close(); });
})();
