"""Guards run with their route handler itself (`guards_see_their_handler`), in Litestar's order, and still
refuse: no database needed."""

from __future__ import annotations

from litestar import Controller, Litestar, get
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from service.api.app import create_app
from service.api.auth import _authorize_uncopied, guards_see_their_handler
from service.config import Settings


def test_guards_get_the_handler_itself_in_order_and_refuse() -> None:
    seen: list[tuple[str, BaseRouteHandler]] = []

    async def app_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        seen.append(("app", handler))

    async def controller_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        seen.append(("controller", handler))
        if handler.opt.get("closed"):
            raise PermissionDeniedException(detail="closed")

    class Things(Controller):
        path = "/things"
        guards = [controller_guard]

        @get("/open", sync_to_thread=False)
        def open_(self) -> str:
            return "in"

        @get("/closed", sync_to_thread=False, opt={"closed": True})
        def closed(self) -> str:
            return "never"

    app = Litestar([Things], guards=[app_guard])
    guards_see_their_handler(app)
    handlers = {
        h.opt.get("closed", False): h
        for r in app.routes
        if isinstance(r, HTTPRoute) and r.path.startswith("/things")
        for h in r.route_handlers
        if "GET" in h.http_methods
    }
    with TestClient(app) as client:
        assert client.get("/things/open").text == "in"
        assert seen == [("app", handlers[False]), ("controller", handlers[False])]
        seen.clear()
        assert client.get("/things/closed").status_code == 403
        assert [name for name, _ in seen] == ["app", "controller"]
        assert all(handler is handlers[True] for _, handler in seen)


def test_every_route_of_the_service_runs_its_guards_uncopied(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path)}))
    for route in app.routes:
        for handler in route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler]:  # type: ignore[attr-defined]
            assert handler.authorize_connection.__func__ is _authorize_uncopied, handler
