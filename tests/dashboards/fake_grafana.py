"""A stand-in for the part of Grafana's HTTP API that the dashboard push calls.

It runs on pytest-httpserver (a real HTTP server on loopback) and responds with the
status codes and bodies Grafana documents for its folder and dashboard API:
401 for an unknown token, 403 for a Viewer token on writes, 404 for a missing
folder or dashboard, 409 for a folder title or uid that is taken, 400 for a save
into a missing folder, and 412 name-exists or version-mismatch on save.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

EDITOR_TOKEN = "glsa_editor_token"
VIEWER_TOKEN = "glsa_viewer_token"


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@dataclass
class FakeGrafana:
    server: HTTPServer
    tokens: dict[str, str] = field(default_factory=lambda: {EDITOR_TOKEN: "Editor", VIEWER_TOKEN: "Viewer"})
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    saves: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    # (method, path regex, status, body): the next matching request gets this response instead.
    injected: list[tuple[str, str, int, Any]] = field(default_factory=list)
    next_id: int = 1

    def __post_init__(self) -> None:
        self.server.expect_request(re.compile(r"^/api/.*")).respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def inject(self, method: str, path_pattern: str, status: int, body: Any) -> None:
        """Respond to the next matching request with `status` and `body`."""
        self.injected.append((method, path_pattern, status, body))

    def add_folder(self, uid: str, title: str) -> dict[str, Any]:
        folder = {"id": self._id(), "uid": uid, "title": title, "url": f"/dashboards/f/{uid}/{_slug(title)}",
                  "version": 1}
        self.folders[uid] = folder
        return folder

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def handle(self, request: Request) -> Response:
        method, path = request.method, request.path
        self.calls.append((method, path))
        for index, (inj_method, pattern, status, body) in enumerate(self.injected):
            if inj_method == method and re.fullmatch(pattern, path):
                del self.injected[index]
                return _json(status, body)

        auth = request.headers.get("Authorization", "")
        role = self.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if role is None:
            return _json(401, {"message": "invalid API key"})
        if method != "GET" and role == "Viewer":
            return _json(403, {
                "accessErrorId": "ACE0000000001",
                "message": "You'll need additional permissions to perform this action. "
                           "Permissions needed: any of dashboards:write",
                "title": "Access denied",
            })

        if method == "GET" and path == "/api/folders":
            return _json(200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()])
        if method == "POST" and path == "/api/folders":
            return self._create_folder(request.get_json())
        match = re.fullmatch(r"/api/folders/([^/]+)", path)
        if method == "GET" and match:
            folder = self.folders.get(match.group(1))
            if folder is None:
                return _json(404, {"message": "folder not found", "status": "not-found"})
            return _json(200, folder)
        match = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
        if method == "GET" and match:
            stored = self.dashboards.get(match.group(1))
            if stored is None:
                return _json(404, {"message": "Dashboard not found"})
            return _json(200, copy.deepcopy(stored))
        if method == "POST" and path == "/api/dashboards/db":
            return self._save_dashboard(request.get_json())
        return _json(404, {"message": "Not found"})

    def _create_folder(self, body: dict[str, Any]) -> Response:
        uid, title = body.get("uid"), body.get("title")
        if not title:
            return _json(400, {"message": "folder title cannot be empty"})
        if uid in self.folders or any(f["title"] == title for f in self.folders.values()):
            return _json(409, {"message": "a folder with the same name already exists"})
        return _json(200, self.add_folder(uid, title))

    def _save_dashboard(self, body: dict[str, Any]) -> Response:
        dashboard = copy.deepcopy(body.get("dashboard") or {})
        folder_uid = body.get("folderUid", "")
        if not dashboard.get("title"):
            return _json(400, {"message": "Dashboard title cannot be empty"})
        if folder_uid and folder_uid not in self.folders:
            return _json(400, {"message": "folder not found", "status": "not-found"})

        uid = dashboard.get("uid")
        for other_uid, other in self.dashboards.items():
            if (other_uid != uid and other["meta"]["folderUid"] == folder_uid
                    and other["dashboard"]["title"] == dashboard["title"]):
                return _json(412, {"message": "A dashboard with the same name in the folder already exists",
                                   "status": "name-exists"})

        stored = self.dashboards.get(uid)
        if stored is not None and not body.get("overwrite"):
            if dashboard.get("version") != stored["dashboard"]["version"]:
                return _json(412, {"message": "The dashboard has been changed by someone else",
                                   "status": "version-mismatch"})

        version = (stored["dashboard"]["version"] + 1) if stored else 1
        dashboard_id = stored["dashboard"]["id"] if stored else self._id()
        dashboard.update({"id": dashboard_id, "uid": uid, "version": version})
        url = f"/d/{uid}/{_slug(dashboard['title'])}"
        folder = self.folders.get(folder_uid, {})
        self.dashboards[uid] = {
            "dashboard": dashboard,
            "meta": {"folderUid": folder_uid, "folderTitle": folder.get("title", "General"), "url": url,
                     "version": version, "slug": _slug(dashboard["title"])},
        }
        self.saves.append({"uid": uid, "message": body.get("message"), "overwrite": body.get("overwrite")})
        return _json(200, {"id": dashboard_id, "uid": uid, "url": url, "status": "success", "version": version,
                           "slug": _slug(dashboard["title"])})
