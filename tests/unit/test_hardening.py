"""The pure rules behind the hardening findings, one regression per finding: each of these
failed before its fix."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import jwt
import pytest

from services.feedback.domain.rating import GuessingPolicy, Refusal, refusal, retry_after
from services.feedback.settings import Settings as FeedbackSettings
from services.intake.domain.filing import channel_refusal
from services.intake.settings import Settings as IntakeSettings
from services.postal.domain.shipment import CourierTimeRefused, Shipment
from services.postal.domain.signature import sign, verify
from services.postal.settings import Settings as PostalSettings
from services.processing.domain.workflow import Dossier, RuleViolation
from services.processing.settings import Settings as ProcessingSettings
from shared.auth import MAX_TOKEN_LIFETIME_S, decode_token, mint_token
from shared.jsonguard import JsonDepthGuard
from shared.masking import mask_personal_data
from shared.problems import MAX_LISTED_ERRORS, Problem, validation_fields
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from shared.textbounds import clean_name, clean_text, vietnamese_phone, web_url
from shared.workdays import WorkingCalendar, latest_reappointment

VN = ZoneInfo("Asia/Ho_Chi_Minh")
SECRET = "unit-test-secret-of-thirty-two-chars!"
STRONG = "x" * 40


# ---------------------------------------------------------------- 1, 9: PIN guessing
POLICY = GuessingPolicy(per_dossier=5, per_source=8, window=timedelta(minutes=15))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_attempts_are_allowed_under_both_limits() -> None:
    assert retry_after([ago(1)] * 4, [ago(1)] * 7, NOW, POLICY) is None


def test_the_dossier_limit_holds_and_says_when_it_frees() -> None:
    failures = [ago(14), ago(10), ago(5), ago(3), ago(1)]
    wait = retry_after(failures, [], NOW, POLICY)
    # The oldest expires in one minute: then one more attempt may be made.
    assert wait is not None and 60 <= wait <= 62


def test_the_source_limit_holds_whatever_the_dossier() -> None:
    assert retry_after([], [ago(2)] * 8, NOW, POLICY) is not None


def test_failures_outside_the_window_do_not_count() -> None:
    assert retry_after([ago(16)] * 10, [ago(20)] * 20, NOW, POLICY) is None


def test_an_unknown_dossier_with_the_right_pin_is_not_finished_yet() -> None:
    assert refusal(None, False) is Refusal.NOT_FINISHED
    assert refusal("resolved", True) is Refusal.ALREADY_RATED
    assert refusal("resolved", False) is None


# ---------------------------------------------------------------- 2, 7: secrets
IDP = "https://sso.haiphong.example.vn/realms/haiphong"


def production(kind: type, **env: str) -> list[str]:
    return list(kind(env="production", **env).production_refusals())


def test_production_refuses_published_defaults_naming_each_setting() -> None:
    refusals = production(IntakeSettings)
    assert any(r.startswith("INTAKE_OIDC_ISSUER is not set") for r in refusals), "no HS256"
    assert any(r.startswith("INTAKE_PIN_PEPPER is a default") for r in refusals)
    assert any("INTAKE_PORTAL_KEYS[dvc-demo]" in r for r in refusals), "a demo key"
    assert any("POSTAL_COURIER_SECRETS[vnpost] is a default" in r
               for r in production(PostalSettings))
    assert any("FEEDBACK_PIN_PEPPER" in r for r in production(FeedbackSettings))
    assert any("FEEDBACK_PORTAL_KEYS[dvc-demo] is a default" in r
               for r in production(FeedbackSettings)), "the portals' demo keys, for complaints"


def test_production_refuses_short_and_old_compose_secrets() -> None:
    assert production(ProcessingSettings, jwt_secret="change-me-in-production-32-characters")
    short = production(FeedbackSettings, oidc_issuer=IDP, pin_pepper="only-sixteen-chr",
                       portal_keys="")
    assert short == ["FEEDBACK_PIN_PEPPER is shorter than 32 characters"]
    hs256 = production(ProcessingSettings, oidc_issuer=IDP, jwt_secret=STRONG)
    assert hs256 == ["PROCESSING_JWT_SECRET is set: HS256 shared secrets are for local runs "
                     "only; in production officers' tokens come from the province's identity "
                     "provider (PROCESSING_OIDC_ISSUER)"]


def test_production_accepts_secrets_of_its_own_and_local_accepts_anything() -> None:
    assert production(IntakeSettings, oidc_issuer=IDP, pin_pepper="p" * 40,
                      portal_keys=f"dvc:portal:dvc.{'k' * 40}") == []
    assert production(PostalSettings, oidc_issuer=IDP, courier_secrets=f"vnpost:{'c' * 40}") == []
    assert IntakeSettings(env="local").production_refusals() == []


# ---------------------------------------------------------------- 3: free text
@pytest.mark.parametrize("text", [
    "gọi 0912 345 678", "gọi +84 912 345 678", "gọi 84912345678", "gọi 0912.345.678",
    "CCCD 031203004567", "CCCD 031 203 004 567", "CMND 123456789", "CMND 123 456 789",
    "gọi 0084 912 345 678", "ĐT bàn 0283.823.4567",
    "thư nguyen.van.an@gmail.com", "e-mail: AN_NGUYEN+dvc@so-tu-phap.haiphong.gov.vn",
    "thư nguyễn.an@gmail.com",
])
def test_personal_data_in_free_text_is_masked(text: str) -> None:
    masked = mask_personal_data(text)
    assert masked != text
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 9:
        assert digits not in "".join(ch for ch in masked if ch.isdigit())
    if "@" in text:
        local = text.split()[-1].split("@")[0]
        assert local not in masked and masked.endswith(text.split("@")[1])
    assert mask_personal_data(masked) == masked  # idempotent


@pytest.mark.parametrize("text", ["hồ sơ H26.01-261123-0001", "phí 100.500.000 đồng",
                                  "kết quả LLTP-2026-0001", "ngày 2026-11-23",
                                  "phí 1.500.000 đồng", "1.000.000.000 đồng", "100.000.000.000",
                                  "84.500.000.000 đồng", "lúc 2026-11-23T09:30:00+07:00",
                                  "12,500,000 VND"])
def test_codes_amounts_and_dates_are_not_masked(text: str) -> None:
    assert mask_personal_data(text) == text


# ---------------------------------------------------------------- 4: courier history
def shipment() -> Shipment:
    s, _ = Shipment.open("H26.01-261201-0001", "inbound", "H26.01",
                         datetime(2026, 12, 1, 9, tzinfo=VN))
    return s


def test_a_courier_event_before_the_shipment_is_refused() -> None:
    with pytest.raises(CourierTimeRefused):
        shipment().apply("picked_up", datetime(2001, 1, 2, 9, tzinfo=VN), reason=None,
                         max_attempts=3)


def test_courier_times_may_not_go_backwards() -> None:
    s = shipment()
    s.apply("picked_up", datetime(2026, 12, 1, 11, tzinfo=VN), reason=None, max_attempts=3)
    with pytest.raises(CourierTimeRefused):
        s.apply("delivered", datetime(2026, 12, 1, 10, tzinfo=VN), reason=None, max_attempts=3)
    s.apply("delivered", datetime(2026, 12, 1, 15, tzinfo=VN), reason=None, max_attempts=3)
    assert s.status == "delivered" and s.last_event_at == datetime(2026, 12, 1, 15, tzinfo=VN)


# ---------------------------------------------------------------- 6, 16: answers
def test_a_422_lists_twenty_errors_and_counts_the_rest() -> None:
    errors = [{"field": f"body:/k{i}", "message": "extra", "type": "extra_forbidden"}
              for i in range(90_000)]
    body = validation_fields(errors)
    assert len(body["errors"]) == MAX_LISTED_ERRORS and body["errors_total"] == 90_000
    assert len(body["detail"]) < 1000 and "89980 more" in body["detail"]


def test_a_body_with_too_many_members_is_refused_before_parsing() -> None:
    guard = JsonDepthGuard(max_members=100)
    body = b"{" + b",".join(b'"k%d":1' % i for i in range(200)) + b"}"
    assert not guard.feed(body) and guard.too_many and not guard.too_deep
    strings = JsonDepthGuard(max_members=100)
    assert strings.feed(b'{"note": "' + b"," * 500 + b'"}')  # commas inside a string


def test_token_refusals_are_our_own_words() -> None:
    header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    for token in (header + ".__8.c2ln", "abc.def.ghi", header + "." + header + ".x"):
        with pytest.raises(Problem) as e:
            decode_token(token, SECRET, "motcua", "motcua-idp")
        assert e.value.status == 401 and e.value.detail == "invalid token"


# ---------------------------------------------------------------- 8: courier timestamps
@pytest.mark.parametrize("stamp", ["²", "١٢٣", "12 3", "-5", "", "9" * 13])
def test_a_courier_timestamp_is_ascii_digits(stamp: str) -> None:
    assert verify({"vnpost": SECRET}, "vnpost", stamp, "x", b"{}", time.time(), 300) \
        == "bad-timestamp"


def test_a_good_signature_still_verifies() -> None:
    now = int(time.time())
    good = sign(SECRET, now, b"{}")
    assert verify({"vnpost": SECRET}, "vnpost", str(now), good, b"{}", now, 300) == "ok"


# ---------------------------------------------------------------- 10: apology dates
def test_the_latest_new_date_is_the_processing_time_again() -> None:
    rb = load_rulebook(str(DEFAULT_RULEBOOK))
    policy, cal = rb.policy_for("H26.01"), WorkingCalendar()
    due = datetime(2026, 12, 4, 17, tzinfo=VN)  # a Friday
    assert latest_reappointment(due, 3, cal, policy).date() == date(2026, 12, 9)
    assert latest_reappointment(due, 0, cal, policy).date() == date(2026, 12, 7)


def test_an_apology_beyond_the_latest_date_is_refused() -> None:
    d = Dossier.__new__(Dossier)
    d.__dict__.update(state="processing", apology_count=0, appointment_at=None,
                      due_at=datetime(2026, 12, 4, 17, tzinfo=VN))
    with pytest.raises(RuleViolation) as e:
        d.apologize("r", datetime(2099, 6, 1, 17, tzinfo=VN), datetime(2026, 12, 3, tzinfo=VN),
                    1, latest=datetime(2026, 12, 9, 17, tzinfo=VN))
    assert e.value.field == "new_due_at"


# ---------------------------------------------------------------- 11: token lifetime
def test_a_token_living_longer_than_allowed_is_refused() -> None:
    for ttl in (MAX_TOKEN_LIFETIME_S + 3600, 10**30):
        now = int(time.time())
        token = jwt.encode({"sub": "a", "role": "officer", "units": ["H26.01"], "aud": "motcua",
                            "iss": "motcua-idp", "iat": now, "exp": now + ttl}, SECRET)
        with pytest.raises(Problem) as e:
            decode_token(token, SECRET, "motcua", "motcua-idp")
        assert e.value.status == 401


def test_every_unit_is_for_importers_and_operators_only() -> None:
    for role in ("officer", "leader"):
        with pytest.raises(Problem):
            decode_token(mint_token(SECRET, subject="a", role=role, units=["*"]), SECRET,
                         "motcua", "motcua-idp")
    for role in ("importer", "operator"):
        who = decode_token(mint_token(SECRET, subject="a", role=role, units=["*"]), SECRET,
                           "motcua", "motcua-idp")
        assert who.may_act_on("H26.99")


# ---------------------------------------------------------------- 13: counter filings
def test_counter_filings_come_from_a_desk() -> None:
    assert channel_refusal("portal", "counter") is not None
    assert channel_refusal("portal", "online") is None
    assert channel_refusal("desk", "counter") is None
    assert channel_refusal("desk", "online") is not None
    assert all(channel_refusal("importer", c) is None for c in ("counter", "online", "postal"))


# ---------------------------------------------------------------- 14: text
@pytest.mark.parametrize("bad", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd",
                                 "//evil.example/x", "https://", "https://a.example/\u202e"])
def test_only_http_urls(bad: str) -> None:
    with pytest.raises(ValueError):
        web_url(bad)
    assert web_url("https://dvc.haiphong.gov.vn/f/1?x=2") == "https://dvc.haiphong.gov.vn/f/1?x=2"


@pytest.mark.parametrize("bad", ["\u200b\u200b", "Nguyễn \u202eAn", "An\u2066x\u2069",
                                 "\ufeffAn", "12345"])
def test_names_refuse_invisible_and_bidi_characters(bad: str) -> None:
    with pytest.raises(ValueError):
        clean_name(bad)


def test_names_are_nfc() -> None:
    decomposed = "Nguye\u0302\u0303n"
    assert clean_name(decomposed) == "Nguyễn" and len(clean_name(decomposed)) == 6
    assert clean_text("dòng 1\ndòng 2") == "dòng 1\ndòng 2"
    assert clean_text("cảm ơn 👨\u200d👩\u200d👧 nhiều") == "cảm ơn 👨\u200d👩\u200d👧 nhiều"
    with pytest.raises(ValueError):
        clean_name("An\u200dBình")
    with pytest.raises(ValueError):
        clean_text("lý do\u202e")


@pytest.mark.parametrize("given", ["0912 345 678", "+84 912 345 678", "84912345678",
                                   "0912.345.678", "+84912345678", "(+84) 912-345-678",
                                   "+84 (0) 912 345 678", "840912345678", "0084 912 345 678"])
def test_usual_phone_forms_are_one_number(given: str) -> None:
    assert vietnamese_phone(given) == "0912345678"


def test_not_a_phone() -> None:
    for bad in ("12345", "+1 212 555 0100", "0912abc678", "00912345678", "0012345678"):
        with pytest.raises(ValueError):
            vietnamese_phone(bad)


def test_a_source_is_an_ipv4_address_or_an_ipv6_network() -> None:
    from services.feedback.domain.rating import source_key

    assert source_key("198.51.100.7") == "198.51.100.7"
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::9") \
        == "2001:db8:1:2::/64"
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert source_key("unknown") == "unknown"


def test_cursors_round_trip_and_refuse_what_was_not_handed_out() -> None:
    from services.intake.domain.cursor import START, decode_cursor, encode_cursor

    for position in (START, (12345, 67), (2**62, 2**40)):
        assert decode_cursor(encode_cursor(position)) == position
    for bad in ("", "x", encode_cursor((1, 2))[:-2] + "!!", "YzEuMTI", "YzIuMS4yLjM",
                "YzIuLTEuMg"):
        with pytest.raises(ValueError):
            decode_cursor(bad)
