"""Webhook signatures: our HMAC-SHA256 scheme, and Twilio's X-Twilio-Signature checked against
the worked example of Twilio's webhook-security docs and the vectors of Twilio's own SDK tests
(twilio-python, twilio-csharp RequestValidatorTest)."""

import pytest

from services.intake.signing import sign, twilio_signature, verify_switchboard, verify_twilio

SECRET = "whsec-test"
BODY = b'{"call_id":"a1b2"}'
STAMP = "1700000000"
# `printf '1700000000.{"call_id":"a1b2"}' | openssl dgst -sha256 -hmac whsec-test`
SIGNED = "sha256=1a0ca46c9a24e4293479ae5152cd04d16ada826b6889e7a0a97b03e05d694ee6"

# Twilio's documented example: auth token 12345, this URL, these POST parameters.
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
          "From": "+14158675309", "To": "+18005551212"}
DOCUMENTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


# --- our scheme ----------------------------------------------------------------------------

def test_sign_is_hmac_sha256_over_timestamp_dot_body():
    assert sign(SECRET, STAMP, BODY) == SIGNED
    # `printf '1700000000.' | openssl dgst -sha256 -hmac whsec-test`
    assert sign(SECRET, STAMP, b"") == (
        "sha256=70b977d08298e622e7e76b0fe7fced4909b9d0a83ac8d75d8be1a428baa02352")


def test_a_fresh_correctly_signed_body_passes():
    assert verify_switchboard(SECRET, STAMP, SIGNED, BODY, now=1700000100.5) is None


@pytest.mark.parametrize("now", [1700000000 - 300, 1700000000 + 300])
def test_five_minutes_either_way_is_still_fresh(now):
    assert verify_switchboard(SECRET, STAMP, SIGNED, BODY, now=now) is None


@pytest.mark.parametrize("now", [1700000000 - 301, 1700000000 + 301])
def test_older_or_newer_than_five_minutes_is_stale(now):
    reason = verify_switchboard(SECRET, STAMP, SIGNED, BODY, now=now)
    assert reason is not None and reason.startswith("stale")


def test_the_allowed_age_can_be_set():
    assert verify_switchboard(SECRET, STAMP, SIGNED, BODY, now=1700000061, max_age=60) \
        .startswith("stale")


@pytest.mark.parametrize(("timestamp", "signature", "expected"), [
    (None, SIGNED, "missing timestamp"),
    ("", SIGNED, "missing timestamp"),
    (STAMP, None, "missing signature"),
    (STAMP, "  ", "missing signature"),
])
def test_missing_headers(timestamp, signature, expected):
    assert verify_switchboard(SECRET, timestamp, signature, BODY, now=1700000000) == expected


@pytest.mark.parametrize("timestamp", ["2023-11-14T22:13:20Z", "1700000000.5", "-1", "１７"])
def test_a_timestamp_that_is_not_unix_seconds_is_bad(timestamp):
    reason = verify_switchboard(SECRET, timestamp, SIGNED, BODY, now=1700000000)
    assert reason.startswith("bad timestamp")


@pytest.mark.parametrize(("secret", "timestamp", "signature", "body"), [
    (SECRET, STAMP, SIGNED, BODY + b" "),  # body changed on the way
    ("another-secret", STAMP, SIGNED, BODY),  # signed with someone else's secret
    (SECRET, "1700000001", SIGNED, BODY),  # timestamp moved to dodge the age check
    (SECRET, STAMP, SIGNED.removeprefix("sha256="), BODY),  # no scheme prefix
    (SECRET, STAMP, "sha256=Ω", BODY),  # not even ASCII
])
def test_anything_changed_is_a_bad_signature(secret, timestamp, signature, body):
    assert verify_switchboard(secret, timestamp, signature, body, now=1700000000) == "bad signature"


def test_upper_case_hex_is_the_same_signature():
    assert verify_switchboard(SECRET, STAMP, SIGNED.upper(), BODY, now=1700000000) is None


def test_without_a_secret_nothing_passes():
    reason = verify_switchboard("", STAMP, sign("", STAMP, BODY), BODY, now=1700000000)
    assert reason is not None and reason.startswith("missing secret")


# --- Twilio --------------------------------------------------------------------------------

def test_twilio_signature_of_the_documented_example():
    assert twilio_signature(TOKEN, URL, PARAMS) == DOCUMENTED
    assert verify_twilio(TOKEN, URL, PARAMS, DOCUMENTED)


def test_parameter_order_does_not_matter():
    assert verify_twilio(TOKEN, URL, dict(reversed(PARAMS.items())), DOCUMENTED)


@pytest.mark.parametrize(("url", "signature"), [
    # the port a proxy added is dropped, or the scheme's default is added
    ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", DOCUMENTED),
    ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
    ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "CYn1h0gLBdNxDGkKJg6hYohgeD8="),
    ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    # the host is signed as written, and so are credentials in the URL
    ("https://MyCompany.com/myapp.php?foo=1&bar=2", "g9IN/x4Cft2g517EjYvEvM/W7LU="),
    ("https://MyCompany.com:1234/myapp.php?foo=1&bar=2", "PCqOZm8cnu/L6+u5i5fuEd+Iac4="),
    ("http://MyCompany.com/myapp.php?foo=1&bar=2", "XY7AlKOKL6im4yWyX84gldUrtis="),
    ("http://username:password@MyCompany.com/myapp.php?foo=1&bar=2",
     "PJ08CxXr7KLPjEQCTc8LkUSMwSM="),
    ("HTTP://username:password@MyCompany.com/myapp.php?foo=1&bar=2",
     "hy/l8pca+LFms4cvRdv8uiP6NGc="),
    ("http://Username:Password@MyCompany.com/myapp.php?foo=1&bar=2",
     "SkTSKyDJH9kUlhItI0slbgZ1UsI="),
])
def test_twilio_sdk_vectors(url, signature):
    assert verify_twilio(TOKEN, url, PARAMS, signature)


@pytest.mark.parametrize(("token", "url", "params", "signature"), [
    (TOKEN, URL, {**PARAMS, "Digits": "9999"}, DOCUMENTED),  # a parameter tampered with
    (TOKEN, URL, {**PARAMS, "Extra": "1"}, DOCUMENTED),  # a parameter added
    (TOKEN, URL + "&baz=3", PARAMS, DOCUMENTED),  # another URL
    (TOKEN, "https://MyCompany.com/myapp.php?foo=1&bar=2", PARAMS, DOCUMENTED),  # host case
    ("54321", URL, PARAMS, DOCUMENTED),  # another account's token
    (TOKEN, URL, PARAMS, "NOT" + DOCUMENTED),
    (TOKEN, URL, PARAMS, "Ω"),
    (TOKEN, URL, PARAMS, ""),
    (TOKEN, URL, PARAMS, None),
    ("", URL, PARAMS, twilio_signature("", URL, PARAMS)),  # no token configured
])
def test_twilio_signature_mismatch_fails(token, url, params, signature):
    assert verify_twilio(token, url, params, signature) is False


@pytest.mark.parametrize("url", ["http://[::1", "https://[::1]:8443/hook", "not a url", ""])
def test_odd_urls_do_not_raise(url):
    assert verify_twilio(TOKEN, url, PARAMS, twilio_signature(TOKEN, url, PARAMS))
