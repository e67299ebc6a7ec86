"""Edges as servers: adding them, what they may pull, and their generated nginx config."""

from __future__ import annotations

import pytest

from cdnpanel.errors import InvalidParameter, NotFound, PermissionDenied
from cdnpanel.origins.nginx_config import NginxConfigOptions, render_edge_config
from cdnpanel.records import EDGE
from cdnpanel.wiring import Services


def fleet(services: Services) -> tuple[str, str]:
    first = services.origins.add("origin1.test", control_url="http://127.0.0.1:8081")
    services.origins.add(
        "origin2.test",
        control_url="http://127.0.0.1:8082",
        rtmp_url="rtmp://10.0.0.2:1936",
        hls_url="http://10.0.0.2:8090",
    )
    account = services.accounts.create_account("live", cdn_id=158)
    app = services.applications.create(account.id, "demo-origin")
    services.origins.assign(app, "origin1.test")
    edge = services.origins.add_edge(
        "edge1.test",
        origins=["origin1.test", "origin2.test"],
        control_url="http://127.0.0.1:8091",
        location="fra",
    )
    return first.secret, edge.secret


def test_an_edge_pulls_from_its_origins_in_order(services: Services) -> None:
    _, secret = fleet(services)
    edge = services.origins.authenticate_hook("edge1.test", secret, EDGE)
    origins = {o.name: o.id for o in services.origins.list_origins()}
    assert edge.upstreams == (origins["origin1.test"], origins["origin2.test"])
    assert [a.name for a in services.origins.applications("edge1.test")] == ["demo-origin"]
    assert [e.name for e in services.origins.list_origins(EDGE)] == ["edge1.test"]
    # An edge's secret is no origin's, and the other way round.
    with pytest.raises(PermissionDenied):
        services.origins.authenticate_hook("edge1.test", secret, "origin")


@pytest.mark.parametrize(
    ("origins", "parameter"),
    [([], "origin"), (["nowhere.test"], "origin"), (["origin1.test", "origin1.test"], "origin")],
)
def test_bad_edges_are_refused_naming_the_parameter(
    services: Services, origins: list[str], parameter: str
) -> None:
    fleet(services)
    with pytest.raises(InvalidParameter) as refused:
        services.origins.add_edge("edge2.test", origins=origins, control_url="http://127.0.0.1:1")
    assert refused.value.param == parameter


def test_an_edge_is_neither_an_upstream_nor_an_applications_origin(services: Services) -> None:
    fleet(services)
    with pytest.raises(InvalidParameter):
        services.origins.add_edge("edge2.test", origins=["edge1.test"], control_url="http://h:1")
    account = services.accounts.get_account(158)
    (app,) = services.applications.list_for_account(account.id)
    with pytest.raises(InvalidParameter):
        services.origins.assign(app, "edge1.test")
    with pytest.raises(InvalidParameter):
        services.origins.update("origin1.test", rtmp_url="http://not-rtmp:1935")


def test_removing_an_edge_forgets_it(services: Services) -> None:
    fleet(services)
    assert services.origins.remove_edge("edge1.test") == 0
    with pytest.raises(NotFound):
        services.origins.get_edge("edge1.test")
    with pytest.raises(NotFound):
        services.origins.remove_edge("origin1.test")  # an origin is no edge


def test_the_edge_config_caches_fails_over_and_checks(services: Services) -> None:
    _, secret = fleet(services)
    edge = services.origins.get_edge("edge1.test")
    origins = [services.origins.get("origin1.test"), services.origins.get("origin2.test")]
    text = render_edge_config(
        edge,
        origins,
        services.origins.applications("edge1.test"),
        NginxConfigOptions(prefix="/srv/edge1", api_url="http://127.0.0.1:8080", secret=secret),
    )
    assert "proxy_cache_lock on;" in text
    assert "server origin1.test:8088 max_fails=1 fail_timeout=5s;" in text
    # origin2 serves none of the edge's applications: no backup to fall back on.
    assert "backup;" not in text
    assert "pull rtmp://origin1.test:1935 app=demo-origin/live flashVer=cdnpanel-edge" in text
    assert "/hooks/edges/edge1.test/hls;" in text
    assert "deny publish all;" in text
    assert "on_publish" not in text  # an edge takes no encoders
    # With origin2 as demo-origin's backup origin, HLS falls back on it.
    (app,) = services.origins.applications("edge1.test")
    services.origins.assign_backup(app, "origin2.test")
    with_backup = render_edge_config(
        edge,
        origins,
        services.origins.applications("edge1.test"),
        NginxConfigOptions(prefix="/srv/edge1", api_url="http://127.0.0.1:8080", secret=secret),
    )
    assert "server 10.0.0.2:8090 backup;" in with_backup
    assert "pull rtmp://origin1.test:1935 app=demo-origin/live" in with_backup
    with pytest.raises(ValueError, match="cache size"):
        render_edge_config(
            edge,
            origins,
            [],
            NginxConfigOptions(
                prefix="/srv/edge1", api_url="http://x:1", secret=secret, cache_max_size="lots"
            ),
        )


def test_a_backup_origin_takes_the_applications_encoders_too(services: Services) -> None:
    fleet(services)
    (app,) = services.origins.applications("origin1.test")
    assert services.origins.applications("origin2.test") == []
    app = services.origins.assign_backup(app, "origin2.test")
    assert [a.name for a in services.origins.applications("origin2.test")] == ["demo-origin"]
    origin2 = services.origins.get("origin2.test")
    assert origin2.serves(app)
    assert services.streams.served_application(origin2, "demo-origin").backup_origin_id == (
        origin2.id
    )
    # One application on both of the edge's origins is one application of the edge.
    assert [a.name for a in services.origins.applications("edge1.test")] == ["demo-origin"]
    for name, why in (
        ("origin1.test", "already"),
        ("edge1.test", "edge"),
    ):
        with pytest.raises(InvalidParameter, match=why) as refused:
            services.origins.assign_backup(app, name)
        assert refused.value.param == "backup_origin"
    # Moving the application to its backup origin, or off every origin, ends the backup.
    moved = services.origins.assign(app, "origin2.test")
    assert (moved.origin_id, moved.backup_origin_id) == (origin2.id, None)
    again = services.origins.assign_backup(moved, "origin1.test")
    gone = services.origins.assign(again, None)
    assert gone.origin_ids == ()
    (stored,) = services.applications.list_for_account(app.account_id)
    assert stored.origin_ids == ()
    with pytest.raises(InvalidParameter, match="no origin"):
        services.origins.assign_backup(gone, "origin1.test")
