"""Pushing dashboards to a Grafana API stand-in on loopback: creation, idempotence and every error path."""

from __future__ import annotations

import pytest

from llm_cost_exporter.dashboards.push import GrafanaClient, GrafanaError, push_dashboards, read_token
from tests.support.processes import free_port

from .fake_grafana import EDITOR_TOKEN, VIEWER_TOKEN, FakeGrafana

FOLDER = "LLM cost"
FOLDER_UID = "llm-cost"


@pytest.fixture
def grafana(httpserver) -> FakeGrafana:
    return FakeGrafana(httpserver)


@pytest.fixture
def dashboards(generated):
    return [item.data for item in generated]


def push(grafana: FakeGrafana, dashboards, token: str = EDITOR_TOKEN, message: str = "test push"):
    client = GrafanaClient(grafana.url, token, timeout=5)
    return push_dashboards(client, dashboards, FOLDER, FOLDER_UID, message)


def test_push_creates_folder_and_dashboards(grafana, dashboards):
    results = push(grafana, dashboards, message="llm-cost-exporter dashboards, git abc1234")

    assert grafana.folders[FOLDER_UID]["title"] == FOLDER
    assert {r.status for r in results} == {"created"}
    assert set(grafana.dashboards) == {d["uid"] for d in dashboards}
    for uid, stored in grafana.dashboards.items():
        assert stored["meta"]["folderUid"] == FOLDER_UID
        assert stored["dashboard"]["version"] == 1
    assert {save["message"] for save in grafana.saves} == {"llm-cost-exporter dashboards, git abc1234"}
    assert {save["overwrite"] for save in grafana.saves} == {False}


def test_push_twice_is_unchanged(grafana, dashboards):
    push(grafana, dashboards)
    saves_after_first = len(grafana.saves)

    results = push(grafana, dashboards)

    assert {r.status for r in results} == {"unchanged"}
    assert len(grafana.saves) == saves_after_first
    assert {stored["dashboard"]["version"] for stored in grafana.dashboards.values()} == {1}


def test_push_updates_changed_dashboard_by_uid(grafana, dashboards):
    push(grafana, dashboards)
    changed = [dict(dashboards[0], description="changed description")]

    results = push(grafana, changed)

    assert [(r.uid, r.status, r.version) for r in results] == [(dashboards[0]["uid"], "updated", 2)]
    assert grafana.dashboards[dashboards[0]["uid"]]["dashboard"]["description"] == "changed description"
    assert len(grafana.dashboards) == len(dashboards)


def test_push_overwrites_edit_made_in_grafana(grafana, dashboards):
    push(grafana, dashboards)
    uid = dashboards[0]["uid"]
    stored = grafana.dashboards[uid]["dashboard"]
    stored.update(title="edited in the UI", version=7)

    results = push(grafana, dashboards[:1])

    assert results[0].status == "updated"
    assert grafana.dashboards[uid]["dashboard"]["title"] == dashboards[0]["title"]
    assert grafana.dashboards[uid]["dashboard"]["version"] == 8


def test_push_moves_dashboard_into_folder(grafana, dashboards):
    push(grafana, dashboards)
    uid = dashboards[0]["uid"]
    grafana.dashboards[uid]["meta"]["folderUid"] = ""

    results = push(grafana, dashboards[:1])

    assert results[0].status == "updated"
    assert grafana.dashboards[uid]["meta"]["folderUid"] == FOLDER_UID


def test_push_uses_existing_folder(grafana, dashboards):
    grafana.add_folder(FOLDER_UID, "Renamed by hand")

    push(grafana, dashboards)

    assert len(grafana.folders) == 1
    assert ("POST", "/api/folders") not in grafana.calls


def test_bad_token_is_401(grafana, dashboards):
    with pytest.raises(GrafanaError) as err:
        push(grafana, dashboards, token="glsa_wrong")
    assert "401 Unauthorized" in str(err.value)
    assert "GRAFANA_TOKEN" in str(err.value)
    assert "glsa_wrong" not in str(err.value)


def test_viewer_token_is_403(grafana, dashboards):
    with pytest.raises(GrafanaError) as err:
        push(grafana, dashboards, token=VIEWER_TOKEN)
    assert "403 Forbidden" in str(err.value)
    assert "create folder 'LLM cost'" in str(err.value)
    assert "Editor role" in str(err.value)


def test_viewer_token_403_on_save(grafana, dashboards):
    grafana.add_folder(FOLDER_UID, FOLDER)
    with pytest.raises(GrafanaError) as err:
        push(grafana, dashboards, token=VIEWER_TOKEN)
    assert "save dashboard" in str(err.value)
    assert "403 Forbidden" in str(err.value)


def test_folder_title_taken_is_409(grafana, dashboards):
    grafana.add_folder("someone-elses", FOLDER)
    with pytest.raises(GrafanaError) as err:
        push(grafana, dashboards)
    assert "409 Conflict" in str(err.value)
    assert "--folder-uid someone-elses" in str(err.value)


def test_folder_deleted_during_push_is_reported(grafana, dashboards):
    grafana.add_folder(FOLDER_UID, FOLDER)
    grafana.inject("GET", r"/api/folders/llm-cost", 200, {"uid": FOLDER_UID, "title": FOLDER})
    del grafana.folders[FOLDER_UID]
    with pytest.raises(GrafanaError) as err:
        push(grafana, dashboards)
    assert "folder 'llm-cost' not found" in str(err.value)
    assert "run the push again" in str(err.value)


def test_wrong_url_path_is_404(grafana, dashboards):
    client = GrafanaClient(grafana.url + "/not-grafana", EDITOR_TOKEN, timeout=5)
    grafana.server.expect_request("/not-grafana/api/folders/llm-cost").respond_with_data(
        "<html>404 page not found</html>", status=404, content_type="text/html"
    )
    grafana.server.expect_request("/not-grafana/api/folders", method="POST").respond_with_data(
        "404 page not found", status=404
    )
    with pytest.raises(GrafanaError) as err:
        push_dashboards(client, dashboards, FOLDER, FOLDER_UID, "m")
    assert "404 Not Found" in str(err.value)
    assert "GRAFANA_URL" in str(err.value)


def test_concurrent_edit_is_412_version_mismatch(grafana, dashboards):
    push(grafana, dashboards)
    changed = [dict(dashboards[0], description="new")]
    grafana.inject(
        "POST", r"/api/dashboards/db", 412,
        {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"},
    )
    with pytest.raises(GrafanaError) as err:
        push(grafana, changed)
    assert "412 version-mismatch" in str(err.value)
    assert "Run the push again" in str(err.value)


def test_real_version_conflict_from_stale_read(grafana, dashboards):
    push(grafana, dashboards)
    uid = dashboards[0]["uid"]
    client = GrafanaClient(grafana.url, EDITOR_TOKEN, timeout=5)
    existing = client.get_dashboard(uid)
    grafana.dashboards[uid]["dashboard"]["version"] += 1  # someone saves in between
    with pytest.raises(GrafanaError) as err:
        client.save_dashboard(dict(dashboards[0], description="x"), FOLDER_UID, "m", existing)
    assert "412 version-mismatch" in str(err.value)


def test_same_title_other_uid_is_412_name_exists(grafana, dashboards):
    push(grafana, dashboards)
    impostor = dict(dashboards[0], uid="hand-made-copy")
    with pytest.raises(GrafanaError) as err:
        push(grafana, [impostor])
    assert "412 name-exists" in str(err.value)
    assert "Delete or rename" in str(err.value)


def test_connection_refused():
    client = GrafanaClient(f"http://127.0.0.1:{free_port()}", EDITOR_TOKEN, timeout=5)
    with pytest.raises(GrafanaError) as err:
        push_dashboards(client, [], FOLDER, FOLDER_UID, "m")
    assert "cannot connect to Grafana" in str(err.value)
    assert "Connection refused" in str(err.value)
    assert "Check GRAFANA_URL" in str(err.value)


def test_server_error_shows_status_and_message(grafana, dashboards):
    grafana.inject("GET", r"/api/folders/llm-cost", 500, {"message": "database is locked"})
    with pytest.raises(GrafanaError) as err:
        push(grafana, dashboards)
    assert "500" in str(err.value)
    assert "database is locked" in str(err.value)


def test_token_sent_as_bearer(grafana, dashboards):
    push(grafana, dashboards[:1])
    request, _ = grafana.server.log[0]
    assert request.headers["Authorization"] == f"Bearer {EDITOR_TOKEN}"


@pytest.mark.parametrize("url", ["", "grafana.example.com"])
def test_invalid_url_rejected(url):
    with pytest.raises(GrafanaError, match="Grafana URL"):
        GrafanaClient(url, EDITOR_TOKEN)


def test_token_from_value_or_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("glsa_from_file\n")
    assert read_token("glsa_value", token_file) == "glsa_value"
    assert read_token(None, token_file) == "glsa_from_file"


def test_token_missing_or_empty(tmp_path):
    with pytest.raises(GrafanaError, match="GRAFANA_TOKEN or GRAFANA_TOKEN_FILE"):
        read_token(None, None)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(GrafanaError, match="is empty"):
        read_token(None, empty)
    with pytest.raises(GrafanaError, match="cannot read the Grafana token file"):
        read_token(None, tmp_path / "missing")
