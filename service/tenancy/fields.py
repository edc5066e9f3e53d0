"""Field types shared by the tenancy structs: one definition of what a code or a name may be."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from msgspec import Meta

# Patterns are shared with path and query parameters, which are validated apart from bodies.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]+$"
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
# Free text may hold anything PostgreSQL can store: everything but NUL.
TEXT_PATTERN = r"^[^\x00]*$"
EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)
# Version numbers are PostgreSQL integers: a larger one is refused as invalid, never sent to the database.
MAX_VERSION = 2**31 - 1

Code = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        pattern=CODE_PATTERN,
        description="Stable key chosen by the tenant (letters, digits, . _ : -)",
    ),
]
Slug = Annotated[str, Meta(min_length=2, max_length=63, pattern=SLUG_PATTERN)]
ExternalId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=128,
        pattern=EXTERNAL_ID_PATTERN,
        description="The person's id in the tenant's HR system",
    ),
]
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
Level = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=40,
        pattern=TEXT_PATTERN,
        description="province, city, county, township, village, or the department's own",
    ),
]
Category = Literal[
    "leading_cadre", "civil_servant", "teacher", "professional_technical", "other", "unspecified"
]
TenantRole = Literal["tenant_admin", "author", "rater", "analyst", "hr_client", "candidate"]
