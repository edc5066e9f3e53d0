"""Field types shared by the tenancy structs: one definition of what a code or a name may be."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

Code = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                           description="Stable key chosen by the tenant (letters, digits, . _ : -)")]
Slug = Annotated[str, Meta(min_length=2, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]+$")]
ExternalId = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$",
                                 description="The person's id in the tenant's HR system")]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Level = Annotated[str, Meta(min_length=1, max_length=40,
                            description="province, city, county, township, village, or the department's own")]
Category = Literal["leading_cadre", "civil_servant", "teacher", "professional_technical", "other", "unspecified"]
TenantRole = Literal["tenant_admin", "author", "rater", "analyst", "hr_client", "candidate"]
