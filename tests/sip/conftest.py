"""The SIP harness's fixtures for the tests under tests/sip."""

from tests.sip.harness import sip_lab  # noqa: F401  (a fixture)
