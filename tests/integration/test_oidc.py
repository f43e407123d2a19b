"""Officers sign in with the province's identity provider: the services, on a stack of their
own, validate RS256/ES256 tokens against the local provider stand-in (tests/support/oidc.py)
found through OIDC discovery over HTTP; a token signed by a key the provider does not publish
is refused; after a rotation new tokens work and old ones keep working until they expire."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import JWT_SECRET, Infra
from tests.support.api import UNIT, Api
from tests.support.oidc import ServedProvider, SigningKey
from tests.support.stack import own_stack

pytestmark = pytest.mark.integration
PORT_BASE = 18900
ROLE_MAP = "motcua-can-bo:officer,motcua-lanh-dao:leader,motcua-van-hanh:operator"


@pytest.fixture
def provider() -> Iterator[ServedProvider]:
    served = ServedProvider()
    yield served
    served.close()


async def test_provider_tokens_rotation_and_refusals(infra: Infra, tmp_path: Path,
                                                     provider: ServedProvider) -> None:
    env = {"MOTCUA_JWT_SECRET": JWT_SECRET, "MOTCUA_OIDC_ISSUER": provider.issuer,
           "MOTCUA_OIDC_ROLE_CLAIM": "realm_access.roles", "MOTCUA_OIDC_ROLE_MAP": ROLE_MAP,
           "MOTCUA_OIDC_MIN_REFRESH_S": "1"}
    async with own_stack(tmp_path, kafka=infra.kafka_bootstrap, base_url=infra.database_url,
                         port_base=PORT_BASE, extra_env=env) as stack:
        api = Api(stack, infra, JWT_SECRET)
        try:
            worklist = api.url("processing", "/v1/worklist")

            async def status(token: str, url: str = worklist) -> int:
                r = await api.http.get(url, headers={"Authorization": f"Bearer {token}"})
                return r.status_code

            old = provider.token(units=[UNIT])
            assert await status(old) == 200
            stranger = provider.token(key=SigningKey.new(), units=[UNIT])
            assert await status(stranger) == 401
            r = await api.http.get(worklist, headers={"Authorization": f"Bearer {stranger}"})
            assert r.json()["detail"] == ("token signed by a key the identity provider does "
                                          "not publish")

            # The provider rotates (the old key stays published while its tokens live).
            await asyncio.sleep(1.5)  # the services refetch an unknown kid at most every second here
            provider.rotate("ES256")
            new = provider.token(units=[UNIT])
            assert await status(new) == 200, "the new key is fetched on its first token"
            assert await status(old) == 200, "tokens signed before the rotation still work"
            leader = provider.token(roles=["motcua-lanh-dao"], units=[UNIT], sub="lanh.dao")
            assert await status(leader, api.url("processing", f"/v1/units/{UNIT}/stuck")) == 200
            operator = provider.token(roles=["motcua-van-hanh"], units="*")
            assert await status(operator, api.url("feedback", "/v1/complaints")) == 200
            expired = provider.token(now=time.time() - 7200, ttl_s=3600)
            assert await status(expired) == 401
            # Local runs keep HS256 beside the provider (production takes none).
            assert (await api.http.get(worklist, headers=api.token([UNIT]))).status_code == 200
        finally:
            await api.close()
