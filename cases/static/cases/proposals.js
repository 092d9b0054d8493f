// "Propose from text" (proposals_panel.html): asks the case admin's propose/ view for the facts drawn from the
// source's text, highlights their mentions in the text, lists them by kind, and turns the ones the curator accepts
// into rows of the inline forms below (filled, with quote and offsets; nothing is saved until Save). Proposals
// already in the record are marked, not added again. The highlights use the CSS Custom Highlight API, so the
// workspace's own painting of quotes (workspace.js) is left alone.
"use strict";
(function () {
  const panel = document.getElementById("proposals");
  const holder = document.getElementById("source-text");
  if (!panel || !holder) return;
  const button = document.getElementById("propose-button");
  const list = document.getElementById("proposals-list");
  const status = document.getElementById("proposals-status");
  const textData = document.getElementById("source-text-data");
  const text = textData ? JSON.parse(textData.textContent) : "";
  const toUnits = n => Array.from(text).slice(0, n).join("").length;  // code points -> UTF-16 units
  const ROW = ".compact-row:not(.empty-form)";

  // The kinds, in the order the curator reads them, and the inline each becomes a row of.
  const KINDS = [
    {kind: "patient", title: "Patient"},
    {kind: "lab", title: "Lab results", prefix: "labs"},
    {kind: "intervention", title: "Agents and interventions", prefix: "interventions"},
    {kind: "metastasis", title: "Metastases (present or absent)", prefix: "metastases"},
    {kind: "finding", title: "Findings (HPO)", prefix: "findings"},
    {kind: "tumor", title: "Tumor: receptors, TNM, histology", prefix: "tumors"},
  ];
  const PREFIX = Object.fromEntries(KINDS.map(k => [k.kind, k.prefix]));
  const DEFAULTS = new Set(["", "unknown", "not_reported"]);  // a tumor field still at its default may be filled
  let proposals = [];

  // --- words, not codes: labels from the form's own choices ----------------------------------------------------
  function optionLabel(prefix, name, value) {
    const select = document.querySelector(`#${prefix}-empty [name$="-${name}"]`);
    const option = select && Array.from(select.options || []).find(o => o.value === String(value));
    return option ? option.textContent : String(value);
  }
  function number(v) { return v === undefined || v === null ? "" : String(v); }

  function describe(p) {
    const f = p.fields;
    switch (p.kind) {
      case "patient": {
        const select = document.getElementById("id_sex");
        const option = select && Array.from(select.options).find(o => o.value === f.sex);
        const sex = f.sex ? ", " + (option ? option.textContent : f.sex).toLowerCase() : "";
        return `${f.age_years} years${sex}`;
      }
      case "lab": {
        const name = optionLabel("labs", "analyte", f.analyte);
        let value = f.value !== undefined ? (f.comparator || "") + number(f.value) +
          (f.value_high !== undefined ? "–" + number(f.value_high) : "") + (f.unit ? " " + f.unit : "") : "";
        if (!value && f.qualitative) value = optionLabel("labs", "qualitative", f.qualitative).toLowerCase();
        const ref = f.ref_low !== undefined || f.ref_high !== undefined
          ? ` (reference ${number(f.ref_low)}–${number(f.ref_high)})` : "";
        return `${name}: ${value}${ref}`;
      }
      case "intervention": {
        const name = p.agent ? p.agent.name : f.agent_text;
        const extra = [f.dose_text, f.route, f.cycles ? f.cycles + " cycles" : "", f.duration_text ? "for " + f.duration_text : "",
          f.status && f.status !== "administered" ? f.status.replace(/_/g, " ") : ""].filter(Boolean);
        return name + (extra.length ? " — " + extra.join(", ") : "");
      }
      case "metastasis":
        return `${optionLabel("metastases", "site", f.site)} — ${f.present ? "present" : "absent"}`;
      case "finding":
        return `${f.label}${f.hpo_id ? " (" + f.hpo_id + ")" : ""} — ${f.present ? "present" : "absent"}`;
      case "tumor":
        return Object.entries(f).filter(([k]) => k !== "timing_text").map(([k, v]) => {
          if (k === "tnm_reported") return "TNM " + v;
          if (k === "histology") return "histology: " + v;
          const label = {er: "ER", pr: "PR", her2: "HER2", hormone_receptor: "hormone receptor", site: "site",
            grade: "grade"}[k] || k;
          return `${label} ${optionLabel("tumors", k, v).toLowerCase()}`;
        }).join(", ");
    }
    return p.quote;
  }

  // --- the record on the page ----------------------------------------------------------------------------------
  function liveRows(prefix) {
    const group = document.getElementById(prefix + "-group");
    return group ? Array.from(group.querySelectorAll(ROW))
      .filter(r => !r.querySelector("input[name$='-DELETE']:checked")) : [];
  }
  function input(row, name) { return row.querySelector(`[name="${row.id}-${name}"]`); }
  function valueOf(el) {
    if (!el) return undefined;
    return el.type === "checkbox" ? el.checked : el.value;
  }
  const same = (a, b) => a !== undefined && b !== undefined && String(a) !== "" && (Number(a) === Number(b) ||
    String(a).toLowerCase() === String(b).toLowerCase());

  function rowHolds(row, p) {
    const f = p.fields, get = name => valueOf(input(row, name));
    switch (p.kind) {
      case "lab":
        return get("analyte") === f.analyte && (f.value !== undefined ? same(get("value"), f.value) &&
          (!f.unit || get("unit") === f.unit) : get("qualitative") === f.qualitative);
      case "intervention":
        return p.agent ? String(get("agent")) === String(p.agent.id)
          : (get("agent_text") || "").toLowerCase() === (f.agent_text || "").toLowerCase();
      case "metastasis":
        return get("site") === f.site && get("present") === f.present;
      case "finding":
        return (f.hpo_id ? get("hpo_id") === f.hpo_id : same(get("label"), f.label)) && get("present") === f.present;
      case "tumor":
        return Object.entries(f).every(([k, v]) => k === "timing_text" || same(get(k), v));
    }
    return false;
  }

  function inRecord(p) {
    if (p.kind === "patient") {
      const age = document.getElementById("id_age_years"), sex = document.getElementById("id_sex");
      return age && same(age.value, p.fields.age_years) && (!p.fields.sex || (sex && sex.value === p.fields.sex));
    }
    if (p.row && document.contains(p.row)) return true;  // its row, even where the curator changed it since
    return liveRows(PREFIX[p.kind]).some(row => rowHolds(row, p));
  }

  // --- accepting: a new row (or the tumor row / patient fields), filled, not saved ------------------------------
  function setField(el, value, label) {
    if (!el) return;
    if (el.type === "checkbox") { el.checked = Boolean(value); return; }
    if (el.tagName === "SELECT" && !Array.from(el.options).some(o => o.value === String(value))) {
      if (label === undefined) return;  // not one of the choices: left for the curator
      el.appendChild(new Option(label, value, true, true));
    }
    el.value = value;
    if (el.tagName === "SELECT" && window.django && django.jQuery) django.jQuery(el).trigger("change.select2");
  }

  function addRow(prefix) {
    const group = document.getElementById(prefix + "-group");
    const link = group && group.querySelector(".add-row a");
    if (!link) return null;  // the user may not add rows here
    link.click();  // Django's inlines.js: a new form, and "formset:added" (workspace.js places it on the timeline)
    const rows = group.querySelectorAll(ROW);
    return rows[rows.length - 1];
  }

  // A tumor fact goes to a tumor row it fits (its fields still at their defaults or the same); of several, the one
  // quoted nearest in the text: "HR positive" printed after a histology belongs to that tumor.
  function tumorRowFor(p) {
    const fits = liveRows("tumors").filter(row => Object.entries(p.fields).every(([k, v]) =>
      k === "timing_text" || !input(row, k) || DEFAULTS.has(valueOf(input(row, k))) || same(valueOf(input(row, k)), v)));
    const distance = row => {
      const start = input(row, "quote_start");
      return start && start.value !== "" ? Math.abs(Number(start.value) - p.span[0]) : Infinity;
    };
    return fits.reduce((best, row) => (best === undefined || distance(row) < distance(best) ? row : best), undefined);
  }

  function accept(p) {
    if (inRecord(p)) return null;  // also after accepting: an accepted row removed again can be accepted again
    if (p.kind === "patient") {
      setField(document.getElementById("id_age_years"), p.fields.age_years);
      if (p.fields.sex) setField(document.getElementById("id_sex"), p.fields.sex);
      p.state = "accepted";
      return document.getElementById("id_age_years");
    }
    const row = (p.kind === "tumor" && tumorRowFor(p)) || addRow(PREFIX[p.kind]);
    if (!row) return null;
    for (const [name, value] of Object.entries(p.fields)) {
      if (p.kind === "tumor" && input(row, name) && !DEFAULTS.has(valueOf(input(row, name)))) continue;
      setField(input(row, name), value);
    }
    if (p.agent) setField(input(row, "agent"), p.agent.id, p.agent.name);
    const quote = input(row, "quote");
    if (quote && !quote.value) {
      quote.value = p.quote;
      setField(input(row, "quote_start"), p.span[0]);
      setField(input(row, "quote_end"), p.span[1]);
      const shown = row.querySelector(".quote-preview");
      if (shown) shown.textContent = "“" + p.quote + "”";
    }
    row.classList.add("row-proposed");
    p.state = "accepted";
    p.row = row;
    return row;
  }

  function edit(p) {
    const target = accept(p) || p.row || (p.kind === "patient" ? document.getElementById("id_age_years") : null);
    if (!target) return;
    if (target.classList && target.classList.contains("compact-row")) {
      const details = target.querySelector(".row-details");
      if (details) details.open = true;
      target.scrollIntoView({block: "center"});
      const first = target.querySelector(".cell input:not([type=hidden]), .cell select");
      if (first) first.focus();
    } else {
      target.scrollIntoView({block: "center"});
      target.focus();
    }
  }

  // --- highlights in the source text ----------------------------------------------------------------------------
  function rangeAt(start, end) {
    const walker = document.createTreeWalker(holder, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    let seen = 0, node, started = false;
    while ((node = walker.nextNode())) {
      const len = node.textContent.length;
      if (!started && start <= seen + len) { range.setStart(node, start - seen); started = true; }
      if (started && end <= seen + len) { range.setEnd(node, end - seen); return range; }
      seen += len;
    }
    return null;
  }

  let current = null;  // [start, end) shown to the curator by "show"
  function highlight() {
    if (!window.CSS || !CSS.highlights || typeof Highlight === "undefined") return;
    const open = proposals.filter(p => p.state !== "rejected");
    const ranges = open.flatMap(p => p.mentions.map(([s, e]) => rangeAt(toUnits(s), toUnits(e)))).filter(Boolean);
    CSS.highlights.set("case-proposal", new Highlight(...ranges));
    const shown = current && rangeAt(toUnits(current[0]), toUnits(current[1]));
    if (shown) CSS.highlights.set("case-proposal-current", new Highlight(shown));
    else CSS.highlights.delete("case-proposal-current");
  }
  // workspace.js repaints the text (its quote marks) on every row change: highlight the new text nodes again.
  new MutationObserver(() => { if (proposals.length) highlight(); }).observe(holder, {childList: true});

  function show(p) {
    const next = p.mentions[((p.shown === undefined ? -1 : p.shown) + 1) % p.mentions.length];
    p.shown = p.mentions.indexOf(next);
    current = next;
    highlight();
    const range = rangeAt(toUnits(next[0]), toUnits(next[1]));
    if (range) {
      const box = range.getBoundingClientRect(), pane = holder.getBoundingClientRect();
      holder.scrollTop += box.top - pane.top - holder.clientHeight / 3;
    }
  }

  // --- the list --------------------------------------------------------------------------------------------------
  function el(tag, cls, textContent) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (textContent !== undefined) node.textContent = textContent;
    return node;
  }
  function action(label, cls, onClick, title) {
    const b = el("button", "button proposal-" + cls, label);
    b.type = "button";
    if (title) b.title = title;
    b.addEventListener("click", event => { event.preventDefault(); onClick(); render(); });
    return b;
  }

  // Accepted together: in the order of the mentions they quote, so that the rows' timeline follows the text.
  const inTextOrder = ps => ps.slice().sort((a, b) => a.span[0] - b.span[0]);

  function render() {
    const fragment = document.createDocumentFragment();
    const isOpen = p => p.state !== "rejected" && !inRecord(p);
    const open = proposals.filter(isOpen);
    if (open.length) {
      fragment.appendChild(action(`Accept all (${open.length})`, "accept-all", () => inTextOrder(open).forEach(accept),
        "Add every open proposal as a row (nothing is saved until you save)"));
    }
    for (const {kind, title} of KINDS) {
      const mine = proposals.filter(p => p.kind === kind);
      if (!mine.length) continue;
      const section = el("section", "proposal-kind");
      section.dataset.kind = kind;
      const heading = el("h3", "", `${title} (${mine.length})`);
      const waiting = mine.filter(isOpen);
      if (waiting.length > 1) {
        heading.appendChild(action("accept all of this kind", "accept-kind", () => inTextOrder(waiting).forEach(accept)));
      }
      section.appendChild(heading);
      const ul = el("ul");
      for (const p of mine) {
        const held = p.state !== "rejected" && inRecord(p);
        const li = el("li", "proposal" + (held ? " in-record" : "") + (p.state === "rejected" ? " rejected" : ""));
        const what = el("span", "proposal-what", describe(p));
        li.appendChild(what);
        if (p.mentions.length > 1) li.appendChild(el("span", "proposal-mentions", ` ${p.mentions.length}×`));
        const tools = el("span", "proposal-tools");
        tools.appendChild(action("show", "show", () => show(p), "Show where the text says it (again: the next mention)"));
        if (p.state === "rejected") {
          tools.appendChild(el("span", "proposal-note", "rejected"));
          tools.appendChild(action("undo", "undo", () => { p.state = undefined; }));
        } else if (held) {
          tools.appendChild(el("span", "proposal-note", p.state === "accepted" ? "accepted, not yet saved" : "in the record"));
          if (p.state === "accepted" && p.row) tools.appendChild(action("edit", "edit", () => edit(p)));
        } else {
          tools.appendChild(action("accept", "accept", () => accept(p)));
          tools.appendChild(action("edit", "edit", () => edit(p), "Accept, then open the row to change it"));
          tools.appendChild(action("reject", "reject", () => { p.state = "rejected"; }));
        }
        li.appendChild(tools);
        li.title = p.quote;
        ul.appendChild(li);
      }
      section.appendChild(ul);
      fragment.appendChild(section);
    }
    list.replaceChildren(fragment);
    list.hidden = false;
    highlight();
  }

  function say(message, isError) {
    status.textContent = message;
    status.classList.toggle("errornote", Boolean(isError));
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    say("Reading the text…");
    try {
      const response = await fetch(`${panel.dataset.url}?source=${encodeURIComponent(panel.dataset.source)}`,
        {headers: {Accept: "application/json"}, credentials: "same-origin"});
      const data = await response.json().catch(() => ({error: `The server answered ${response.status}.`}));
      if (!response.ok) { say(data.error || `The server answered ${response.status}.`, true); return; }
      proposals = data.proposals;
      const notes = data.messages.join(" ");
      say(`${proposals.length} proposal${proposals.length === 1 ? "" : "s"}: accept, edit or reject each. ` +
        "Nothing is saved until you save." + (notes ? " " + notes : ""));
      render();
    } catch (error) {
      say("The proposals could not be fetched: " + error.message, true);
    } finally {
      button.disabled = false;
    }
  });

  // Rows deleted or changed by hand change what is "in the record". A field left by pressing a button of the list
  // fires its "change" in the middle of that click: the list is redrawn after the click, not under the pointer
  // (a redraw there would swallow the click: "accept" after typing in a row did nothing).
  let pressing = false, stale = false;
  function refresh() {
    if (!proposals.length) return;
    if (pressing) stale = true; else render();
  }
  list.addEventListener("pointerdown", () => { pressing = true; }, true);
  document.addEventListener("pointerup", () => setTimeout(() => {
    pressing = false;
    if (stale) { stale = false; render(); }
  }), true);
  document.addEventListener("change", refresh);
  document.addEventListener("formset:removed", refresh);
})();
