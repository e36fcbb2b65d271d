"""The business numbers of the seed, each defined once. The settings classes and the
policies' rule dataclasses take their defaults from here, and every service that applies a
number reads it through its settings, so the lookup and the assignment cannot disagree on,
say, when an ownership lapses.

Numbers that only one place applies stay there: the deal-size thresholds in the routing
rules file (`deal_size.<currency>`), the head's keep thresholds in the assignment's
settings (`SWITCHBOARD_ASSIGNMENT_KEEP_THRESHOLDS`; a test holds them above the rules file's
`large` thresholds: the head keeps only leads that reach the inbox)."""

from __future__ import annotations

# An owner stays the owner while they have been in touch with the client within this many
# days; after that the client is free again and the next assignee takes them over. The
# lookup and the assignment read it from one variable, SWITCHBOARD_OWNERSHIP_LAPSE_DAYS.
OWNERSHIP_LAPSE_DAYS = 30

# Shopping around (besides calling someone other than the owner): a client who reached
# at least K different employees within W days.
SHOPPING_MIN_EMPLOYEES = 3  # K
SHOPPING_WINDOW_DAYS = 14  # W

# The deal value per currency from which the head of sales keeps a lead at once.
KEEP_THRESHOLDS = {"RUB": 10_000_000.0, "USD": 120_000.0, "EUR": 110_000.0}

# The head of sales keeps every commercial lead (while under capacity) when fewer than this
# many arrived over the last hour; 0: the volume never decides.
LOW_VOLUME_PER_HOUR = 5

# keep_mode=top_share: the head keeps a lead whose expected value is within this share of the
# best commercial leads of its currency over the last KEEP_WINDOW_DAYS.
KEEP_TOP_SHARE = 0.1
KEEP_WINDOW_DAYS = 30

# How long the head of sales may keep or pass a lead in the inbox; past it the lead goes to
# the strongest available negotiator.
INBOX_DEADLINE_SECONDS = 600

# A lead past its deadline that no negotiator could take (all full, on leave) waits this long
# before it is tried again.
RETRY_SECONDS = 60

# How many outcomes the department's average counts for in a negotiator's estimated chance
# to close (the Beta prior's weight): the assignment ranks by that chance, the desk shows it.
PRIOR_STRENGTH = 10.0

# How many runners-up a lead's assignment lists beside whoever got it.
RUNNERS_UP = 3
