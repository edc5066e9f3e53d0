"""Who is calling: the verified identity a request carries through guards and SQL."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import msgspec

OPERATOR = "operator"
TENANT_ADMIN = "tenant_admin"
AUTHOR = "author"
RATER = "rater"
ANALYST = "analyst"
HR_CLIENT = "hr_client"
CANDIDATE = "candidate"

TENANT_ROLES = frozenset({TENANT_ADMIN, AUTHOR, RATER, ANALYST, HR_CLIENT, CANDIDATE})
ALL_ROLES = TENANT_ROLES | {OPERATOR}

# What a service client (an HR system) may be granted. A client's token carries a subset in its
# `scope` claim; a route open to clients names the scope it needs (service/api/auth.py).
PEOPLE_WRITE = "people:write"
ORG_UNITS_WRITE = "org-units:write"
SCORES_READ = "scores:read"
AGGREGATES_READ = "aggregates:read"
WEBHOOKS_MANAGE = "webhooks:manage"
CLIENT_SCOPES = (PEOPLE_WRITE, ORG_UNITS_WRITE, SCORES_READ, AGGREGATES_READ, WEBHOOKS_MANAGE)

PrincipalKind = Literal["operator", "user", "client"]


class Principal(msgspec.Struct, frozen=True, gc=False):
    kind: PrincipalKind
    subject: str
    roles: frozenset[str]
    tenant_id: UUID | None
    issuer: str
    expires_at: float
    # A service client's granted scopes; always empty for users and the operator, whose roles decide.
    scopes: frozenset[str] = frozenset()

    def has_any(self, roles: frozenset[str]) -> bool:
        return not self.roles.isdisjoint(roles)
