import pytest

from shared.events import CallerStatus
from shared.phones import normalise, normalise_dialed


@pytest.mark.parametrize("raw", [
    "8 (916) 123-45-67", "+7 916 123-45-67", "89161234567", "+79161234567", "007 916 1234567",
    "9161234567",
])
def test_russian_numbers_in_any_notation_become_one_e164(raw):
    assert normalise(raw, "RU") == normalise("+79161234567", "RU")
    assert normalise(raw, "RU").value == "+79161234567"
    assert normalise(raw, "RU").status is CallerStatus.EXTERNAL


@pytest.mark.parametrize("raw", ["", "anonymous", "Restricted", None, "  ", "<unknown>"])
def test_withheld_caller_ids(raw):
    assert normalise(raw).status is CallerStatus.WITHHELD
    assert normalise(raw).value is None


def test_short_digit_strings_are_internal_extensions():
    assert normalise("104") == normalise("104")
    assert normalise("104").status is CallerStatus.INTERNAL
    assert normalise("104").value == "104"


@pytest.mark.parametrize("raw", ["hello", "+7 12", "12345678901234567890"])
def test_garbage_is_unparseable_not_an_error(raw):
    assert normalise(raw).status is CallerStatus.UNPARSEABLE


def test_default_region_decides_numbers_without_country_code():
    assert normalise("020 7946 0958", "GB").value == "+442079460958"


def test_dialed_extension_stays_and_number_is_normalised():
    assert normalise_dialed("104") == "104"
    assert normalise_dialed("8 495 100-00-00") == "+74951000000"
