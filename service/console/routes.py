"""The console's router: its pages, its guard and error pages (service/console/errors.py), and the demo
provider in demo mode only."""

from __future__ import annotations

from litestar import Router
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)

from service.config import Settings
from service.console.allocations import AllocationScreens
from service.console.analysis import AnalysisScreens
from service.console.assessments import AssessmentScreens
from service.console.attempts import AttemptScreens
from service.console.credentials import CREDENTIALS
from service.console.demo_idp import DemoIdentityProvider, TakeTokenEndpoint
from service.console.errors import on_domain_refusal, on_http_error, on_invalid_parameter
from service.console.frameworks import FrameworkScreens
from service.console.integrations import INTEGRATIONS
from service.console.item_files import ITEM_AUTHORING
from service.console.items import ItemScreens
from service.console.lrs import LrsScreens
from service.console.marking import AgreementScreens, MarkingScreens
from service.console.org_tree import OrgTreeScreens
from service.console.participation import SittingScreens
from service.console.people import PeopleScreens
from service.console.rescoring import RescoringScreens
from service.console.signin import ConsoleSignIn
from service.console.views import Console, on_forbidden, on_not_signed_in
from service.console.web import console_guard
from service.errors import DomainError


def console_router(settings: Settings) -> Router:
    handlers: list[type] = [
        ConsoleSignIn,
        Console,
        ItemScreens,
        FrameworkScreens,
        *ITEM_AUTHORING,
        AssessmentScreens,
        SittingScreens,
        AnalysisScreens,
        MarkingScreens,
        AgreementScreens,
        OrgTreeScreens,
        PeopleScreens,
        *INTEGRATIONS,
        *CREDENTIALS,
        LrsScreens,
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
            # Pages, not the API's problem+json: a malformed code in a link is a 400 page naming it.
            ValidationException: on_invalid_parameter,
            DomainError: on_domain_refusal,
            HTTPException: on_http_error,
        },
    )
