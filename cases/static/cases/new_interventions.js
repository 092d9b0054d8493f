// A lab may follow an intervention added on this page before the first save: each added intervention row is
// offered in every lab's "follows intervention" as "new:<its form prefix>" (checked and linked on save, see
// cases/admin.py LabResultForm), labelled by what the curator entered in it.
"use strict";
(function () {
  const LABS = "select[name^='labs-'][name$='-follows']";

  function isNewIntervention(row) {
    return row && /^interventions-\d+$/.test(row.id) && !row.querySelector("input[name$='-id'][value]:not([value=''])");
  }

  function labelOf(row) {
    const text = row.querySelector("input[name$='-agent_text']");
    const agent = row.querySelector("select[name$='-agent']");
    const category = row.querySelector("select[name$='-category']");
    const chosen = select => select && select.value ? select.options[select.selectedIndex].text : "";
    const name = (text && text.value.trim()) || chosen(agent) || chosen(category) || "";
    return "New intervention" + (name ? ": " + name : " (row " + (Number(row.id.split("-")[1]) + 1) + ")");
  }

  function offer(row) {
    const token = "new:" + row.id;
    document.querySelectorAll(LABS).forEach(select => {
      let option = Array.from(select.options).find(o => o.value === token);
      if (!option) {
        option = document.createElement("option");
        option.value = token;
        select.appendChild(option);
      }
      option.textContent = labelOf(row);
    });
  }

  function withdraw(row) {
    const token = "new:" + row.id;
    document.querySelectorAll(LABS).forEach(select => {
      Array.from(select.options).filter(o => o.value === token).forEach(o => o.remove());
    });
  }

  document.addEventListener("formset:added", event => {
    const row = event.target;
    if (isNewIntervention(row)) offer(row);
    // A lab added after the interventions: offer it the interventions added so far.
    if (row.id && /^labs-\d+$/.test(row.id)) {
      document.querySelectorAll("[id^='interventions-']").forEach(r => { if (isNewIntervention(r)) offer(r); });
    }
  });
  document.addEventListener("formset:removed", () => {
    // Django renumbers the rows left: offer them again under their new prefixes.
    document.querySelectorAll(LABS).forEach(select => {
      Array.from(select.options).filter(o => o.value.startsWith("new:")).forEach(o => { if (!o.selected) o.remove(); });
    });
    document.querySelectorAll("[id^='interventions-']").forEach(r => { if (isNewIntervention(r)) offer(r); });
  });
  ["input", "change"].forEach(type => document.addEventListener(type, event => {
    const row = event.target.closest && event.target.closest("[id^='interventions-']");
    if (isNewIntervention(row) && !event.target.name.endsWith("-DELETE")) offer(row);
    if (row && event.target.name && event.target.name.endsWith("-DELETE")) {
      if (event.target.checked) withdraw(row); else if (isNewIntervention(row)) offer(row);
    }
  }));
  function init() {
    document.querySelectorAll("[id^='interventions-']").forEach(r => { if (isNewIntervention(r)) offer(r); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
