// The case workspace (change_form.html): quotes chosen by selecting the source's text, quotes highlighted in
// place, the row being edited marked, and timeline positions assigned by the page (new rows at the end,
// up/down to move), never typed.
"use strict";
(function () {
  const ROW = ".compact-row:not(.empty-form)";
  let activeRow = null;

  // --- the source's text and its highlights ---------------------------------------------------------------
  const holder = document.getElementById("source-text");
  const textData = document.getElementById("source-text-data");
  const text = textData ? JSON.parse(textData.textContent) : "";
  // Offsets are counted in characters (code points), as Python counts them; JavaScript strings count UTF-16 units.
  const toUnits = n => Array.from(text).slice(0, n).join("").length;
  const toChars = units => Array.from(text.slice(0, units)).length;

  function field(row, cls) { return row.querySelector("." + cls); }
  function quoteOf(row) { return row.querySelector("textarea[name$='-quote']"); }

  function looseQuote(quote) {
    return Array.from(quote.trim()).map(c => /\s/.test(c) ? "\\s+" : c.replace(/[.*+?^${}()|[\]\\\/-]/g, "\\$&") + "(?:-?\\n)?")
      .join("").replace(/(\\s\+)+/g, "\\s+");
  }

  function rowQuoteRange(row) {
    const start = field(row, "row-quote-start"), end = field(row, "row-quote-end"), quote = quoteOf(row);
    if (!quote || !quote.value) return null;
    if (start && end && start.value !== "" && end.value !== "") {
      return {start: toUnits(Number(start.value)), end: toUnits(Number(end.value)), exact: true};
    }
    // A quote typed or imported without offsets: found where it stands verbatim, line breaks and a word
    // hyphenated across a line ("compli-\ncation") allowed.
    const at = text.indexOf(quote.value);
    if (at >= 0) return {start: at, end: at + quote.value.length, exact: false};
    const found = new RegExp(looseQuote(quote.value)).exec(text);
    return found ? {start: found.index, end: found.index + found[0].length, exact: false} : null;
  }

  function paint() {
    if (!holder) return;
    const marks = [];
    document.querySelectorAll(ROW).forEach(row => {
      if (row.querySelector("input[name$='-DELETE']:checked")) return;
      const range = rowQuoteRange(row);
      if (range) marks.push(Object.assign(range, {row: row}));
    });
    marks.sort((a, b) => a.start - b.start);
    holder.textContent = "";
    let at = 0;
    marks.forEach(m => {
      if (m.start < at) return;  // overlapping quotes: the first one is shown
      holder.appendChild(document.createTextNode(text.slice(at, m.start)));
      const mark = document.createElement("mark");
      mark.textContent = text.slice(m.start, m.end);
      mark.className = (m.exact ? "offsets" : "") + (m.row === activeRow ? " active" : "");
      mark.title = "Quoted in " + (m.row.dataset.rowName || "a row") + " — click to go to it";
      mark.addEventListener("click", () => activate(m.row, true));
      holder.appendChild(mark);
      at = m.end;
    });
    holder.appendChild(document.createTextNode(text.slice(at)));
  }

  function preview(row) {
    const quote = quoteOf(row), target = row.querySelector(".quote-preview");
    if (!target) return;
    target.textContent = quote && quote.value ? "“" + quote.value + "”" : "details";
  }

  function activate(row, scroll) {
    if (activeRow === row) return;
    if (activeRow) activeRow.classList.remove("row-active");
    activeRow = row;
    if (row) {
      row.classList.add("row-active");
      if (scroll) row.scrollIntoView({block: "center"});
    }
    paint();
  }

  document.addEventListener("focusin", event => {
    const row = event.target.closest && event.target.closest(ROW);
    if (row) activate(row, false);
  });

  // Selecting a passage fills the quote of the row being edited, with its offsets in the source's text.
  if (holder) holder.addEventListener("mouseup", () => {
    const selection = window.getSelection();
    if (!activeRow || !selection || selection.isCollapsed || !holder.contains(selection.anchorNode)) return;
    const range = selection.getRangeAt(0);
    const before = document.createRange();
    before.selectNodeContents(holder);
    before.setEnd(range.startContainer, range.startOffset);
    let start = before.toString().length, end = start + range.toString().length;
    while (start < end && /\s/.test(text[start])) start++;  // a sloppy selection's edges
    while (end > start && /\s/.test(text[end - 1])) end--;
    if (end <= start) return;
    const quote = quoteOf(activeRow);
    if (!quote) return;
    quote.value = text.slice(start, end);
    field(activeRow, "row-quote-start").value = toChars(start);
    field(activeRow, "row-quote-end").value = toChars(end);
    preview(activeRow);
    selection.removeAllRanges();
    paint();
  });

  // A quote edited by hand no longer matches its offsets: forget them (the server checks them anyway).
  document.addEventListener("input", event => {
    const row = event.target.closest && event.target.closest(ROW);
    if (!row || event.target !== quoteOf(row)) return;
    const start = field(row, "row-quote-start"), end = field(row, "row-quote-end");
    if (start) start.value = "";
    if (end) end.value = "";
    preview(row);
    paint();
  });

  // --- timeline positions ------------------------------------------------------------------------------------
  function sequences(except) {
    return Array.from(document.querySelectorAll(ROW + " input.row-sequence"))
      .filter(i => !except.contains(i)).map(i => Number(i.value) || 0);
  }

  function showPosition(row) {
    const seq = row.querySelector("input.row-sequence"), badge = row.querySelector(".row-position");
    if (!badge) return;
    if (seq) { badge.textContent = seq.value; return; }
    const shown = row.querySelector(".readonly-sequence");  // a read-only view: no moving
    badge.textContent = shown ? shown.textContent : "";
    row.querySelectorAll(".row-up, .row-down").forEach(b => b.remove());
  }

  function resort(group) {
    const rows = Array.from(group.querySelectorAll(ROW));
    const anchor = group.querySelector(".empty-form") || null;
    rows.sort((a, b) => Number(a.querySelector("input.row-sequence").value) -
                        Number(b.querySelector("input.row-sequence").value));
    rows.forEach(row => row.parentNode.insertBefore(row, anchor && anchor.parentNode === row.parentNode ? anchor : null));
  }

  document.addEventListener("click", event => {
    const button = event.target.closest && event.target.closest(".row-up, .row-down");
    if (!button) return;
    event.preventDefault();
    const row = button.closest(ROW), seq = row.querySelector("input.row-sequence");
    const value = Number(seq.value) || 1;
    seq.value = button.classList.contains("row-up") ? Math.max(1, value - 1) : value + 1;
    showPosition(row);
    resort(row.closest(".compact-group"));
    activate(row, false);
    button.focus();
  });

  // A new row goes to the end of the case's timeline; a new mechanism ranks after the others.
  document.addEventListener("formset:added", event => {
    const row = event.target;
    const seq = row.querySelector && row.querySelector("input.row-sequence");
    if (seq) {
      seq.value = Math.max(0, ...sequences(row)) + 1;
      showPosition(row);
    }
    const rank = row.querySelector && row.querySelector("input[name$='-rank']");
    const group = rank && row.closest(".compact-group");
    if (group) {
      const others = Array.from(group.querySelectorAll(ROW + " input[name$='-rank']"))
        .filter(i => i !== rank && !i.closest(ROW).querySelector("input[name$='-DELETE']:checked"))
        .map(i => Number(i.value) || 0);
      if (others.length) rank.value = Math.max(...others) + 1;
    }
    preview(row);
    activate(row, false);
  });

  function init() {
    document.querySelectorAll(ROW).forEach(row => {
      const name = row.querySelector(".cell:not(.cell-rank) select, .cell:not(.cell-rank) input[type=text]");
      row.dataset.rowName = name ? (name.options ? name.options[name.selectedIndex].text : name.value) : "";
      showPosition(row);
      preview(row);
    });
    paint();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
