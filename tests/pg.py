"""A throw-away PostgreSQL server for the tests: ``initdb`` into a temporary folder, ``pg_ctl start`` on the
loopback interface at a free port (its socket in that folder), one database; stopped and removed afterwards.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user (Debian's package
makes it)."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent          # the version's own folder (createdb is beside it)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> list[str]:
    """A command prefix that runs as a non-root user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def postgres_server():
    """Yields the URL ``postgresql://hwmoe@127.0.0.1:PORT/hwmoe`` of a fresh server (trust authentication on
    the loopback interface only)."""
    bin_ = pg_bin()
    run_as = _as_server_user()
    tmp = Path(tempfile.mkdtemp(prefix="hwmoe-pg-"))
    if run_as:
        shutil.chown(tmp, "postgres")
    data, port = tmp / "data", _free_port()

    def pg(*args):
        r = subprocess.run([*run_as, *map(str, args)], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{Path(args[0]).name} failed: {r.stderr.strip() or r.stdout.strip()}")

    try:
        pg(bin_ / "initdb", "-D", data, "-U", "hwmoe", "--auth=trust", "--no-sync", "-E", "UTF8")
        pg(bin_ / "pg_ctl", "start", "-D", data, "-w", "-t", "60", "-l", tmp / "log",
           "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off -c max_connections=100")
        try:
            pg(bin_ / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "hwmoe", "hwmoe")
            yield f"postgresql://hwmoe@127.0.0.1:{port}/hwmoe"
        finally:
            pg(bin_ / "pg_ctl", "stop", "-D", data, "-m", "immediate", "-w")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
