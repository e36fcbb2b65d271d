"""In-memory stand-ins for the services' ports, one set for every test that runs handlers or
use cases without PostgreSQL: each subclasses the Protocol it stands in for, so a changed
port breaks the fake at import time, not the test at run time."""
