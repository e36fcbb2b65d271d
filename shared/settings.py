"""Settings, read from the environment (and a `.env` file) by pydantic-settings.

Shared infrastructure settings have their own prefixes (`SWITCHBOARD_KAFKA_`,
`SWITCHBOARD_DATABASE_`); each service has its own (`SWITCHBOARD_INTAKE_`, ...).
Nothing else in the code reads the environment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore")


class KafkaSettings(BaseSettings):
    model_config = _config("SWITCHBOARD_KAFKA_")

    bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    partitions: int = Field(default=6, ge=1, description="Partitions of each topic we create.")
    replication_factor: int = Field(default=1, ge=1)


class DatabaseSettings(BaseSettings):
    model_config = _config("SWITCHBOARD_DATABASE_")

    url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/switchboard",
        description="PostgreSQL URL of the client base.",
    )
    pool_min: int = Field(default=1, ge=0)
    pool_max: int = Field(default=10, ge=1)


class ServiceSettings(BaseSettings):
    """What every service has: where it listens and how it logs."""

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)


class IntakeSettings(ServiceSettings):
    model_config = _config("SWITCHBOARD_INTAKE_")

    port: int = 8001
    default_region: str = Field(
        default="RU", description="Region for numbers written without a country code."
    )
    max_body_bytes: int = Field(default=64 * 1024, description="Larger HTTP bodies get 413.")


class LookupSettings(ServiceSettings):
    model_config = _config("SWITCHBOARD_LOOKUP_")

    port: int = 8002
    default_region: str = "RU"
    ownership_lapse_days: int = Field(
        default=30, ge=1, description="An ownership lapses after this many days without activity."
    )
    shopping_min_employees: int = Field(
        default=3, ge=2,
        description="Shopping around: a client who reached this many different employees...",
    )
    shopping_window_days: int = Field(default=14, ge=1, description="...within this many days.")


class RouterSettings(ServiceSettings):
    model_config = _config("SWITCHBOARD_ROUTER_")

    port: int = 8003


class AssignmentSettings(ServiceSettings):
    model_config = _config("SWITCHBOARD_ASSIGNMENT_")

    port: int = 8004


SERVICE_SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "lookup": LookupSettings,
    "router": RouterSettings,
    "assignment": AssignmentSettings,
}
