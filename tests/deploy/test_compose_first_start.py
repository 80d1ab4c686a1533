"""A first `docker compose up` with `.env.example` copied as is (issue 22, item 3), run as processes.

There is no container engine here, so this test is the engine: it reads docker-compose.yml, orders the
services by their `depends_on`, and starts each once its dependencies meet their conditions —
`service_healthy` by running the dependency's own `healthcheck` command, `service_completed_successfully`
by its exit status — with the environment Compose would give it: the `.env` file (`env_file`), overridden
by the service's `environment:`, interpolated from `.env`.

The `.env` is `.env.example` as shipped, plus what its first lines ask for: POSTGRES_PASSWORD, and a
Spotify client id (the fake's; SPOTIFY_CLIENT_SECRET= and TOKEN_ENCRYPTION_KEY= stay empty, as shipped).

The `postgres` service starts the way the image's entrypoint does on a new volume: a socket-only server
runs the init scripts first (`create database dagster`), and only then does the server listen on TCP.
`migrate` is started while the server is still socket-only — earlier than Compose would — so its
`--wait-for-database` must carry it over; the healthcheck must not call that server healthy.

Then an operator adds a user and links Spotify (`auth login --no-browser`, the redirect URL pasted back)
against the fake Spotify, and the daemon's first sync of that account succeeds: the key file the empty
TOKEN_ENCRYPTION_KEY made is shared through the data volume."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from api_support import free_port
from compose_support import COMPOSE, REPO, SERVICES, interpolate, service_environment
from test_deployment import SERVER_USER, as_server_user, kill_tree, run, server_bin_dir

from orchestration.demo.fake_spotify import FakePlay, FakeSpotify, make_catalog

DEADLINE_SECONDS = 900.0  # a failure bound only: a few minutes on a quiet machine
PUBLISHED = {3000: "dagster-webserver", 8000: "api"}


def dotenv(text: str) -> dict[str, str]:
    """The `.env` file as Compose reads it (KEY=VALUE lines; the values here are unquoted)."""
    pairs = [line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {key.strip(): value for key, value in pairs}


def compose_order() -> list[str]:
    """The services in an order Compose may start them: every one after all it depends on."""
    order: list[str] = []
    todo = dict.fromkeys(SERVICES)
    while todo:
        ready = [s for s in todo if set(SERVICES[s].get("depends_on", {})) <= set(order)]
        assert ready, f"a depends_on cycle among {list(todo)}"
        order += ready
        for s in ready:
            del todo[s]
    return order


class Engine:
    """The part of Compose this test needs: environments, commands, healthchecks, dependency conditions."""

    def __init__(self, env_file: dict[str, str], data: Path, pg_port: int, pg_bin: Path) -> None:
        self.env_file, self.data, self.pg_port, self.pg_bin = env_file, data, pg_port, pg_bin
        self.ports = {published: free_port() for published in PUBLISHED}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = data / "logs"
        self.logs.mkdir(parents=True)

    def environment(self, service: str) -> dict[str, str]:
        """env_file, then environment: (which wins), with `postgres:5432` and `/data` mapped onto this machine."""
        # The host's own variables of this project stay out, as they stay out of a container.
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DAGSTER", "SPOTIFY", "API_"))}
        for key in ("DATABASE_URL", "INBOX_DIR", "TOKEN_ENCRYPTION_KEY", "PUBLIC_BASE_URL", "POLL_INTERVAL_SECONDS"):
            base.pop(key, None)
        base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(self.pg_bin), base.get("PATH", "")])
        base["PYTHONUNBUFFERED"] = "1"
        env = {**base}
        if "env_file" in SERVICES[service]:
            env |= self.env_file
        env |= service_environment(service, self.env_file)
        for key, value in env.items():
            value = value.replace("@postgres:5432/", f"@127.0.0.1:{self.pg_port}/")
            if value == "/data" or value.startswith("/data/"):
                value = str(self.data) + value[len("/data") :]
            env[key] = value
        if env.get("PGHOST") == "postgres":
            env |= {"PGHOST": "127.0.0.1", "PGPORT": str(self.pg_port)}
        return env

    def command(self, service: str) -> list[str]:
        """The service's command on 127.0.0.1 and the free ports standing in for the container's."""
        command = [interpolate(str(part), self.env_file) for part in SERVICES[service]["command"]]
        mapped = [str(self.ports.get(int(p), p)) if p.isdigit() else p for p in command]
        return ["127.0.0.1" if part == "0.0.0.0" else part for part in mapped]

    def start(self, service: str) -> None:
        log = (self.logs / f"{service}.log").open("wb")
        self.processes[service] = subprocess.Popen(
            self.command(service),
            cwd=REPO,  # the image's WORKDIR
            env=self.environment(service),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def healthy(self, service: str) -> bool:
        """The service's healthcheck command, run as Docker would (exit status 0 = healthy)."""
        kind, *check = SERVICES[service]["healthcheck"]["test"]
        text = " ".join(check)
        for published, port in self.ports.items():
            text = text.replace(f"127.0.0.1:{published}/", f"127.0.0.1:{port}/")
            check = [part.replace(f"127.0.0.1:{published}/", f"127.0.0.1:{port}/") for part in check]
        env = self.environment(service)
        if service == "postgres":  # the check runs inside the server's container: its port is 5432 there
            env |= {"PGPORT": str(self.pg_port)}
        argv = ["sh", "-c", text] if kind == "CMD-SHELL" else check
        done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, timeout=60, check=False)
        return done.returncode == 0

    def condition_met(self, dependency: str, condition: str) -> bool:
        if condition == "service_healthy":
            return self.healthy(dependency)
        if condition == "service_completed_successfully":
            proc = self.processes[dependency]
            assert proc.poll() in (None, 0), f"{dependency} exited with {proc.returncode}: {self.log(dependency)}"
            return proc.poll() == 0
        return dependency in self.processes  # service_started

    def log(self, service: str) -> str:
        path = self.logs / f"{service}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def wait(self, what: str, probe: Callable[[], bool], deadline: float, long_running: list[str]) -> None:
        while not probe():
            for name in long_running:
                proc = self.processes[name]
                assert proc.poll() is None, f"{name} exited with {proc.returncode}: {self.log(name)}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(1)

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                kill_tree(psutil.Process(proc.pid))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)


class FirstStartPostgres:
    """The postgres image on a new volume: initdb, init scripts on a socket-only server, then TCP."""

    def __init__(self, bin_dir: Path, folder: Path, env: dict[str, str], port: int) -> None:
        self.bin_dir, self.folder, self.env, self.port = bin_dir, folder, env, port

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def pg_ctl(self, *args: str) -> list[str]:
        return as_server_user(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), *args]
        )

    def initialise(self) -> None:
        pwfile = self.folder / "pw"
        pwfile.write_text(self.env["POSTGRES_PASSWORD"])
        if os.geteuid() == 0:
            import pwd

            uid = pwd.getpwnam(SERVER_USER).pw_uid
            os.chown(self.folder, uid, -1)
            os.chown(pwfile, uid, -1)
        user = self.env["POSTGRES_USER"]
        initdb = [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", user, f"--pwfile={pwfile}"]
        run(as_server_user([*initdb, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"]))

    def start(self, *, tcp: bool) -> None:
        listen = "127.0.0.1" if tcp else "''"  # the entrypoint's temporary server: listen_addresses=''
        options = f"-p {self.port} -k {self.folder} -c listen_addresses={listen} -c fsync=off"
        run(self.pg_ctl("-o", options, "-w", "-t", "120", "start"))

    def init_scripts(self, sql: str) -> None:
        """POSTGRES_DB, then /docker-entrypoint-initdb.d/*.sql, over the socket."""
        psql = [
            str(self.bin_dir / "psql"),
            "-h",
            str(self.folder),
            "-p",
            str(self.port),
            "-U",
            self.env["POSTGRES_USER"],
        ]
        run(
            as_server_user(
                [*psql, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", f'create database "{self.env["POSTGRES_DB"]}"']
            )
        )
        run(as_server_user([*psql, "-d", self.env["POSTGRES_DB"], "-v", "ON_ERROR_STOP=1", "-c", sql]))

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            subprocess.run(self.pg_ctl("-m", "fast", "-w", "stop"), capture_output=True, timeout=60, check=False)

    def kill(self) -> None:
        self.stop()
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(Exception):
                kill_tree(psutil.Process(int(pid_file.read_text().split()[0])))


@pytest.fixture
def workdir() -> Iterator[Path]:
    bin_dir = server_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binary in /usr/lib/postgresql/*/bin: install the `postgresql` package")
    folder = Path(tempfile.mkdtemp(prefix="spotify-history-first-start-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_compose_order() -> None:
    order = compose_order()
    assert order[:2] == ["postgres", "migrate"]
    assert set(order[2:]) == {"dagster-webserver", "dagster-daemon", "api"}


def test_a_first_compose_up_with_the_shipped_env_example_links_spotify(workdir: Path) -> None:
    bin_dir = server_bin_dir()
    assert bin_dir is not None
    fake = FakeSpotify()
    fake.add_account("sp-alice", "Alice")
    start = datetime.now(UTC) - timedelta(hours=2)
    catalog = make_catalog(10, seed=3)
    fake.add_plays("sp-alice", [FakePlay(start + i * timedelta(minutes=4), catalog[i % 10]) for i in range(6)])
    fake.sign_in("sp-alice")
    fake_url = fake.start()

    # cp .env.example .env, then the two values its first lines ask for, as an editor would fill them in.
    text = (REPO / ".env.example").read_text()
    password = "a1b2c3d4e5f6a7b8c9d0e1f2"
    text = text.replace("\nPOSTGRES_PASSWORD=\n", f"\nPOSTGRES_PASSWORD={password}\n")
    text = text.replace("\nSPOTIFY_CLIENT_ID=\n", f"\nSPOTIFY_CLIENT_ID={fake.client_id}\n")
    # Where Spotify is: the fake on loopback. The redirect stays the default http://127.0.0.1:8888/callback:
    # with --no-browser nothing listens there, the address is pasted back.
    text += f"SPOTIFY_ACCOUNTS_BASE_URL={fake_url}\nSPOTIFY_API_BASE_URL={fake_url}\n"
    text += "POLL_INTERVAL_SECONDS=20\n"  # so the first sync comes soon
    env_file = dotenv(text)
    assert env_file["SPOTIFY_CLIENT_SECRET"] == "" and env_file["TOKEN_ENCRYPTION_KEY"] == ""

    data = workdir / "volume-data"
    pg = FirstStartPostgres(bin_dir, workdir / "pg", service_environment("postgres", env_file), free_port())
    pg.folder.mkdir()
    pg.folder.chmod(0o755)
    engine = Engine(env_file, data, pg.port, bin_dir)
    # The project's dagster.yaml, mounted into DAGSTER_HOME.
    dagster_home = Path(engine.environment("migrate")["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "orchestration" / "dagster_home" / "dagster.yaml", dagster_home / "dagster.yaml")
    deadline = time.monotonic() + DEADLINE_SECONDS
    order = compose_order()
    long_running: list[str] = []
    try:
        # postgres, first initialisation: socket only while the init scripts run.
        pg.initialise()
        pg.start(tcp=False)
        assert not engine.healthy("postgres"), "the healthcheck calls the socket-only init server ready"
        engine.start("migrate")  # earlier than Compose would: it must wait for the server, not fail
        waiting = "waiting up to 120 s for database spotify_history on 127.0.0.1:"
        engine.wait("migrate to wait for the server", lambda: waiting in engine.log("migrate"), deadline, ["migrate"])
        (init,) = SERVICES["postgres"]["configs"]
        pg.init_scripts(COMPOSE["configs"][init["source"]]["content"])
        pg.stop()
        pg.start(tcp=True)  # the entrypoint's final start
        engine.wait("postgres to be healthy", lambda: engine.healthy("postgres"), deadline, [])

        for service in order:
            if service in ("postgres", "migrate"):
                continue
            for dependency, spec in SERVICES[service].get("depends_on", {}).items():
                condition = spec["condition"] if isinstance(spec, dict) else "service_started"
                engine.wait(
                    f"{service}: {dependency} {condition}",
                    lambda d=dependency, c=condition: engine.condition_met(d, c),
                    deadline,
                    long_running,
                )
            engine.start(service)
            long_running.append(service)
        for service in long_running:
            engine.wait(f"{service} to be healthy", lambda s=service: engine.healthy(s), deadline, long_running)

        # The API's public URL is where the host publishes it (API_PORT, default 8000).
        api = f"http://127.0.0.1:{engine.ports[8000]}"
        assert httpx.get(f"{api}/openapi.json", timeout=10).json()["servers"][0]["url"] == "http://127.0.0.1:8000"

        # docker compose exec dagster-daemon spotify-history users add alice; … auth login --no-browser
        env = engine.environment("dagster-daemon")
        cli = str(Path(sys.executable).with_name("spotify-history"))
        run([cli, "users", "add", "alice"], env=env, cwd=REPO)
        login = subprocess.Popen(
            [cli, "auth", "login", "--user", "alice", "--no-browser"],
            env=env,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert login.stdout is not None and login.stdin is not None
        seen = ""
        while (url := next((w for w in seen.split() if w.startswith(f"{fake_url}/authorize")), None)) is None:
            line = login.stdout.readline()
            assert line, f"auth login printed no consent URL: {seen}"
            seen += line
        # The browser: Spotify's consent page redirects to the loopback callback; paste that address back.
        redirected = httpx.get(url, follow_redirects=False, timeout=10).headers["location"]
        out, _ = login.communicate(f"{redirected}\n", timeout=300)
        assert login.returncode == 0, seen + out
        assert "linked alice to Spotify account Alice" in out
        (token,) = fake.requests_to("token")
        assert token.params["client_id"] == fake.client_id  # a PKCE public client: no Basic, no secret
        assert (data / "secrets" / "token_encryption.key").is_file()  # TOKEN_ENCRYPTION_KEY= is the key file

        # The daemon (another process, same volume) syncs the account with the same key.
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:

            def synced() -> bool:
                rows = conn.execute(
                    "select s.status, s.error from app.spotify_syncs s join app.users u using (user_id) "
                    "where u.name = 'alice'"
                ).fetchall()
                assert not [r for r in rows if r[0] == "failed"], rows
                return any(status == "succeeded" for status, _ in rows)

            engine.wait("the daemon's first Spotify sync", synced, deadline, long_running)
            (stored,) = conn.execute("select count(*) from raw.api_recently_played").fetchone()
            assert stored == 6

            # The automation's first marts build, on a database never built before, succeeds; no run fails.
            def first_build() -> bool:
                with psycopg.connect(env["DAGSTER_DATABASE_URL"]) as dagster:
                    runs = dagster.execute("select pipeline_name, status from runs").fetchall()
                assert not [r for r in runs if r[1] in ("FAILURE", "CANCELED")], f"a Dagster run failed: {runs}"
                return any(name == "__ASSET_JOB" and status == "SUCCESS" for name, status in runs)

            engine.wait("the first marts build", first_build, deadline, long_running)
    except BaseException:
        for service in engine.processes:
            print(f"--- {service} (last lines)\n{engine.log(service)}")
        raise
    finally:
        engine.stop()
        pg.kill()
        fake.stop()
