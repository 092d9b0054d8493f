"""The workspace's "Propose from text": the case page asks for the proposals drawn from its source's text
(cases/proposals.py), one per fact with every mention, as JSON; the page (cases/static/cases/proposals.js) shows
them beside the record and turns the accepted ones into unsaved rows. Reads only; writes nothing."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.urls import path

from .models import Agent, Source
from .proposals import UnusableText, check_text, grouped, propose


class ProposalsMixin:
    """GET <case admin>/propose/?source=<id>: {"proposals": [...], "counts": {...}, "messages": [...]}, or 400 with
    {"error": "..."} for a text no proposals can be drawn from."""

    def get_urls(self):
        return [
            path("propose/", self.admin_site.admin_view(self.propose_view), name="cases_case_propose"),
            *super().get_urls(),
        ]

    def propose_view(self, request):
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        source_id = request.GET.get("source", "")
        source = Source.objects.visible_to(request.user).filter(pk=source_id).first() if source_id.isdigit() else None
        if source is None:
            return JsonResponse(
                {"error": "Choose the case's source first: proposals are drawn from its text."}, status=400
            )
        try:
            messages = check_text(source.text)
        except UnusableText as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        proposals = grouped(propose(source.text), source.text)
        # The agent field is an autocomplete keyed by the agent's id: give the page the id and the name it shows.
        codes = {p["fields"]["agent"] for p in proposals if p["kind"] == "intervention" and p["fields"].get("agent")}
        agents = {a.code: a for a in Agent.objects.filter(code__in=codes)}
        for p in proposals:
            agent = agents.get(p["fields"].get("agent")) if p["kind"] == "intervention" else None
            if agent is not None:
                p["agent"] = {"id": agent.pk, "name": str(agent)}
        if not proposals:
            messages.append("Nothing in the text matched the registry's analytes, agents, sites or HPO terms.")
        counts: dict[str, int] = {}
        for p in proposals:
            counts[p["kind"]] = counts.get(p["kind"], 0) + 1
        return JsonResponse({"proposals": proposals, "counts": counts, "messages": messages, "source": source.pk})
