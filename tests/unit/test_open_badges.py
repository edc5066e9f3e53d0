"""The pure Open Badges pieces (service/results/open_badges.py, vc_jwt.py), checked against an
independent reading: the Bitstring Status List's bit order by openbadgeslib's decoder, a signed
credential by openbadgeslib's verifier with the key from the DID document we build, and the typed
refusals of what is not one of our credentials. No database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openbadgeslib.ob3.did import pem_for_kid
from openbadgeslib.ob3.status import decode_encoded_list, set_indices
from openbadgeslib.ob3.verifier import OB3Verifier

from service.results import open_badges
from service.results.open_badges import STATUS_LIST_BITS, Award, IssuerProfile
from service.results.vc_jwt import IssuerKey, Presented, UnknownKey, WrongAlgorithm, did_document
from service.rubrics.model import FrameworkContent

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORK = msgspec.json.decode(
    (ROOT / "rubrics/templates/cadre-ai-literacy/1.1.0.json").read_bytes(), type=FrameworkContent
)
TENANT = uuid.UUID("5f1d3c4e-0000-4000-8000-000000000001")
KEY = IssuerKey.generate()


@given(st.sets(st.integers(min_value=0, max_value=STATUS_LIST_BITS - 1), max_size=50))
def test_the_status_list_sets_exactly_the_revoked_bits(revoked: set[int]):
    assert set_indices(decode_encoded_list(open_badges.encode_status_list(revoked))) == revoked


def _issued(level: str = "L2", valid_days: int | None = 30) -> tuple[str, str]:
    issuer = IssuerProfile(
        open_badges.did_web("https://assess.example.gov.cn:8443", TENANT),
        "https://assess.example.gov.cn:8443",
        {"zh-CN": "某省教育厅", "en": "Provincial Department of Education"},
    )
    now = datetime.now(UTC).replace(microsecond=0)
    award = Award(
        credential_id=uuid.uuid4(),
        subject="HMC",
        level=level,
        required_level="L2",
        holder=open_badges.holder_id(TENANT, uuid.uuid4()),
        status_list_url=f"https://assess.example.gov.cn:8443/credentials/{TENANT}/status/0",
        status_index=7,
        valid_from=now,
        valid_until=now + timedelta(days=valid_days) if valid_days else None,
        case_seed="framework:1",
        case_item=str(uuid.uuid4()),
    )
    return issuer.did, KEY.sign(issuer.did, open_badges.credential(FRAMEWORK, issuer, award))


def test_a_signed_credential_verifies_with_the_key_of_the_did_document():
    did, token = _issued()
    assert did == f"did:web:assess.example.gov.cn%3A8443:credentials:{TENANT}"
    document = did_document(did, [KEY.public_jwk()])
    pem = pem_for_kid(document, did, jwt.get_unverified_header(token)["kid"])
    credential = OB3Verifier(pem).verify(token)
    assert credential.issuer.id == did


def test_presented_tokens_that_are_not_ours_are_typed_refusals():
    did, token = _issued()
    payload = jwt.decode(token, options={"verify_signature": False})
    with pytest.raises(WrongAlgorithm):
        Presented(jwt.encode(payload, "k" * 32, algorithm="HS256"))
    with pytest.raises(WrongAlgorithm):
        Presented(jwt.encode(payload, None, algorithm="none"))  # type: ignore[arg-type]
    other = {**payload, "iss": "did:web:evil.example"}
    with pytest.raises(UnknownKey):
        Presented(jwt.encode(other, KEY.private_key, algorithm="RS256"))
    presented = Presented(token)
    assert presented.tenant_id == TENANT and presented.kid == KEY.kid
    assert presented.check(did, KEY)
    with pytest.raises(UnknownKey):  # the tenant's issuer has another key than the one the token names
        presented.check(did, IssuerKey.generate())
    forged = jwt.encode(
        payload, IssuerKey.generate().private_key, algorithm="RS256", headers={"kid": f"{did}#{KEY.kid}"}
    )
    assert not Presented(forged).check(did, KEY)  # our kid, another key's signature: tampered
