"""API tokens from the console (admins): the list (owner, label, age; never the token),
issuing one (shown once, on the answer to the form) and revoking by owner and label;
``GatewayService`` mixes these in beside its ``issue_token``/``revoke_tokens`` RPCs."""

from __future__ import annotations

from typing import Any

from services.common.errors import BadRequest, NotFound
from services.common.mongo import jsonable
from services.common.rpc import rpc
from services.gateway.entrypoints import route
from services.gateway.errors import HttpError, Redirect, bad_request
from services.gateway.inputs import query
from services.gateway.views import render


class TokenEndpoints:
    """Mixed into ``GatewayService`` (``store``, ``issue_token``, ``revoke_tokens``)."""

    store: Any
    issue_token: Any
    revoke_tokens: Any

    @rpc
    def list_tokens(self) -> list[dict]:
        """Every API token's user, label and creation time (never the token)."""
        return jsonable(self.store.list_tokens())

    @route("console.tokens")
    def tokens_page(self, request, principal):
        return self._tokens_page(principal, query(request, "console.tokens").get("revoked"))

    @route("console.tokens_issue")
    def tokens_issue(self, request, principal):
        """Issue a token and show it on this answer only (it is not kept)."""
        user_id, name = request.form.get("user_id", ""), request.form.get("name", "")
        try:
            issued = self.issue_token(user_id, name)  # this service's own RPC, called in place
        except BadRequest as exc:
            return self._tokens_page(principal, None, error=bad_request(exc.errors), status=400)
        except NotFound as exc:
            error = HttpError(404, str(exc), [{"field": "user_id", "message": str(exc)}])
            return self._tokens_page(principal, None, error=error, status=404)
        return self._tokens_page(principal, None, issued=issued)

    @route("console.tokens_revoke")
    def tokens_revoke(self, request, principal):
        user_id, name = request.form.get("user_id", ""), request.form.get("name") or None
        if not user_id:
            raise bad_request(["user_id: Missing data for required field."], "form")
        revoked = self.revoke_tokens(user_id, name)["revoked"]
        raise Redirect(f"/tokens?revoked={revoked}")

    def _tokens_page(self, principal, revoked, issued=None, error=None, status=200):
        users = self.store.list_users()
        tokens = self.store.list_tokens()
        context = {"users": users, "tokens": tokens, "issued": issued, "error": error, "revoked": revoked}
        return render("tokens.html", principal, status, **context)
