"""The demo's ids: the same on every run and in every release, so running the demo again on a
database an earlier run (or release) filled finds its rows instead of adding new ones."""

import uuid

from switchboard.demo import HEAD_OF_SALES, ROMASHKA, demo_event_id, demo_id

HISTORY_KEY = f"{HEAD_OF_SALES}:large_corporate:large:0"


def test_the_demo_finds_the_people_clients_and_leads_an_earlier_release_created():
    # The ids the demo minted before its entities got `stable_id` (derive_event_id's values).
    assert demo_id("employee", HEAD_OF_SALES) == uuid.UUID("79d8f9ca-ad98-5321-bfcf-2034e7653e49")
    assert demo_id("client", ROMASHKA) == uuid.UUID("0b360bd3-3deb-5d55-b64d-f3234d68db2d")
    assert demo_id("history", HISTORY_KEY) == uuid.UUID("b705f27a-00bc-5529-aec1-e47a37f17029")
    assert demo_event_id("history-outcome", HISTORY_KEY) == uuid.UUID(
        "c2922994-6848-56cf-88ac-3420d4efd6e5")


def test_each_kind_of_row_has_its_own_ids():
    assert demo_id("employee", "x") != demo_id("client", "x")
    assert demo_id("history", HISTORY_KEY) != demo_event_id("history-outcome", HISTORY_KEY)
