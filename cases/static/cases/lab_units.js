// Lab inline: when an analyte is chosen and no unit is set yet, preselect the analyte's conventional unit.
"use strict";
document.addEventListener("change", function (event) {
  const select = event.target;
  if (!select.name || !/^labs-\d+-analyte$/.test(select.name)) return;
  const data = document.getElementById("analyte-units");  // rendered after this script, so read it here
  if (!data) return;
  const units = JSON.parse(data.textContent);
  const unit = document.getElementsByName(select.name.replace(/analyte$/, "unit"))[0];
  if (unit && !unit.value && units[select.value]) unit.value = units[select.value];
});
