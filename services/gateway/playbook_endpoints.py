"""The playbook routes' handlers (``GatewayService`` mixes them in); the work is in
``playbooks.py``, over the cases service's RPC."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from contracts.base import utcnow
from services.gateway import playbooks
from services.gateway.cases import visible
from services.gateway.entrypoints import route
from services.gateway.errors import Redirect
from services.gateway.inputs import json_body, query
from services.gateway.scope import viewer


class PlaybookEndpoints:
    """The playbook routes, mixed into ``GatewayService`` (which provides ``services``)."""

    services: Any

    @route("playbooks.list")
    def list_playbooks(self, request, principal):
        return {"items": self.services.cases.list_playbooks()}

    @route("playbooks.get")
    def get_playbook(self, request, principal, playbook_id):
        return self.services.cases.get_playbook(playbook_id)

    @route("playbooks.save")
    def save_playbook(self, request, principal, playbook_id):
        return playbooks.save(self.services, principal.user, playbook_id, json_body(request))

    @route("playbooks.metrics")
    def playbook_metrics(self, request, principal):
        q = query(request, "playbooks.metrics")
        q.setdefault("since", utcnow() - timedelta(days=30))
        return self.services.cases.playbook_metrics({k: v.isoformat() for k, v in q.items() if v})

    @route("cases.playbooks")
    def case_playbooks(self, request, principal, case_id):
        return self.services.cases.suggest_playbooks(case_id, visible_to=viewer(principal.user))

    @route("console.case_playbook")
    def use_playbook_form(self, request, principal, case_id, playbook_id):
        """The case page's form: the playbook used (its reply sent when ticked), back to the case."""
        visible(self.services, principal.user, case_id)
        send = request.form.get("send") in ("on", "true", "1")
        language = principal.language if principal.language in ("zh-CN", "en") else "zh-CN"
        body = {"send": send, "language": language}
        playbooks.use(self.services, principal.user, case_id, playbook_id, body)
        done = "playbook_sent" if send else "playbook"
        raise Redirect(f"/cases/{quote(case_id, safe='')}?done={done}")

    @route("cases.use_playbook")
    def use_playbook(self, request, principal, case_id, playbook_id):
        visible(self.services, principal.user, case_id)  # 404 for a case the caller may not see
        return playbooks.use(
            self.services, principal.user, case_id, playbook_id, json_body(request, allow_empty=True)
        )
