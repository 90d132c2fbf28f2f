"""Push generated dashboards to Grafana through its HTTP API (folder and dashboard endpoints).

Calls, as Grafana's HTTP API documentation describes them (the /api endpoints, which
Grafana 12 documents as legacy next to its newer /apis endpoints):
  GET  /api/folders/:uid            200 folder, 404 when missing
  POST /api/folders                 {"uid", "title"}: 200 folder, 409 when the title or uid is taken
  GET  /api/folders                 list of folders, to name the uid of a folder with our title
  GET  /api/dashboards/uid/:uid     200 {"dashboard", "meta"}, 404 when missing
  POST /api/dashboards/db           {"dashboard", "folderUid", "message", "overwrite"}

A dashboard is saved with the version read just before and `overwrite: false`, so
Grafana returns 412 version-mismatch when someone saves it in between, instead of
silently losing that change. A dashboard whose stored JSON and folder already match
is not saved again, so pushing twice adds no version to its history.
"""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger(__name__)

# Fields Grafana sets on save, which differ between the stored and the generated JSON.
VOLATILE_FIELDS = ("id", "version")
TOKEN_HELP = "set GRAFANA_TOKEN or GRAFANA_TOKEN_FILE to a service account token"


class GrafanaError(Exception):
    """A failed Grafana API call. The message states what failed and what to do next."""


@dataclass(frozen=True)
class PushResult:
    uid: str
    title: str
    status: str  # created, updated or unchanged
    version: int | None
    url: str


def read_token(token: str | None, token_file: str | Path | None) -> str:
    """Return the service account token, given directly or as the content of a file (whitespace stripped)."""
    if token:
        return token.strip()
    if token_file:
        try:
            text = Path(token_file).read_text()
        except OSError as err:
            raise GrafanaError(f"cannot read the Grafana token file {token_file}: {err.strerror}") from None
        value = text.strip()
        if not value:
            raise GrafanaError(f"the Grafana token file {token_file} is empty")
        return value
    raise GrafanaError(f"no Grafana token: {TOKEN_HELP}")


def git_version(cwd: str | Path | None = None) -> str:
    """Return `git describe --always --dirty` of the working tree, or "unknown" outside git."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def _message_of(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return text[:200] if text else response.reason or ""
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body)[:200]


def _connection_reason(err: requests.ConnectionError) -> str:
    """Return the operating system's reason inside a requests connection error, such as "Connection refused"."""
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(err))
    return match.group(1).strip() if match else type(err).__name__


def _status_of(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("status", "")) if isinstance(body, dict) else ""


def check_url(base_url: str) -> None:
    """Raise `GrafanaError` unless `base_url` is an http or https URL."""
    if not base_url:
        raise GrafanaError("no Grafana URL: set GRAFANA_URL or pass --grafana-url")
    if not base_url.startswith(("http://", "https://")):
        raise GrafanaError(f"invalid Grafana URL {base_url!r}: it must start with http:// or https://")


class GrafanaClient:
    """The part of Grafana's HTTP API that the push uses, with errors turned into `GrafanaError`."""

    def __init__(self, base_url: str, token: str, timeout: float = 15.0, session: requests.Session | None = None):
        check_url(base_url)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "llm-cost-exporter"}
        )

    def _call(self, method: str, path: str, action: str, body: Any = None, allow: tuple[int, ...] = ()):
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(method, url, json=body, timeout=self.timeout)
        except requests.ConnectionError as err:
            raise GrafanaError(
                f"cannot connect to Grafana at {self.base_url} to {action}: {_connection_reason(err)}. "
                "Check GRAFANA_URL and that Grafana is running and reachable from here."
            ) from None
        except requests.Timeout:
            raise GrafanaError(
                f"request to Grafana at {self.base_url} to {action} timed out after {self.timeout:g}s. "
                "Check that Grafana is healthy, then run the push again."
            ) from None
        if response.status_code < 400 or response.status_code in allow:
            return response
        raise self._error(response, method, path, action)

    def _error(self, response: requests.Response, method: str, path: str, action: str) -> GrafanaError:
        code = response.status_code
        message = _message_of(response)
        if code == 401:
            return GrafanaError(
                f"Grafana rejected the token (401 Unauthorized: {message}) when trying to {action}. "
                f"The token is wrong, expired or revoked: {TOKEN_HELP}."
            )
        if code == 403:
            return GrafanaError(
                f"the token lacks permission to {action} (403 Forbidden: {message}). Give the service account "
                "the Editor role, or folder create and dashboard write permissions on the target folder."
            )
        if code == 404:
            return GrafanaError(
                f"Grafana returned 404 Not Found for {method} {path} ({message}) when trying to {action}. "
                "Check GRAFANA_URL: it must be Grafana's root URL, including the sub path where Grafana is "
                "served under one (such as https://example.com/grafana)."
            )
        return GrafanaError(f"Grafana returned {code} when trying to {action}: {message}")

    def find_folder_by_title(self, title: str) -> dict[str, Any] | None:
        response = self._call("GET", "/api/folders?limit=1000", "list folders")
        for folder in response.json():
            if folder.get("title") == title:
                return folder
        return None

    def ensure_folder(self, uid: str, title: str) -> tuple[dict[str, Any], bool]:
        """Return the folder with `uid`, creating it with `title` when missing, and whether it was created."""
        response = self._call("GET", f"/api/folders/{uid}", f"read folder {uid!r}", allow=(404,))
        if response.status_code != 404:
            folder = response.json()
            if folder.get("title") != title:
                log.warning(
                    "folder title differs, keeping the existing one: uid=%s title=%r requested=%r",
                    uid, folder.get("title"), title,
                )
            return folder, False
        response = self._call(
            "POST", "/api/folders", f"create folder {title!r}", body={"uid": uid, "title": title}, allow=(409,)
        )
        if response.status_code == 409:
            existing = self.find_folder_by_title(title)
            hint = (
                f"a folder titled {title!r} already exists with uid {existing.get('uid')!r}: "
                f"pass --folder-uid {existing.get('uid')} to push into it, or choose another --folder title"
                if existing
                else "pass --folder-uid with the uid of the existing folder, or choose another --folder title"
            )
            raise GrafanaError(f"cannot create folder {title!r} with uid {uid!r} (409 Conflict: "
                               f"{_message_of(response)}): {hint}.")
        log.info("folder created: uid=%s title=%r", uid, title)
        return response.json(), True

    def get_dashboard(self, uid: str) -> dict[str, Any] | None:
        response = self._call("GET", f"/api/dashboards/uid/{uid}", f"read dashboard {uid!r}", allow=(404,))
        if response.status_code == 404:
            return None
        return response.json()

    def save_dashboard(
        self, dashboard: dict[str, Any], folder_uid: str, message: str, existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Save `dashboard` into the folder, based on the `existing` stored version (None for a new one)."""
        payload_dashboard = dict(dashboard)
        if existing is None:
            payload_dashboard["id"] = None
            payload_dashboard.pop("version", None)
        else:
            payload_dashboard["id"] = existing["dashboard"].get("id")
            payload_dashboard["version"] = existing["dashboard"].get("version")
        payload = {"dashboard": payload_dashboard, "folderUid": folder_uid, "message": message, "overwrite": False}
        uid = dashboard["uid"]
        action = f"save dashboard {uid!r}"
        response = self._call("POST", "/api/dashboards/db", action, body=payload, allow=(400, 412))
        if response.status_code == 412:
            raise self._precondition_error(response, dashboard, folder_uid)
        if response.status_code == 400:
            text = _message_of(response)
            if "folder" in text.lower() and "not found" in text.lower():
                raise GrafanaError(
                    f"cannot {action}: folder {folder_uid!r} not found (400: {text}). It was probably deleted "
                    "during the push; run the push again to create it."
                )
            raise GrafanaError(f"Grafana rejected dashboard {uid!r} as invalid (400 Bad Request: {text}).")
        return response.json()

    def _precondition_error(self, response: requests.Response, dashboard: dict[str, Any], folder_uid: str):
        uid = dashboard["uid"]
        status = _status_of(response)
        message = _message_of(response)
        if status == "version-mismatch":
            return GrafanaError(
                f"dashboard {uid!r} was changed in Grafana while it was being pushed (412 version-mismatch: "
                f"{message}). Run the push again; it overwrites the dashboard with the generated one."
            )
        if status == "name-exists":
            return GrafanaError(
                f"another dashboard titled {dashboard.get('title')!r} already exists in folder {folder_uid!r} "
                f"(412 name-exists: {message}). Delete or rename that dashboard in Grafana, then push again."
            )
        if status == "plugin-dashboard":
            return GrafanaError(
                f"dashboard {uid!r} belongs to a Grafana plugin (412 plugin-dashboard: {message}) and cannot be "
                "overwritten; remove the plugin's dashboard first."
            )
        return GrafanaError(f"Grafana rejected dashboard {uid!r} (412 Precondition Failed: {message}).")


def _comparable(dashboard: dict[str, Any]) -> dict[str, Any]:
    # NOTE: checked against Grafana's documented API and a stand-in, never a real Grafana.
    # Should a Grafana version rewrite more fields on save, every push saves a new
    # version with the same content, which is still correct but adds history.
    return {key: value for key, value in dashboard.items() if key not in VOLATILE_FIELDS}


def push_dashboards(
    client: GrafanaClient,
    dashboards: list[dict[str, Any]],
    folder_title: str,
    folder_uid: str,
    message: str,
) -> list[PushResult]:
    """Create the folder if missing and create or update every dashboard in it by uid."""
    client.ensure_folder(folder_uid, folder_title)
    results = []
    for dashboard in dashboards:
        uid = dashboard["uid"]
        existing = client.get_dashboard(uid)
        if existing is not None:
            stored = existing.get("dashboard", {})
            same_folder = existing.get("meta", {}).get("folderUid") == folder_uid
            if same_folder and _comparable(stored) == _comparable(dashboard):
                url = existing.get("meta", {}).get("url", f"/d/{uid}")
                result = PushResult(uid, dashboard.get("title", ""), "unchanged", stored.get("version"), url)
                log.info("dashboard unchanged: uid=%s version=%s", uid, stored.get("version"))
                results.append(result)
                continue
        saved = client.save_dashboard(dashboard, folder_uid, message, existing)
        status = "created" if existing is None else "updated"
        result = PushResult(uid, dashboard.get("title", ""), status, saved.get("version"), saved.get("url", ""))
        log.info("dashboard %s: uid=%s version=%s url=%s", status, uid, result.version, result.url)
        results.append(result)
    return results
