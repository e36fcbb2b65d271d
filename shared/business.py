"""The business numbers of the seed, each defined once. The settings classes take their
defaults from here, and every service that applies a number reads it through its settings,
so the lookup and the assignment cannot disagree on, say, when an ownership lapses.

Numbers that only one place applies stay there: the deal-size thresholds in the routing
rules file (`deal_size.<currency>`), the head's keep thresholds in the assignment's
settings (`SWITCHBOARD_ASSIGNMENT_KEEP_THRESHOLDS`; a test holds them above the rules file's
`large` thresholds: the head keeps only leads that reach the inbox)."""

from __future__ import annotations

# An owner stays the owner while they have been in touch with the client within this many
# days; after that the client is free again and the next assignee takes them over.
OWNERSHIP_LAPSE_DAYS = 30

# Shopping around (besides calling someone other than the owner): a client who reached
# at least K different employees within W days.
SHOPPING_MIN_EMPLOYEES = 3  # K
SHOPPING_WINDOW_DAYS = 14  # W

# The deal value per currency from which the head of sales keeps a lead at once.
KEEP_THRESHOLDS = {"RUB": 10_000_000.0, "USD": 120_000.0, "EUR": 110_000.0}
