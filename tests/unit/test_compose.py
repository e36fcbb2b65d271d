"""docker-compose.yml, deploy/Dockerfile and .env.example agree with the code.

No Docker is needed: the files are read as text/YAML and compared with the settings classes
of `shared/settings.py` (their `env_prefix` and `model_fields`), so a misspelt or stale
SWITCHBOARD_* variable, a wrong health-check port or a missing connectivity setting fails
here instead of in a container that silently falls back to 127.0.0.1.
"""

from __future__ import annotations

import difflib
import inspect
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from shared.settings import SERVICE_SETTINGS, AccessSettings, DatabaseSettings, KafkaSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
PYPROJECT = ROOT / "pyproject.toml"

INFRA_SETTINGS: tuple[type[BaseSettings], ...] = (KafkaSettings, DatabaseSettings, AccessSettings)
SERVICE_MODULE = re.compile(r"\bpython3?\s+-m\s+services\.(\w+)\.main\b")
HEALTH_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)(/[^'\"\s)]*)")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?]([^}]*))?\}")


# --- the settings, by introspection ------------------------------------------------------


def _env_prefix(cls: type[BaseSettings]) -> str:
    return str(cls.model_config.get("env_prefix", ""))


def _is_model(annotation: object) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The upper-cased environment variables that set a field of `cls`.

    A nested model field (the services' `kafka` / `database`) is left out: those are built by
    their own class from SWITCHBOARD_KAFKA_* / SWITCHBOARD_DATABASE_*, and a JSON value under
    the service prefix would replace the whole nested object.
    """
    names = set()
    for name, field in cls.model_fields.items():
        if _is_model(field.annotation):
            continue
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.update(c.upper() for c in alias.choices if isinstance(c, str))
        else:
            names.add(f"{_env_prefix(cls)}{name}".upper())
    return names


def settings_for(service: str | None) -> dict[str, str]:
    """Variable name -> settings class, for what a container of `service` reads (the infra
    settings only when `service` is None, e.g. the `switchboard` command)."""
    classes = [*INFRA_SETTINGS, *([SERVICE_SETTINGS[service]] if service else [])]
    return {env: cls.__name__ for cls in classes for env in env_names(cls)}


def all_switchboard_settings() -> set[str]:
    classes = [*INFRA_SETTINGS, *SERVICE_SETTINGS.values()]
    return {env for cls in classes for env in env_names(cls)}


def unknown_variables(env: dict[str, str], service: str | None) -> list[str]:
    """Problems with the SWITCHBOARD_* variables of one container."""
    known = settings_for(service)
    everywhere = all_switchboard_settings()
    problems = []
    for name in env:
        upper = name.upper()
        if not upper.startswith("SWITCHBOARD_") or upper in known:
            continue
        if upper in everywhere:
            problems.append(f"{name} is a setting of another service, not read by {service}")
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{name} is not a setting of {sorted(set(known.values()))}{hint}")
    return problems


# --- reading the compose file ------------------------------------------------------------


def substitute(value: object) -> str:
    """The value as docker compose would see it with nothing set in the environment:
    `${NAME:-default}` -> default, `${NAME}` -> "", `$$` -> `$`."""
    text = str(value)
    text = PLACEHOLDER.sub(lambda m: m.group(2) or "", text)
    return text.replace("$$", "$")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): substitute(v) for k, v in env.items()}


def command_text(service: dict) -> str:
    command = service.get("command") or ""
    return shlex.join(command) if isinstance(command, list) else str(command)


def healthcheck_text(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test") or ""
    return " ".join(map(str, test)) if isinstance(test, list) else str(test)


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE.is_file(), f"{COMPOSE} is missing"
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def app_services(compose: dict) -> dict[str, tuple[str, dict]]:
    """compose service name -> (Switchboard service it runs, its definition)."""
    found = {}
    for name, service in compose["services"].items():
        match = SERVICE_MODULE.search(command_text(service))
        if match:
            found[name] = (match[1], service)
    return found


def _setup_services(compose: dict) -> dict[str, dict]:
    return {
        name: service
        for name, service in compose["services"].items()
        if "switchboard topics create" in command_text(service)
        or "switchboard db upgrade" in command_text(service)
    }


# --- the checks --------------------------------------------------------------------------


def test_each_of_the_four_services_runs_once(app_services):
    ran = sorted(svc for svc, _ in app_services.values())
    expected = sorted(SERVICE_SETTINGS)
    assert ran == expected, f"compose runs {ran}, expected {expected}"
    for name, (svc, _) in app_services.items():
        assert name == svc, f"compose service {name!r} runs services.{svc}; name it {svc!r}"


def test_every_switchboard_variable_is_a_real_setting(compose, app_services):
    problems = []
    for name, service in compose["services"].items():
        env = environment(service)
        if name in app_services:
            svc = app_services[name][0]
            if svc not in SERVICE_SETTINGS:
                problems.append(f"{name}: services.{svc} has no settings class in SERVICE_SETTINGS")
                continue
            problems += [f"{name}: {p}" for p in unknown_variables(env, svc)]
        elif any(k.upper().startswith("SWITCHBOARD_") for k in env):
            # e.g. `setup`, running the `switchboard` command: Kafka and database settings only.
            problems += [f"{name}: {p}" for p in unknown_variables(env, None)]
    assert not problems, "\n".join(problems)


def test_a_misspelt_variable_is_reported():
    assert unknown_variables({"SWITCHBOARD_INTAKE_PORT": "8001"}, "intake") == []
    assert unknown_variables({"switchboard_kafka_bootstrap": "kafka:9092"}, "intake") == []
    [problem] = unknown_variables({"SWITCHBOARD_INTAKE_PROT": "8001"}, "intake")
    assert "did you mean SWITCHBOARD_INTAKE_PORT" in problem
    [problem] = unknown_variables({"SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS": "k:9092"}, "router")
    assert "not a setting" in problem
    [problem] = unknown_variables({"SWITCHBOARD_LOOKUP_PORT": "8002"}, "intake")
    assert "another service" in problem
    # the nested models are not read through the service prefix
    assert unknown_variables({"SWITCHBOARD_ROUTER_KAFKA": "{}"}, "router")
    assert unknown_variables({"SWITCHBOARD_INTAKE_HOST": "0.0.0.0"}, None)


def test_connectivity_settings_are_set(app_services):
    problems = []
    for name, (svc, service) in app_services.items():
        env = {k.upper(): v for k, v in environment(service).items()}
        for required in ("SWITCHBOARD_KAFKA_BOOTSTRAP", "SWITCHBOARD_DATABASE_URL"):
            if not env.get(required):
                problems.append(f"{name}: {required} is not set")
        host_var = f"{_env_prefix(SERVICE_SETTINGS[svc])}HOST".upper()
        if env.get(host_var) != "0.0.0.0":
            problems.append(f"{name}: {host_var} must be 0.0.0.0 in a container, "
                            f"is {env.get(host_var)!r}")
    assert not problems, "\n".join(problems)


def test_kafka_and_database_addresses_point_into_the_stack(compose, app_services):
    services = compose["services"]
    containers = {**app_services, **{n: (None, s) for n, s in _setup_services(compose).items()}}
    problems = []
    for name, (_, service) in containers.items():
        env = {k.upper(): v for k, v in environment(service).items()}
        for address in filter(None, env.get("SWITCHBOARD_KAFKA_BOOTSTRAP", "").split(",")):
            host = address.strip().rsplit(":", 1)[0]
            broker = services.get(host)
            if broker is None:
                problems.append(f"{name}: Kafka bootstrap {address} is not a compose service")
                continue
            advertised = environment(broker).get("KAFKA_ADVERTISED_LISTENERS", "")
            if f"//{address.strip()}" not in advertised:
                problems.append(f"{name}: {host} does not advertise {address} ({advertised})")
        url = urlsplit(env.get("SWITCHBOARD_DATABASE_URL", ""))
        db = services.get(url.hostname or "")
        if db is None:
            problems.append(f"{name}: database host {url.hostname!r} is not a compose service")
            continue
        db_env = environment(db)
        expected = {
            "user": db_env.get("POSTGRES_USER", "postgres"),
            "password": db_env.get("POSTGRES_PASSWORD"),
            "database": db_env.get("POSTGRES_DB", db_env.get("POSTGRES_USER", "postgres")),
        }
        actual = {"user": url.username, "password": url.password,
                  "database": url.path.lstrip("/")}
        for key, value in expected.items():
            if value is not None and actual[key] != value:
                problems.append(f"{name}: database {key} {actual[key]!r} != {value!r} "
                                f"of the {url.hostname} service")
    assert not problems, "\n".join(problems)


def test_healthcheck_port_is_the_port_the_service_listens_on(app_services):
    problems = []
    for name, (svc, service) in app_services.items():
        cls = SERVICE_SETTINGS[svc]
        port_var = f"{_env_prefix(cls)}PORT".upper()
        env = {k.upper(): v for k, v in environment(service).items()}
        port = int(env.get(port_var, cls.model_fields["port"].default))
        check = healthcheck_text(service)
        match = HEALTH_URL.search(check)
        if not match:
            problems.append(f"{name}: the healthcheck does not call http://127.0.0.1:PORT/... "
                            f"({check!r})")
            continue
        if int(match[1]) != port:
            problems.append(f"{name}: the healthcheck calls port {match[1]}, "
                            f"the service listens on {port} ({port_var})")
        if match[2] != "/health/ready":
            problems.append(f"{name}: the healthcheck calls {match[2]}, not /health/ready")
        # what is published or exposed is that port too
        for entry in service.get("ports") or []:
            target = entry.get("target") if isinstance(entry, dict) else \
                substitute(entry).split("/")[0].rsplit(":", 1)[-1]
            if int(target) != port:
                problems.append(f"{name}: publishes container port {target}, listens on {port}")
        for entry in service.get("expose") or []:
            if int(str(entry).split("/")[0]) != port:
                problems.append(f"{name}: exposes {entry}, listens on {port}")
    assert not problems, "\n".join(problems)


def test_setup_creates_topics_and_upgrades_the_database(compose, app_services):
    setups = _setup_services(compose)
    assert len(setups) == 1, f"expected one setup service, found {sorted(setups)}"
    [(setup_name, setup)] = setups.items()
    command = command_text(setup)
    assert "switchboard topics create" in command
    assert "switchboard db upgrade" in command
    env = {k.upper(): v for k, v in environment(setup).items()}
    assert env.get("SWITCHBOARD_KAFKA_BOOTSTRAP") and env.get("SWITCHBOARD_DATABASE_URL")
    depends = setup.get("depends_on") or {}
    for infra in ("kafka", "postgres"):
        assert isinstance(depends, dict) and infra in depends, f"{setup_name} must wait for {infra}"
        assert depends[infra].get("condition") == "service_healthy"
        assert "healthcheck" in compose["services"][infra], f"{infra} needs a healthcheck"
    for name, (_, service) in app_services.items():
        dep = (service.get("depends_on") or {}).get(setup_name) or {}
        assert dep.get("condition") == "service_completed_successfully", \
            f"{name} must start after {setup_name} completed successfully"


def test_one_image_for_all_and_scalable(compose, app_services):
    containers = {**{n: s for n, (_, s) in app_services.items()}, **_setup_services(compose)}
    builds = {name: service.get("build") for name, service in containers.items()}
    images = {name: service.get("image") for name, service in containers.items()}
    assert len({repr(b) for b in builds.values()}) == 1, f"different builds: {builds}"
    assert len(set(images.values())) == 1, f"different images: {images}"
    build = next(iter(builds.values()))
    assert isinstance(build, dict), "build: {context, dockerfile} expected"
    dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
    assert dockerfile.resolve() == DOCKERFILE.resolve()
    for name, service in containers.items():
        assert "container_name" not in service, f"{name}: container_name prevents --scale"


def _dockerfile_instructions() -> list[str]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    return [line.strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_dockerfile_installs_the_project():
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    instructions = _dockerfile_instructions()
    froms = [i for i in instructions if i.upper().startswith("FROM ")]
    assert froms and all(i.split()[1] == "python:3.11-slim" for i in froms), froms
    copies = " ".join(i for i in instructions if i.upper().startswith("COPY "))
    assert "pyproject.toml" in copies
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    if isinstance(project["project"].get("readme"), str):
        assert project["project"]["readme"] in copies, "the build needs the readme"
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in {p.rstrip("*").rstrip(".") for p in packages}:
        assert re.search(rf"(^|\s|/){re.escape(package)}/?(\s|$)", copies), \
            f"{package}/ is not copied into the image"
    runs = [i for i in instructions if i.upper().startswith("RUN ")]
    assert any(re.search(r"pip install\b[^&;|]*\s\.(\s|$|&|;)", r) for r in runs), \
        "no `pip install .` of the project"
    users = [i.split()[1] for i in instructions if i.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"
    assert any(i.upper().startswith("CMD ") for i in instructions)


def test_env_example_names_only_real_settings():
    assert ENV_EXAMPLE.is_file()
    known = all_switchboard_settings()
    named = re.findall(r"^#?\s*(SWITCHBOARD_[A-Za-z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M)
    assert named, ".env.example lists no settings"
    unknown = sorted({n for n in named if n.upper() not in known})
    assert not unknown, f".env.example names variables that are no settings: {unknown}"
