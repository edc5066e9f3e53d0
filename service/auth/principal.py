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

PrincipalKind = Literal["operator", "user", "client"]


class Principal(msgspec.Struct, frozen=True, gc=False):
    kind: PrincipalKind
    subject: str
    roles: frozenset[str]
    tenant_id: UUID | None
    issuer: str
    expires_at: float

    def has_any(self, roles: frozenset[str]) -> bool:
        return not self.roles.isdisjoint(roles)
