"""Settings, read from the environment (and a `.env` file) by pydantic-settings.

Shared infrastructure settings have their own prefixes (`SWITCHBOARD_KAFKA_`,
`SWITCHBOARD_DATABASE_`); each service has its own (`SWITCHBOARD_INTAKE_`, ...).
Nothing else in the code reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import business


def _config(prefix: str) -> SettingsConfigDict:
    # An empty variable (`SWITCHBOARD_KAFKA_SASL_USERNAME=` in a compose file) means unset.
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore",
                              env_ignore_empty=True)


class KafkaSettings(BaseSettings):
    model_config = _config("SWITCHBOARD_KAFKA_")

    bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    partitions: int = Field(default=6, ge=1, description="Partitions of each topic we create.")
    replication_factor: int = Field(default=1, ge=1)
    # Secured clusters: TLS and/or SASL, for the services and the `switchboard` command alike.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS).",
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", description="SASL mechanism, for the SASL_* protocols."
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    ssl_ca_file: Path | None = Field(
        default=None,
        description="CA certificates (PEM) the brokers' certificates are checked against; "
        "the system's trust store when unset.",
    )
    ssl_cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM), for brokers that require mutual TLS."
    )
    ssl_key_file: Path | None = Field(
        default=None, description="The client certificate's private key (PEM)."
    )


class DatabaseSettings(BaseSettings):
    model_config = _config("SWITCHBOARD_DATABASE_")

    url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/switchboard",
        description="PostgreSQL URL of the client base.",
    )
    pool_min: int = Field(default=1, ge=0)
    pool_max: int = Field(default=10, ge=1)
    # TLS to PostgreSQL for the services' pools (the URL's own `sslmode` applies otherwise).
    ssl_mode: Literal[
        "disable", "allow", "prefer", "require", "verify-ca", "verify-full"
    ] | None = Field(
        default=None,
        description="libpq's sslmode: verify-full checks the certificate and the host name; "
        "unset: what the URL says (asyncpg's default is prefer).",
    )
    ssl_ca_file: Path | None = Field(
        default=None,
        description="CA certificates (PEM) the server's certificate is checked against; the "
        "system's trust store when unset.",
    )
    ssl_cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM), for servers that require one."
    )
    ssl_key_file: Path | None = Field(
        default=None, description="The client certificate's private key (PEM)."
    )


class AccessSettings(BaseSettings):
    """Sign-in and sessions, the same for every service (people sign in once)."""

    model_config = _config("SWITCHBOARD_ACCESS_")

    session_idle_minutes: int = Field(
        default=480, ge=1,
        description="A session unused for this long ends (every request starts the clock "
        "again, so a session in use never ends in the middle of a call).")
    session_max_hours: int = Field(
        default=24 * 7, ge=1, description="A session ends this long after sign-in, used or not.")
    cookie_secure: bool = Field(
        default=False,
        description="Send the session cookie over HTTPS only (set it behind TLS).")
    sign_in_failures_per_account: int = Field(
        default=5, ge=1,
        description="Failed sign-ins of one account within the window before it must wait.")
    sign_in_failures_per_address: int = Field(
        default=20, ge=1,
        description="Failed sign-ins from one address within the window before it must wait.")
    sign_in_window_minutes: int = Field(
        default=15, ge=1, description="The window of the sign-in rate limit.")
    invitation_hours: int = Field(
        default=72, ge=1, description="How long a `switchboard user invite` link works.")
    public_url: str = Field(
        default="http://127.0.0.1:8005",
        description="Where people open Switchboard (the desk), for invitation links.")


class ServiceSettings(BaseSettings):
    """What every service has: where it listens and how it logs."""

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    message_log_level: Literal["DEBUG", "INFO", "WARNING"] = Field(
        default="DEBUG",
        description="Level of FastStream's two lines per consumed message (Received, "
        "Processed); at DEBUG an INFO log leaves them out (they cost 8-13% of the CPU).",
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="json: one JSON object per line (time, level, logger, message, service, "
        "call_id); text: plain lines for a terminal. Caller numbers are masked in both.",
    )
    # One variable for all services (no service prefix); the standard OTel name works too.
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SWITCHBOARD_OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
        description="OTLP/HTTP endpoint (e.g. http://otel-collector:4318) to export traces to; "
        "no export when unset (trace context still travels in Kafka headers).",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)


class IntakeSettings(ServiceSettings):
    model_config = _config("SWITCHBOARD_INTAKE_")

    port: int = 8001
    default_region: str = Field(
        default="RU", description="Region for numbers written without a country code."
    )
    max_body_bytes: int = Field(default=64 * 1024, description="Larger HTTP bodies get 413.")
    connectors: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Connector name -> signing secret, as JSON: {"office-1": "s3cret"}.',
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, description="Twilio auth token, to check X-Twilio-Signature."
    )
    public_url: str | None = Field(
        default=None,
        description="The intake's URL as Twilio calls it (behind a proxy), e.g. "
        "https://pbx.example.com; the request's own URL when unset.",
    )
    signature_max_age_seconds: int = Field(
        default=300, ge=1, description="Signed requests older than this get 401."
    )
    # Ring-time call control: `/v1/route/{dialect}` answers whom to dial while the call rings.
    route_deadline_ms: int = Field(
        default=800, ge=1,
        description="How long a route request waits for the call's decision; past it the "
        "answer is the fallback (the decision still lands on calls.routed).",
    )
    route_fallback_extension: str | None = Field(
        default=None,
        description="What a PBX dials when no decision came in time, or the decision names "
        "no one to dial: the client department desk's extension.",
    )
    route_fallback_number: str | None = Field(
        default=None,
        description="The same for dialects that dial numbers (Twilio): the desk's number.",
    )
    dial: dict[str, str] = Field(
        default_factory=dict,
        description='How each dialect dials a target, as JSON dialect -> template over '
        '{extension}, {number} (E.164) and {number_national}, e.g. {"asterisk": '
        '"SIP/{extension}"}; unset dialects keep their defaults.',
    )
    zadarma_secret: SecretStr | None = Field(
        default=None, description="Zadarma API secret, to check the webhooks' Signature."
    )


# The ownership lapse's variables: the one the lookup and the assignment share, and each
# service's own name from before it (still honoured).
OWNERSHIP_LAPSE_VARIABLE = "SWITCHBOARD_OWNERSHIP_LAPSE_DAYS"
LOOKUP_OWNERSHIP_LAPSE_VARIABLE = "SWITCHBOARD_LOOKUP_OWNERSHIP_LAPSE_DAYS"
ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE = "SWITCHBOARD_ASSIGNMENT_OWNERSHIP_LAPSE_DAYS"


def _lapse_variable(name: str) -> Any:
    return Field(default=None, ge=1, validation_alias=name, exclude=True, repr=False,
                 description=f"The ownership lapse in days under {name} (see "
                 "ownership_lapse_days).")


class OwnershipLapseSettings(ServiceSettings):
    """The services that apply the ownership lapse: the lookup stops calling a lapsed owner
    the owner, and the assignment lets the next assignee take the client over, after the same
    time. Every name of the lapse that a service can see counts, and they must agree."""

    ownership_lapse_days: int = Field(
        default=business.OWNERSHIP_LAPSE_DAYS, ge=1,
        description=f"An ownership lapses after this many days without activity: "
        f"{OWNERSHIP_LAPSE_VARIABLE}, or the service's own name of earlier releases "
        f"({LOOKUP_OWNERSHIP_LAPSE_VARIABLE}, {ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE}); a "
        "service whose environment gives two of them different values does not start.",
    )
    lapse_days_shared: int | None = _lapse_variable(OWNERSHIP_LAPSE_VARIABLE)
    lapse_days_lookup: int | None = _lapse_variable(LOOKUP_OWNERSHIP_LAPSE_VARIABLE)
    lapse_days_assignment: int | None = _lapse_variable(ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE)

    @model_validator(mode="after")
    def _one_ownership_lapse(self) -> Self:
        seen = {name: days for name, days in (
            (OWNERSHIP_LAPSE_VARIABLE, self.lapse_days_shared),
            (LOOKUP_OWNERSHIP_LAPSE_VARIABLE, self.lapse_days_lookup),
            (ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE, self.lapse_days_assignment)) if days is not None}
        if "ownership_lapse_days" in self.model_fields_set:
            # The service's own name, or what the code constructing the settings passed.
            own = f"{self.model_config.get('env_prefix', '')}OWNERSHIP_LAPSE_DAYS".upper()
            seen[own] = self.ownership_lapse_days
        if len(set(seen.values())) > 1:
            given = ", ".join(f"{name}={days}" for name, days in seen.items())
            raise ValueError(
                f"the ownership lapse is set differently: {given}. The lookup and the "
                "assignment must agree on when an owner's hold lapses: set "
                f"{OWNERSHIP_LAPSE_VARIABLE} alone, or give every one of these the same value")
        if seen:
            self.ownership_lapse_days = next(iter(seen.values()))
        return self


class LookupSettings(OwnershipLapseSettings):
    model_config = _config("SWITCHBOARD_LOOKUP_")

    port: int = 8002
    default_region: str = "RU"
    shopping_min_employees: int = Field(
        default=business.SHOPPING_MIN_EMPLOYEES, ge=2,
        description="Shopping around: a client who reached this many different employees...",
    )
    shopping_window_days: int = Field(default=business.SHOPPING_WINDOW_DAYS, ge=1,
                                      description="...within this many days.")


class RouterSettings(ServiceSettings):
    model_config = _config("SWITCHBOARD_ROUTER_")

    port: int = 8003
    rules_file: Path = Field(
        default=Path("deploy/rules.yaml"),
        description="The routing rules (YAML); a relative path is taken from the working "
        "directory. A changed file is picked up without a restart.",
    )
    rules_reload_seconds: float = Field(
        default=5.0, gt=0, description="How often the rules file is checked for a change."
    )


class AssignmentSettings(OwnershipLapseSettings):
    model_config = _config("SWITCHBOARD_ASSIGNMENT_")

    port: int = 8004
    inbox_deadline_seconds: float = Field(
        default=business.INBOX_DEADLINE_SECONDS, ge=0,
        description="How long the head of sales may keep or pass a lead in the inbox; past it "
        "the lead goes to the strongest available negotiator (0: at once).",
    )
    deadline_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often a replica looks for leads past their deadline."
    )
    retry_seconds: float = Field(
        default=business.RETRY_SECONDS, gt=0,
        description="A lead past its deadline that no negotiator could take (all full, on leave) "
        "stays in the inbox and is tried again after this many seconds.",
    )
    relay_after_seconds: float = Field(
        default=10, gt=0,
        description="A decided lead whose `leads.assigned` Kafka has not acknowledged after this "
        "long (a crash in between) is announced again, with the same event id.",
    )
    head_email: str | None = Field(
        default=None,
        description="The head of sales who keeps leads; by default every active commercial "
        "head, the one with the most room first.",
    )
    keep_mode: Literal["threshold", "top_share", "off"] = Field(
        default="threshold",
        description="Which leads the head keeps at once: those worth at least the threshold of "
        "their currency, the top share by expected value, or none.",
    )
    keep_thresholds: dict[str, float] = Field(
        default_factory=lambda: dict(business.KEEP_THRESHOLDS),
        description="keep_mode=threshold: the deal value per currency from which the head keeps "
        'a lead (JSON, e.g. {"RUB": 10000000}).',
    )
    keep_top_share: float = Field(
        default=business.KEEP_TOP_SHARE, ge=0, le=1,
        description="keep_mode=top_share: the head keeps a lead whose expected value is within "
        "this share of the best recent commercial leads of its currency.",
    )
    keep_window_days: int = Field(
        default=business.KEEP_WINDOW_DAYS, ge=1,
        description="keep_mode=top_share: how far back 'recent' goes."
    )
    low_volume_per_hour: int = Field(
        default=business.LOW_VOLUME_PER_HOUR, ge=0,
        description="Fewer commercial leads than this over the last hour: the head keeps every "
        "one while under capacity (0: never).",
    )
    prior_strength: float = Field(
        default=business.PRIOR_STRENGTH, gt=0,
        description="How many outcomes the department's average counts for in a negotiator's "
        "estimated chance to close (the Beta prior's weight).",
    )
    runners_up: int = Field(
        default=business.RUNNERS_UP, ge=0,
        description="How many runners-up `leads.assigned` lists."
    )


class DeskSettings(ServiceSettings):
    """The people's screens in the browser."""

    model_config = _config("SWITCHBOARD_DESK_")

    port: int = 8005
    lookup_url: str = Field(
        default="http://127.0.0.1:8002",
        description="The lookup's HTTP API, where a person's changes of the client base go "
        "(create a client, not this client), with the person's own session.",
    )
    assignment_url: str = Field(
        default="http://127.0.0.1:8004",
        description="The assignment's HTTP API: the head of sales' inbox (keep a lead, pass it "
        "to a negotiator), called with the person's own session.",
    )
    card_minutes: int = Field(
        default=30, ge=1,
        description="A call's card leaves the screen this long after the call started when it "
        "is not qualified by then (PBXs that never report the end of a call).",
    )
    stream_queue: int = Field(
        default=256, ge=1,
        description="How many live updates one browser may fall behind; past it the browser "
        "loses them and its page is drawn again from the database.",
    )
    session_check_seconds: float = Field(
        default=60, gt=0,
        description="How often an open page's event stream checks that its session is still "
        "valid (signed out everywhere, expired); it keeps the session in use meanwhile.",
    )
    time_zone: str = Field(
        default="Europe/Moscow", description="The time zone the screens show times in."
    )


SERVICE_SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "lookup": LookupSettings,
    "router": RouterSettings,
    "assignment": AssignmentSettings,
    "desk": DeskSettings,
}
