"""R reads every table of tables.zip with read.csv and the codebook's colClasses, and nothing else: the types come
out as the codebook says (Debian's r-base-core; .ci/run installs it)."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile

import pandas as pd
import pytest

from tests.api.test_exports import (  # noqa: F401 (fixtures)
    TABLES_ZIP,
    agents,
    body,
    cohort,
    fast_logins_and_fresh_throttle,
)

pytestmark = pytest.mark.django_db

# The README's one-line read, for every table; then per column its class and number of missing values, and the
# cells the test checks.
R_SCRIPT = r"""
cb <- read.csv("codebook.csv")
out <- NULL
for (t in unique(cb$table)) {
  df <- read.csv(paste0(t, ".csv"), colClasses = setNames(cb$r_class[cb$table == t], cb$column[cb$table == t]))
  out <- rbind(out, data.frame(table = t, column = names(df), class = sapply(df, class),
                               missing = sapply(df, function(x) sum(is.na(x))), rows = nrow(df)))
}
write.csv(out, "classes.csv", row.names = FALSE)
cases <- read.csv("cases.csv", colClasses = setNames(cb$r_class[cb$table == "cases"], cb$column[cb$table == "cases"]))
write.csv(cases[, c("case_id", "pmid", "age_years", "peak_calcium_mg_dl", "calcium_normalised")], "cases_seen.csv",
          row.names = FALSE)
"""


def rscript() -> str:
    path = shutil.which("Rscript")
    if path is None:
        pytest.skip("R is not installed (apt-get install r-base-core); .ci/run installs it")
    return path


def test_r_reads_every_table_with_the_codebooks_col_classes(curator, cohort, tmp_path):  # noqa: F811
    program = rscript()
    zipfile.ZipFile(io.BytesIO(body(curator.get(TABLES_ZIP)))).extractall(tmp_path)
    (tmp_path / "read.R").write_text(R_SCRIPT)
    run = subprocess.run([program, "read.R"], cwd=tmp_path, capture_output=True, text=True, timeout=120)  # noqa: S603
    assert run.returncode == 0, run.stderr
    classes = pd.read_csv(tmp_path / "classes.csv")
    codebook = pd.read_csv(tmp_path / "codebook.csv")
    assert list(zip(classes["table"], classes["column"], strict=True)) == list(
        zip(codebook["table"], codebook["column"], strict=True)
    )
    assert list(classes["class"]) == list(codebook["r_class"])
    rows = classes.groupby("table", sort=False)["rows"].first().to_dict()
    assert rows == {
        "cases": 3,
        "episodes": 3,  # one each (issue 13, point 1)
        "tumors": 2,
        "metastases": 3,
        "mechanisms": 3,
        "findings": 3,
        "labs": 4,
        "interventions": 3,
        "lab_follows": 1,
        "dose_steps": 1,
    }

    seen = pd.read_csv(tmp_path / "cases_seen.csv", dtype={"pmid": "string"}).set_index("case_id")
    a, d = seen.loc[cohort["A"]["id"]], seen.loc[cohort["D"]["id"]]
    assert (a["pmid"], a["age_years"], a["peak_calcium_mg_dl"], a["calcium_normalised"]) == (
        "PMID:23710001",
        67,
        14.0,
        True,
    )
    assert pd.isna(d["pmid"]) and pd.isna(d["age_years"]) and pd.isna(d["calcium_normalised"])
