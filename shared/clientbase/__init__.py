"""What a record of the client base may hold, for every way records come in: the CSV import
(`switchboard import`) and the lookup's API for CRMs apply the same checks and say the same
words when a value is wrong. `values` says what a value means (departments, roles and
segments as CRMs write them, e-mail addresses, extensions, numbers and ranges, normalised);
`checks` turns one field's value into what the client base stores, or `Invalid` with the
message. Pure: no I/O."""
