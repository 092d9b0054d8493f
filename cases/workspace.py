"""The case page as a workspace: its status bar, the transitions the user may run, and the error summary that
names every invalid row (by its label, not its code) with a link to it. Used by CaseAdmin.render_change_form."""

from __future__ import annotations

import re

from django.urls import reverse

from . import workflow

ROW_NAMING_FIELDS = ("analyte", "agent_text", "label", "site", "code")


def row_label(form, number: int) -> str:
    """ "Lab result 3 (Serum total calcium)": the row's kind, its place in its section, what it is, in words."""
    what = ""
    for name in ROW_NAMING_FIELDS:
        if name not in form.fields:
            continue
        value = form[name].value()
        if value in (None, ""):
            continue
        choices = getattr(form.fields[name], "choices", None)
        what = str(dict(choices).get(value, value)) if choices is not None else str(value)
        break
    kind = str(form._meta.model._meta.verbose_name).capitalize()
    return f"{kind} {number}" + (f" ({what})" if what else "")


def field_name(form, name: str) -> str:
    """A field's full name for messages ("Reference low"), whatever short label its column shows."""
    try:
        return str(form._meta.model._meta.get_field(name).verbose_name).capitalize()
    except Exception:  # noqa: BLE001 - a form-only field
        return str(form.fields[name].label) if name in form.fields else "row"


def error_summary(adminform, inline_admin_formsets) -> list[dict]:
    """Every error on the page: [{"href": "#labs-2", "text": "Lab result 3 (Serum total calcium), Unit: ..."}]."""
    out = []
    form = adminform.form
    for error in form.non_field_errors():
        out.append({"href": f"#{form.prefix or ''}content-main", "text": error})
    for name, errors in form.errors.items():
        if name in ("__all__", "confirm"):  # warnings to confirm: listed apart, with their checkboxes
            continue
        label = form.fields[name].label if name in form.fields else name
        for error in errors:
            out.append({"href": f"#id_{name}", "text": f"{str(label).capitalize()}: {error}"})
    for inline in inline_admin_formsets:
        formset = inline.formset
        for error in formset.non_form_errors():
            if not any(error.startswith(row_label(f, n)) for n, f in enumerate(formset.forms, start=1)):
                out.append({"href": f"#{formset.prefix}-group", "text": error})
        for n, row in enumerate(formset.forms):
            if not row.errors or (formset.can_delete and formset._should_delete_form(row)):
                continue
            label = row_label(row, n + 1)
            for name, errors in row.errors.items():
                field = field_name(row, name)
                for error in errors:
                    text = f"{label}: {error}" if name == "__all__" else f"{label}, {field}: {error}"
                    out.append({"href": f"#{formset.prefix}-{n}", "text": text})
    return out


ROW_KEY = re.compile(r"^(\w+)\[(\d+)\]")  # "labs[1].value": the second lab of the case document


def _document_order(formset) -> list:
    """The formset's rows in the order the saved case lists them (cases.models: by sequence, then id; rows added
    on this page are saved after the stored ones, in page order): where a warning's key "labs[1]" points."""
    live = [f for f in formset.forms if not (formset.can_delete and formset._should_delete_form(f))]

    def place(item):
        n, form = item
        try:
            sequence = int(form["sequence"].value()) if "sequence" in form.fields else 0
        except (TypeError, ValueError):
            sequence = 0
        return (sequence, form.instance.pk is None, form.instance.pk or 0, n)

    return [form for _, form in sorted(enumerate(live), key=place)]


def pending_warnings(form, inline_admin_formsets, warnings) -> list[dict]:
    """The warnings to confirm, one line each, for the top of the page: [{"key": "labs[1].value", "checked": False,
    "row": "Lab result 2 (Serum total calcium)", "href": "#labs-1", "message": "3.11 mg/dL is ..."}]. The key stays
    the checkbox's value (and the API's name); the curator reads the row in words. The row is marked (its form's
    `pending_warning`, shown by edit_inline/compact.html)."""
    formsets = {inline.formset.prefix: inline.formset for inline in inline_admin_formsets}
    ticked = set(form.data.getlist("confirm")) if form.is_bound and hasattr(form.data, "getlist") else set()
    out = []
    for warning in warnings:
        line = {"key": warning.key, "message": warning.message, "checked": warning.key in ticked, "row": "", "href": ""}
        match = ROW_KEY.match(warning.key)
        formset = formsets.get(match[1]) if match else None
        if formset is not None:
            ordered = _document_order(formset)
            index = int(match[2])
            if index < len(ordered):
                row = ordered[index]
                number = formset.forms.index(row)
                row.pending_warning = True
                line.update(row=row_label(row, number + 1), href=f"#{formset.prefix}-{number}")
        out.append(line)
    return out


def transitions_for(user, case) -> list[dict]:
    """The workflow buttons this user may press on this case now."""
    return [
        {"name": t.name, "label": t.label, "url": reverse("admin:cases_case_transition", args=[case.pk, t.name])}
        for t in workflow.TRANSITIONS.values()
        if case.status in t.source
        and user.has_perm(t.permission)
        and not workflow.four_eyes_refusal(user, case, t.name)
    ]
