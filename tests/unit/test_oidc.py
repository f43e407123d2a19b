"""Officers' tokens from the province's identity provider (shared/oidc.py, shared/auth.py's
TokenVerifier), against the provider stand-in of tests/support/oidc.py served through
httpx's in-process transport: keys found through discovery, rotation by kid, cached keys,
bounded refetches, the clock skew, the claims' mapping, and HS256 only where allowed."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from shared.auth import TokenVerifier, mint_token, verifier_from
from shared.oidc import ClaimNames, ProviderKeys, parse_role_map, units_of
from shared.problems import Problem
from shared.settings import ServiceSettings
from tests.support.oidc import IdentityProvider, SigningKey

ISSUER = "https://sso.haiphong.example.vn/realms/haiphong"
NAMES = ClaimNames("realm_access.roles", "units",
                   {"motcua-can-bo": "officer", "motcua-lanh-dao": "leader",
                    "motcua-van-hanh": "operator"})
SECRET = "a-local-secret-of-at-least-32-characters"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def served(provider: IdentityProvider, up: list[bool]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        if not up[0]:
            raise httpx.ConnectError("the provider is down")
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json=provider.discovery())
        if request.url.path.endswith("/certs"):
            return httpx.Response(200, json=provider.jwks())
        return httpx.Response(404)
    return httpx.Client(transport=httpx.MockTransport(answer))


@pytest.fixture
def provider() -> IdentityProvider:
    return IdentityProvider(ISSUER)


@pytest.fixture
def up() -> list[bool]:
    return [True]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(provider: IdentityProvider, up: list[bool], clock: Clock) -> TokenVerifier:
    keys = ProviderKeys(ISSUER, cache_s=300, min_refresh_s=30, http=served(provider, up),
                        clock=clock)
    return TokenVerifier(None, "motcua", "motcua-idp", keys, NAMES)


def refused(verifier: TokenVerifier, token: str, status: int = 401) -> str:
    with pytest.raises(Problem) as caught:
        verifier.principal(token)
    assert caught.value.status == status
    return str(caught.value.detail)


def test_a_provider_token_gives_the_role_and_units(verifier: TokenVerifier,
                                                   provider: IdentityProvider,
                                                   clock: Clock) -> None:
    who = verifier.principal(provider.token(roles=["offline_access", "motcua-lanh-dao"],
                                            units=["H26.01", "H26.02"]))
    assert (who.subject, who.role, who.units) == ("can.bo.a", "leader",
                                                  frozenset({"H26.01", "H26.02"}))
    es = provider.rotate("ES256")
    clock.t += 31
    assert verifier.principal(provider.token(key=es, units="H26.03 H26.04")).units \
        == frozenset({"H26.03", "H26.04"})


def test_a_key_the_provider_does_not_publish_is_refused(verifier: TokenVerifier,
                                                        provider: IdentityProvider) -> None:
    stranger = SigningKey.new()
    assert "does not publish" in refused(verifier, provider.token(key=stranger))
    # The same kid as a published key, signed by another key: the signature fails.
    forged = SigningKey(provider.current.kid, "RS256", SigningKey.new().private)
    assert refused(verifier, provider.token(key=forged)) == "invalid token"


def test_rotation_new_tokens_work_and_old_ones_until_they_expire(
        verifier: TokenVerifier, provider: IdentityProvider, clock: Clock) -> None:
    old = provider.token()
    assert verifier.principal(old).role == "officer"
    fetches = provider.fetches
    clock.t += 60  # past the bounded refetch interval
    provider.rotate()
    new = provider.token()
    assert verifier.principal(new).role == "officer", "an unknown kid fetches the keys again"
    assert provider.fetches == fetches + 1
    assert verifier.principal(old).role == "officer", "the old key is still published"
    expired = provider.token(key=provider.published[0], now=time.time() - 7200, ttl_s=3600)
    assert refused(verifier, expired) == "token expired"


def test_unknown_kids_do_not_hammer_the_provider(verifier: TokenVerifier,
                                                 provider: IdentityProvider,
                                                 clock: Clock) -> None:
    verifier.principal(provider.token())
    fetches = provider.fetches
    for _ in range(20):
        refused(verifier, provider.token(key=SigningKey.new()))
    assert provider.fetches == fetches, "within min_refresh_s no kid makes a fetch"
    clock.t += 31
    refused(verifier, provider.token(key=SigningKey.new()))
    assert provider.fetches == fetches + 1


def test_keys_are_cached_and_kept_while_the_provider_is_down(
        verifier: TokenVerifier, provider: IdentityProvider, up: list[bool],
        clock: Clock) -> None:
    token = provider.token()
    verifier.principal(token)
    fetches = provider.fetches
    for _ in range(5):
        verifier.principal(token)
    assert provider.fetches == fetches
    up[0] = False
    clock.t += 600  # the cache is stale and the provider down: the known keys still serve
    assert verifier.principal(token).role == "officer"


def test_no_keys_at_all_is_a_503(provider: IdentityProvider, up: list[bool],
                                 clock: Clock) -> None:
    up[0] = False
    keys = ProviderKeys(ISSUER, http=served(provider, up), clock=clock)
    verifier = TokenVerifier(None, "motcua", "motcua-idp", keys, NAMES)
    refused(verifier, provider.token(), 503)


def test_the_clock_skew_is_bounded(verifier: TokenVerifier, provider: IdentityProvider) -> None:
    early = provider.token(now=time.time() + 30)  # issued 30 s ahead: within the skew
    assert verifier.principal(early).role == "officer"
    later = provider.token(now=time.time() + 600, nbf=int(time.time()) + 600)
    assert refused(verifier, later) == "invalid token"


@pytest.mark.parametrize(("over", "detail"), [
    ({"roles": ["someone-else"]}, "token lacks a valid role or units claim"),
    ({"units": [1, 2]}, "token lacks a valid role or units claim"),
    ({"units": ["*"]}, "officer tokens must name their units; '*' is for importer and "
                       "operator tokens only"),
    ({"ttl_s": 3 * 86400}, "token lives longer than 24 hours"),
])
def test_claims_that_do_not_make_a_principal(verifier: TokenVerifier,
                                             provider: IdentityProvider, over: dict[str, object],
                                             detail: str) -> None:
    assert refused(verifier, provider.token(**over)) == detail  # type: ignore[arg-type]


def test_another_issuer_or_audience_is_refused(verifier: TokenVerifier,
                                               provider: IdentityProvider) -> None:
    assert refused(verifier, provider.token(iss="https://evil.example/realms/x")) \
        == "invalid token"
    assert refused(verifier, provider.token(aud="another-system")) \
        == "token is for another audience"


def test_hs256_is_taken_in_local_runs_only(provider: IdentityProvider) -> None:
    hs = mint_token(SECRET, subject="dev", role="officer", units=["H26.01"])
    local = verifier_from(ServiceSettings(env="local", jwt_secret=SECRET))
    assert local.principal(hs).subject == "dev"
    production = verifier_from(ServiceSettings(env="production", oidc_issuer=ISSUER))
    with pytest.raises(Problem) as caught:
        production.principal(hs)
    assert caught.value.status == 401
    # An HS256 token signed with the provider's public key as the secret (the classic
    # algorithm confusion) is refused too.
    confused = jwt.encode({"sub": "x"}, "not-the-providers-key-but-32-bytes-long", algorithm="HS256")
    with pytest.raises(Problem):
        production.principal(confused)


def test_production_refuses_a_shared_secret_and_wants_an_issuer() -> None:
    def refusals(**env: str) -> list[str]:
        return ServiceSettings(env="production", **env).production_refusals()  # type: ignore[arg-type]

    assert any("MOTCUA_OIDC_ISSUER is not set" in r for r in refusals())
    assert any(r.startswith("MOTCUA_JWT_SECRET is set: HS256 shared secrets are for local runs")
               for r in refusals(oidc_issuer=ISSUER, jwt_secret=SECRET))
    assert any("must be an https URL" in r for r in refusals(oidc_issuer="http://sso.local"))
    assert refusals(oidc_issuer=ISSUER) == []
    assert ServiceSettings(env="local").production_refusals() == []


def test_claim_helpers() -> None:
    assert parse_role_map("motcua-can-bo:officer, a:b:leader") == {"motcua-can-bo": "officer",
                                                                   "a:b": "leader"}
    with pytest.raises(ValueError):
        parse_role_map("officer")
    assert units_of({"u": {"v": "H26.01,H26.02"}}, ClaimNames(units="u.v")) == ["H26.01",
                                                                                 "H26.02"]
    assert units_of({}, ClaimNames()) == []
    assert units_of({"units": 7}, ClaimNames()) is None
