"""Kafka TLS / SASL and PostgreSQL TLS settings become the right client arguments."""

from __future__ import annotations

import ssl

import pytest
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.db import ssl_options
from shared.kafka import client_options, make_broker, security
from shared.settings import DatabaseSettings, KafkaSettings


def kafka(**values) -> KafkaSettings:
    return KafkaSettings(_env_file=None, **values)


def test_plaintext_is_no_security():
    assert security(kafka()) is None
    assert client_options(kafka()) == {}


def test_tls_checks_the_brokers_certificates():
    sec = security(kafka(security_protocol="SSL"))
    assert type(sec) is BaseSecurity and sec.use_ssl
    assert sec.ssl_context.verify_mode == ssl.CERT_REQUIRED and sec.ssl_context.check_hostname
    options = client_options(kafka(security_protocol="SSL"))
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


@pytest.mark.parametrize(("mechanism", "cls"), [
    ("PLAIN", SASLPlaintext), ("SCRAM-SHA-256", SASLScram256), ("SCRAM-SHA-512", SASLScram512)])
def test_sasl_over_tls(mechanism, cls):
    settings = kafka(security_protocol="SASL_SSL", sasl_mechanism=mechanism,
                     sasl_username="switchboard", sasl_password="s3cret")
    sec = security(settings)
    assert type(sec) is cls and sec.use_ssl
    assert (sec.username, sec.password) == ("switchboard", "s3cret")
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "switchboard"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_sasl_without_tls():
    settings = kafka(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p")
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_PLAINTEXT" and options["ssl_context"] is None


def test_sasl_without_credentials_says_what_is_missing():
    with pytest.raises(ValueError, match="SWITCHBOARD_KAFKA_SASL_USERNAME"):
        security(kafka(security_protocol="SASL_SSL"))


def test_a_missing_ca_file_fails_at_start_and_names_the_setting(tmp_path):
    with pytest.raises(ValueError, match="SWITCHBOARD_KAFKA_SSL_CA_FILE=.*nope.pem"):
        security(kafka(security_protocol="SSL", ssl_ca_file=tmp_path / "nope.pem"))
    with pytest.raises(ValueError, match="SWITCHBOARD_DATABASE_SSL_CA_FILE"):
        ssl_options(database(ssl_mode="verify-full", ssl_ca_file=tmp_path / "nope.pem"))


def test_the_environment_configures_it(monkeypatch):
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SSL_CA_FILE", "")  # compose passes empty values
    settings = KafkaSettings(_env_file=None)
    assert settings.ssl_ca_file is None
    assert type(security(settings)) is SASLScram512
    assert "pw" not in repr(settings)


def test_the_broker_gets_the_security():
    broker = make_broker(kafka(security_protocol="SASL_SSL", sasl_username="u",
                               sasl_password="p"), "test")
    assert isinstance(broker.specification.security, SASLPlaintext)


def database(**values) -> DatabaseSettings:
    return DatabaseSettings(_env_file=None, **values)


def test_database_tls_unset_leaves_it_to_the_url():
    assert ssl_options(database()) == {}


@pytest.mark.parametrize("mode", ["disable", "prefer", "require"])
def test_database_modes_without_a_ca_go_to_asyncpg_as_they_are(mode):
    assert ssl_options(database(ssl_mode=mode)) == {"ssl": mode}


def test_database_verify_full_checks_certificate_and_host():
    context = ssl_options(database(ssl_mode="verify-full"))["ssl"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_database_verify_ca_checks_the_certificate_only():
    context = ssl_options(database(ssl_mode="verify-ca"))["ssl"]
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname
