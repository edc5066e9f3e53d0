"""The console's router: its pages, its guard and error pages, and the demo provider in demo mode only."""

from __future__ import annotations

from litestar import Router
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from service.config import Settings
from service.console.allocations import AllocationScreens
from service.console.assessments import AssessmentScreens
from service.console.attempts import AttemptScreens
from service.console.demo_idp import DemoIdentityProvider, TakeTokenEndpoint
from service.console.frameworks import FrameworkScreens
from service.console.item_files import ITEM_AUTHORING
from service.console.items import ItemScreens
from service.console.marking import AgreementScreens, MarkingScreens
from service.console.participation import SittingScreens
from service.console.rescoring import RescoringScreens
from service.console.signin import ConsoleSignIn
from service.console.views import Console, on_forbidden, on_not_signed_in
from service.console.web import console_guard


def console_router(settings: Settings) -> Router:
    handlers: list[type] = [
        ConsoleSignIn,
        Console,
        ItemScreens,
        FrameworkScreens,
        *ITEM_AUTHORING,
        AssessmentScreens,
        SittingScreens,
        MarkingScreens,
        AgreementScreens,
        AttemptScreens,
        RescoringScreens,
        AllocationScreens,
    ]
    if settings.demo:  # never mounted outside demo mode: the routes do not exist
        handlers += [DemoIdentityProvider, TakeTokenEndpoint]
    return Router(
        path="/",
        route_handlers=handlers,
        guards=[console_guard],
        include_in_schema=False,
        exception_handlers={
            NotAuthorizedException: on_not_signed_in,
            PermissionDeniedException: on_forbidden,
        },
    )
