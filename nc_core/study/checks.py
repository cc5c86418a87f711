"""Before a study runs or exports: refuse what would fail only after Ray started, keep one study
per storage folder and per tables folder, and let an export take its settings from the stored
study alone.

`check_study` runs every check and creates nothing; each refusal is a `StudyRefused` (a
ValueError: the command lines' one-line error, exit status 2). A study's Tune experiment folder
holds a marker (`SPEC_FILE`, the study's `StudySpec.describe()` and its `StudyType`, which the
analysis reads): `claim` writes it when the study first runs, `check_claim` refuses a different
study under the same storage and name, and an export reads its settings from it
(`stored_spec`, `check_export`). The tables record which stored study wrote them
(`TABLES_OWNER_KEY` in their Parquet metadata), so a study of the same name from another
storage never replaces them (a study's id, drawn when it first ran, says which: a study folder
moved or copied elsewhere with its tables keeps it). No Ray here.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import uuid
from pathlib import Path

import pyarrow.fs

from nc_core.results.atomic import check_writable
from nc_core.results.pair import metadata_of
from nc_core.study.declaration import STUDY_KEY, StudyType
from nc_core.study.lock import LOCK_FILE, StudyLocked, holder
from nc_core.study.spec import StudyOptions, StudySpec, comparable
from nc_core.study.trial import trial_label
from nc_core.train.config import RunConfig
from nc_core.train.keys import canonical_keys, upgrade_keys

SPEC_FILE = "nc_study.json"  # in a study's Tune experiment folder: what the study is
UID_KEY = "uid"  # in a stored study file: an id drawn when the study first ran, kept by copies
TABLES_OWNER_KEY = "nc_experiment"  # in the tables' Parquet metadata: the experiment they are of
TABLES_UID_KEY = "nc_study_uid"  # ... and that experiment's stored study id
TABLES = ("epochs.parquet", "layers.parquet")
ADDRESS_TIMEOUT_S = 5.0  # to connect to a Ray given by --address, before Ray is asked to


class StudyRefused(ValueError):
    """A study that cannot run or export as asked: the message names the option and the fix."""


def check_study(spec: StudySpec, opts: StudyOptions) -> None:
    """Raise StudyRefused for anything that would fail only after Ray started: a device, GPUs or
    data this machine lacks (local Ray), a Ray address nothing answers at, outputs that cannot
    be written, a different study already stored under the same name, a driver of this study
    running now, tables of another study in the way. With `export_only`: that the study is
    stored, and that `spec` asks for nothing its stored description contradicts. Creates
    nothing."""
    if opts.export_only:
        check_export(spec, opts)
        return
    try:
        _check_machine(spec, opts)
    except StudyRefused:
        raise
    except ValueError as err:
        raise StudyRefused(str(err)) from None
    check_address(opts.address)
    if opts.tensorboard is not None:
        from nc_core.results.tensorboard import check_tensorboard

        check_tensorboard(opts.tensorboard)
    check_storage(opts)
    _check_results(spec, opts)
    path = experiment_path(spec, opts)
    check_claim(spec, path)
    local = local_storage(opts)
    if local is not None:
        busy = holder(local / spec.name / LOCK_FILE)
        if busy is not None:
            raise StudyLocked(
                f"study {spec.name} is running already under {local / spec.name} ({busy}); "
                "wait for it to finish (or stop it), or pass another --name or --storage"
            )


def _check_machine(spec: StudySpec, opts: StudyOptions) -> None:
    if not opts.local:
        return
    import torch

    from nc_core.train.build import resolve_device

    resolve_device(spec.base.device)
    gpus = torch.cuda.device_count()
    if (opts.gpus_per_trial or 0) > gpus:
        raise StudyRefused(
            f"StudyOptions.gpus_per_trial={opts.gpus_per_trial}: the local Ray has {gpus} "
            "GPUs; a trial needing more would wait forever"
        )


def _check_results(spec: StudySpec, opts: StudyOptions) -> None:
    for name in TABLES:
        try:
            check_writable(Path(opts.results) / spec.name / name, flag="--results")
        except ValueError as err:
            raise StudyRefused(str(err)) from None
    check_tables_owner(spec, opts)


# ---------------------------------------------------------------------------- where it is stored


def local_storage(opts: StudyOptions) -> Path | None:
    """The storage folder when it is on this machine's file system (a path or a file:// URI),
    absolute; None for other URIs (s3://...)."""
    if opts.storage.startswith("file://"):
        return Path(opts.storage[len("file://") :]).resolve()
    if "://" in opts.storage:
        return None
    return Path(opts.storage).resolve()


def storage_uri(opts: StudyOptions) -> str:
    """Tune's storage: a local path made absolute, a cloud URI as given."""
    local = local_storage(opts)
    return str(local) if local is not None else opts.storage


def experiment_path(spec: StudySpec, opts: StudyOptions) -> str:
    """Tune's experiment directory (or URI): <storage>/<study name>."""
    return f"{storage_uri(opts).rstrip('/')}/{spec.name}"


def check_storage(opts: StudyOptions) -> None:
    """StudyRefused naming --storage for a local folder that cannot be written, or a URI no
    file system of pyarrow reads."""
    local = local_storage(opts)
    if local is not None:
        try:
            check_writable(local, flag="--storage", directory=True)
        except ValueError as err:
            raise StudyRefused(str(err)) from None
        return
    try:
        pyarrow.fs.FileSystem.from_uri(opts.storage)
    except (ValueError, OSError, pyarrow.ArrowException) as err:
        raise StudyRefused(
            f"--storage {opts.storage}: {' '.join(str(err).split())}; expected a folder, or a "
            "URI pyarrow reads (s3://bucket/path, gs://..., hdfs://...)"
        ) from None


def check_address(address: str | None) -> None:
    """StudyRefused naming --address when nothing accepts a connection at its host and port
    within `ADDRESS_TIMEOUT_S` (Ray itself would retry for minutes, deaf to Ctrl-C), and `auto`
    where no Ray runs on this machine (Ray finds it as this does: $RAY_ADDRESS, else the file a
    running head leaves in Ray's temporary folder). An address without a port is left to Ray."""
    if address in (None, "", "local"):
        return
    if address == "auto":
        if os.environ.get("RAY_ADDRESS"):
            check_address(os.environ["RAY_ADDRESS"])
            return
        current = Path(os.environ.get("RAY_TMPDIR") or tempfile.gettempdir(), "ray")
        if not (current / "ray_current_cluster").is_file():
            raise StudyRefused(
                f"--address auto: no Ray runs on this machine (no $RAY_ADDRESS, no "
                f"{current / 'ray_current_cluster'}); start one (ray start --head) or leave "
                "--address out for a local Ray"
            )
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=ADDRESS_TIMEOUT_S):
            pass
    except OSError as err:
        why = "no answer" if isinstance(err, TimeoutError) else err.strerror or str(err)
        raise StudyRefused(
            f"--address {address}: nothing answers at {host}:{port} ({why}); start Ray there "
            f"(ray start --head --port {port}) or leave --address out for a local Ray"
        ) from None


# ---------------------------------------------------------------------------- the stored study


def study_marker(spec: StudySpec, path: str) -> tuple[pyarrow.fs.FileSystem, str, str]:
    """(file system, marker path, this study's description) of the experiment at `path`."""
    fs, root = pyarrow.fs.FileSystem.from_uri(path)
    return fs, f"{root}/{SPEC_FILE}", json.dumps(spec.describe(), sort_keys=True, indent=1)


def read_marker(path: str) -> dict | None:
    """The stored description (`StudySpec.describe()`, its StudyType under STUDY_KEY) of the
    experiment at `path`, or None when it has none; StudyRefused when it cannot be read."""
    try:
        fs, root = pyarrow.fs.FileSystem.from_uri(path)
    except (ValueError, OSError, pyarrow.ArrowException) as err:
        raise StudyRefused(f"--storage {path}: {' '.join(str(err).split())}") from None
    marker = f"{root}/{SPEC_FILE}"
    if fs.get_file_info(marker).type != pyarrow.fs.FileType.File:
        return None
    try:
        with fs.open_input_stream(marker) as f:
            data = json.loads(f.read().decode())
    except (OSError, ValueError) as err:
        raise StudyRefused(f"{marker}: not a readable study file ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("base"), dict):
        raise StudyRefused(f"{marker}: not a study file (a JSON object describing a study)")
    return data


def check_claim(spec: StudySpec, path: str) -> None:
    """Raise StudyRefused when `path` holds a different study (its marker file says which),
    naming each setting that differs (stored vs asked) and the two ways out."""
    theirs = read_marker(path)
    if theirs is None:
        return
    conflicts = study_conflicts(theirs, spec)
    if conflicts:
        raise StudyRefused(
            f"--name {spec.name}: {path} holds a different study: {'; '.join(conflicts)}. "
            f"Pass another --name for a new study, or the stored settings ({path}/{SPEC_FILE}) "
            "to resume this one"
        )


def claim(spec: StudySpec, path: str) -> None:
    """Record which study owns `path` (check_claim has refused a different one there), with
    its `StudyType` under `STUDY_KEY` for the analysis. A marker already there is kept as it
    is: a study first run by nc-core 0.1 has none, and its type is inferred from its trials."""
    fs, marker, mine = study_marker(spec, path)
    if fs.get_file_info(marker).type == pyarrow.fs.FileType.File:
        return
    data = json.loads(mine)
    data[UID_KEY] = uuid.uuid4().hex
    if spec.study_type is not None:
        data[STUDY_KEY] = spec.study_type.to_dict()
    fs.create_dir(marker.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(marker) as f:
        f.write(json.dumps(data, sort_keys=True, indent=1).encode())


def _no_stored_study(name: str, path: str) -> StudyRefused:
    return StudyRefused(
        f"--name {name}: no stored study at {path}; run it first (without --export-only), or "
        "pass the --storage and --name it ran with"
    )


def stored_spec(name: str, opts: StudyOptions) -> StudySpec:
    """The study `name` as stored under `opts.storage` (its marker); StudyRefused when there is
    none."""
    path = f"{storage_uri(opts).rstrip('/')}/{name}"
    data = read_marker(path)
    if data is None:
        raise _no_stored_study(name, path)
    base = RunConfig.from_dict(data["base"])
    declared = data.get(STUDY_KEY)
    try:
        return StudySpec(
            name=data.get("name", name),
            base=base,
            trials=tuple(
                canonical_keys(t.get("model", base.model), upgrade_keys(t))
                for t in data.get("trials", [])
            ),
            space={k: tuple(v) for k, v in data.get("space", {}).items()},
            num_samples=data.get("num_samples", 0),
            objectives=tuple(tuple(o) for o in data.get("objectives", [("test_acc", "max")])),
            study_type=StudyType.from_dict(declared) if declared is not None else None,
        )
    except (ValueError, TypeError) as err:
        raise StudyRefused(f"{path}/{SPEC_FILE}: cannot be read as a study ({err})") from None


def _shown(labels: list[str]) -> str:
    return ", ".join(labels[:4]) + (", ..." if len(labels) > 4 else "")


def _trials_text(stored: list[dict], asked: list[dict]) -> str:
    """How two trial lists differ: the count of each, and the trials only one of them has."""
    s, a = [trial_label(t) for t in stored], [trial_label(t) for t in asked]
    out = f"trials stored {len(s)}, asked {len(a)}"
    only_asked = [x for x in a if x not in s]
    only_stored = [x for x in s if x not in a]
    if only_asked:
        out += f"; asked, not stored: {len(only_asked)} ({_shown(only_asked)})"
    if only_stored:
        out += f"; stored, not asked: {len(only_stored)} ({_shown(only_stored)})"
    if not (only_asked or only_stored):
        out += " (trials of the same names with other settings, or in another order)"
    return out


def study_conflicts(stored: dict, spec: StudySpec) -> list[str]:
    """Each setting in which `spec` differs from the stored study file `stored`, as "SETTING
    stored X, asked Y". What kind of study it is (`STUDY_KEY`) and its id (`UID_KEY`) are not
    compared: a study is drawn by its kind, not identified by it."""
    stored = {k: v for k, v in stored.items() if k not in (STUDY_KEY, UID_KEY)}
    stored, asked = comparable(stored), comparable(spec.describe())
    out = []
    base_s, base_a = stored.get("base", {}), asked.get("base", {})
    for key in sorted(set(base_s) | set(base_a)):
        if base_s.get(key) != base_a.get(key):
            out.append(f"{key} stored {base_s.get(key)!r}, asked {base_a.get(key)!r}")
    trials_s, trials_a = stored.get("trials", []), asked.get("trials", [])
    if trials_s != trials_a:
        out.append(_trials_text(trials_s, trials_a))
    for key in ("space", "num_samples", "objectives"):
        if stored.get(key) != asked.get(key):
            out.append(f"{key} stored {stored.get(key)!r}, asked {asked.get(key)!r}")
    return out


def check_export(spec: StudySpec, opts: StudyOptions) -> None:
    """StudyRefused unless the study is stored under `opts.storage`, its tables can be written
    (and are its own), and `spec` asks for nothing its stored description contradicts (an
    export takes every setting from the stored study: `spec` is what the command line asked
    for, or `stored_spec` when it asked for nothing)."""
    path = experiment_path(spec, opts)
    local = local_storage(opts)
    if local is not None and not (local / spec.name).is_dir():
        raise _no_stored_study(spec.name, path)
    try:
        stored = read_marker(path)
    except (OSError, ValueError, pyarrow.ArrowException) as err:
        if isinstance(err, StudyRefused):
            raise
        raise StudyRefused(f"--storage {opts.storage}: {' '.join(str(err).split())}") from None
    if stored is None and (local is None or not list((local / spec.name).glob("trial_*"))):
        raise _no_stored_study(spec.name, path)
    _check_results(spec, opts)
    if stored is not None:
        conflicts = study_conflicts(stored, spec)
        if conflicts:
            raise StudyRefused(
                f"--export-only: the options contradict the stored study {spec.name} "
                f"({path}/{SPEC_FILE}): {'; '.join(conflicts)}. An export takes every setting "
                "from the stored study: leave these options out"
            )


# ---------------------------------------------------------------------------- the tables


def tables_owner(folder: Path) -> tuple[str | None, str | None]:
    """(experiment path, stored study id) of the export that wrote the tables in `folder`; both
    None when there are none, they cannot be read, or they were written without them (by
    nc-core before tables recorded them, or by collect)."""
    path = folder / TABLES[0]
    if not path.exists():
        return None, None
    try:
        meta = metadata_of(path)
    except (OSError, ValueError, pyarrow.ArrowException):
        return None, None
    return meta.get(TABLES_OWNER_KEY), meta.get(TABLES_UID_KEY) or None


def owner_stamp(path: str) -> dict[str, str]:
    """What the tables of the experiment at `path` record about it (their Parquet metadata)."""
    marker = read_marker(path)
    uid = marker.get(UID_KEY, "") if marker is not None else ""
    return {TABLES_OWNER_KEY: path, TABLES_UID_KEY: uid}


def check_tables_owner(spec: StudySpec, opts: StudyOptions) -> None:
    """StudyRefused when RESULTS/NAME holds the tables of another stored study (same name,
    another --storage, told apart by the stored study's id, else by its path): exporting would
    replace them."""
    folder = Path(opts.results) / spec.name
    owner, owner_uid = tables_owner(folder)
    if owner is None and owner_uid is None:
        return
    mine = experiment_path(spec, opts)
    marker = read_marker(mine)
    uid = marker.get(UID_KEY) if marker is not None else None
    same = owner_uid == uid if owner_uid and uid else owner == mine
    if not same:
        raise StudyRefused(
            f"--results {opts.results}: {folder} holds the tables of the study stored at "
            f"{owner}, not of this one (stored at {mine}); pass another --results or --name, or "
            f"remove {folder} to replace them"
        )
