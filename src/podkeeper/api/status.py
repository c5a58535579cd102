"""`v1 Status` errors: every failure the API answers, with the API server's code and reason."""

from __future__ import annotations

from typing import Any

from aiohttp import web

Obj = dict[str, Any]


class StatusError(Exception):
    """An error answered with a Kubernetes `Status` body."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def response(self) -> web.Response:
        """The `v1 Status` response."""
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return web.json_response(body, status=self.code)
