"""``cdnpanel origin`` and applications on origins, and the nginx.conf it writes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdnpanel.cli import main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cdnpanel(database_url: str) -> Run:
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(main, ["--db", database_url, *args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture
def origin(cdnpanel: Run) -> str:
    """An origin serving demo-origin of account 158; returns its hook secret."""
    cdnpanel("account", "create", "--name", "demo", "--cdn", "158")
    code, out, _ = cdnpanel(
        "origin", "add", "origin1.example.net", "--control-url", "http://127.0.0.1:18081", "--json"
    )
    assert code == 0
    added = json.loads(out)
    assert added["kind"] == "nginx-rtmp" and added["hls_fragment"] == 2
    code, out, err = cdnpanel(
        "app", "create", "--cdn", "158", "--name", "demo-origin", "--origin", "origin1.example.net"
    )
    assert code == 0 and "reload nginx" in err
    return str(added["secret"])


def test_origin_add_and_list(cdnpanel: Run, origin: str) -> None:
    assert len(origin) == 64
    code, out, _ = cdnpanel("origin", "list", "--json")
    (listed,) = json.loads(out)["origins"]
    assert listed["name"] == "origin1.example.net"
    assert origin not in out  # the secret is shown once, at add
    code, _, err = cdnpanel("origin", "add", "origin1.example.net", "--control-url", "http://x")
    assert code == 1 and "exists already" in err
    code, _, err = cdnpanel("origin", "add", "bad name", "--control-url", "http://x")
    assert code == 1 and "host name" in err
    code, _, err = cdnpanel("origin", "add", "o2", "--control-url", "ftp://x")
    assert code == 1 and "http://" in err


def test_app_create_with_an_unknown_origin_creates_nothing(cdnpanel: Run, origin: str) -> None:
    code, _, err = cdnpanel("app", "create", "--cdn", "158", "--name", "x", "--origin", "nope")
    assert code == 1 and "nope" in err
    code, out, _ = cdnpanel("app", "list", "--cdn", "158", "--json")
    assert [a["name"] for a in json.loads(out)["applications"]] == ["demo-origin"]


def test_app_update_moves_an_application_to_an_origin(cdnpanel: Run, origin: str) -> None:
    cdnpanel("origin", "add", "origin2.example.net", "--control-url", "http://127.0.0.1:18082")
    cdnpanel("app", "create", "--cdn", "158", "--name", "demo-vod")
    code, out, _ = cdnpanel(
        "app", "update", "--cdn", "158", "demo-vod", "--origin", "origin2.example.net", "--json"
    )
    assert code == 0 and json.loads(out)["origin"] == "origin2.example.net"
    code, _, err = cdnpanel("app", "update", "--cdn", "159", "demo-vod", "--origin", "x")
    assert code == 1 and "159" in err


def test_app_update_gives_an_application_a_backup_origin(cdnpanel: Run, origin: str) -> None:
    cdnpanel("origin", "add", "origin2.example.net", "--control-url", "http://127.0.0.1:18082")
    cdnpanel("app", "update", "--cdn", "158", "demo-origin", "--origin", "origin1.example.net")
    update = ("app", "update", "--cdn", "158", "demo-origin", "--backup-origin")
    code, out, err = cdnpanel(*update, "origin2.example.net", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["origin"], answer["backup_origin"]) == (
        "origin1.example.net",
        "origin2.example.net",
    )
    code, out, _ = cdnpanel("app", "list", "--cdn", "158")
    assert "origin2.example.net" in out and "BACKUP ORIGIN" in out
    code, _, err = cdnpanel(*update, "origin1.example.net")
    assert code == 1 and "already" in err and "backup_origin" in err
    code, out, _ = cdnpanel(*update, "", "--json")
    assert code == 0 and json.loads(out)["backup_origin"] is None


def config(cdnpanel: Run, prefix: Path, *extra: str) -> tuple[int, str, str]:
    return cdnpanel(
        "origin", "nginx-config", "origin1.example.net", "--prefix", str(prefix), *extra
    )


def test_nginx_config_needs_the_right_secret(cdnpanel: Run, origin: str, tmp_path: Path) -> None:
    code, _, err = config(cdnpanel, tmp_path)
    assert code == 2 and "--secret" in err
    code, _, err = config(cdnpanel, tmp_path, "--secret", "0" * 64)
    assert code == 1 and "secret" in err
    code, out, _ = config(cdnpanel, tmp_path, "--secret", origin)
    assert code == 0
    assert "application demo-origin/live {" in out
    assert (
        f"on_publish http://127.0.0.1:8080/hooks/origins/origin1.example.net/publish?secret={origin};"
        in out
    )
    assert "location /demo-origin/live/ {" in out
    assert "listen 127.0.0.1:18081;" in out  # the control URL the origin was added with


def test_nginx_config_rotating_the_secret(cdnpanel: Run, origin: str, tmp_path: Path) -> None:
    code, out, _ = config(
        cdnpanel, tmp_path, "--rotate-secret", "--instance", "live", "--instance", "play"
    )
    assert code == 0 and origin not in out
    assert "application demo-origin/play {" in out
    code, _, err = config(cdnpanel, tmp_path, "--secret", origin)
    assert code == 1 and "wrong secret" in err  # the old secret stopped working


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--rtmp-listen", "1935; evil", "rtmp_listen"),
        ("--instance", "a/b", "instance"),
        ("--api-url", "https://api.example.net", "http://"),
    ],
)
def test_nginx_config_refuses_options_that_cannot_work(
    cdnpanel: Run, origin: str, tmp_path: Path, option: str, value: str, message: str
) -> None:
    code, _, err = config(cdnpanel, tmp_path, "--secret", origin, option, value)
    assert code == 1 and message in err


def test_nginx_config_refuses_a_relative_prefix(cdnpanel: Run, origin: str) -> None:
    code, _, err = config(cdnpanel, Path("origin"), "--secret", origin)
    assert code == 1 and "absolute" in err


@pytest.mark.integration
def test_the_generated_config_passes_nginx_t(cdnpanel: Run, origin: str, tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is not installed: scripts/test installs it")
    output = tmp_path / "nginx.conf"
    code, _, _ = config(
        cdnpanel,
        tmp_path,
        "--secret",
        origin,
        "--output",
        str(output),
        "--rtmp-listen",
        "127.0.0.1:19350",
        "--http-listen",
        "127.0.0.1:18088",
        "--publish-from",
        "127.0.0.1",
    )
    assert code == 0 and oct(output.stat().st_mode & 0o777) == "0o600"
    checked = subprocess.run(
        [nginx, "-t", "-p", f"{tmp_path}/", "-c", str(output), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_application_protection(cdnpanel: Run, origin: str) -> None:
    code, out, _ = cdnpanel(
        "app", "create", "--cdn", "158", "--name", "paid", "--protection", "sevu", "--json"
    )
    assert code == 0 and json.loads(out)["protection"] == "sevu"
    code, out, _ = cdnpanel("app", "update", "--cdn", "158", "demo-origin", "--protection", "sevu")
    assert code == 0
    code, out, _ = cdnpanel("app", "list", "--cdn", "158", "--json")
    listed = {a["name"]: (a["protection"], a["origin"]) for a in json.loads(out)["applications"]}
    assert listed == {"demo-origin": ("sevu", "origin1.example.net"), "paid": ("sevu", None)}
    code, _, err = cdnpanel("app", "update", "--cdn", "158", "paid", "--protection", "drm")
    assert code == 2 and "drm" in err


def test_origin_secrets_can_go_to_a_private_file(cdnpanel: Run, tmp_path: Path) -> None:
    saved = tmp_path / "origin2.secret"
    code, out, _ = cdnpanel(
        "origin", "add", "origin2.example.net", "--control-url", "http://127.0.0.1:18082",
        "--secret-file", str(saved), "--json",
    )  # fmt: skip
    assert code == 0 and "secret" not in json.loads(out)
    secret = saved.read_text().strip()
    assert len(secret) >= 32 and secret not in out
    assert saved.stat().st_mode & 0o777 == 0o600
    config = tmp_path / "nginx.conf"
    code, _, _ = cdnpanel(
        "origin", "nginx-config", "origin2.example.net", "--prefix", str(tmp_path),
        "--secret-file", str(saved), "-o", str(config),
    )  # fmt: skip
    assert code == 0 and config.stat().st_mode & 0o777 == 0o600
    # A file that exists is never overwritten with a new secret (it may be another origin's).
    code, _, err = cdnpanel(
        "origin", "rotate-secret", "origin2.example.net", "--secret-file", str(saved)
    )
    assert code == 2 and "exists already" in err and saved.read_text().strip() == secret
    rotated = tmp_path / "rotated.secret"
    code, out, _ = cdnpanel(
        "origin", "rotate-secret", "origin2.example.net", "--secret-file", str(rotated)
    )
    assert code == 0 and rotated.read_text().strip() != secret and rotated.read_text() not in out
    assert rotated.stat().st_mode & 0o777 == 0o600


def test_app_update_json_names_the_origin_whatever_changed(cdnpanel: Run, origin: str) -> None:
    code, out, _ = cdnpanel(
        "app", "update", "--cdn", "158", "demo-origin", "--protection", "sevu", "--json"
    )
    assert code == 0 and json.loads(out)["origin"] == "origin1.example.net"
    assert json.loads(out)["protection"] == "sevu"
