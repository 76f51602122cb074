"""Pack a suite and every local file it names, to run it on another machine.

The suite's data files, model files (or folders) and the modules of `module:attr`
candidates are read as bytes; the suite is rewritten so that each path points into the
bundle (`files/<n>/<name>`, modules beside the suite), and `unpack_suite` re-roots it in a
folder on the worker. Names that are not local files (`sklearn:` datasets, URLs, `train:`
classes, modules not found beside the suite) travel as they are: the worker must have them.
A run folder comes back the same way (`pack_tree` / `unpack_tree`), without its `work/`
inputs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from benchharness import config
from benchharness.errors import SuiteError

SUITE_FILE = "suite.yaml"
#: a bundle larger than this is refused: Dask is not a file-transfer service
MAX_BUNDLE_BYTES = 2 * 1024**3
#: parts of a run folder left on the worker (the splits and models the run itself wrote)
LEFT_BEHIND = ("work",)


def _is_local_path(value: object) -> bool:
    return isinstance(value, str) and bool(value) and "://" not in value \
        and not value.startswith("sklearn:")


def _read_tree(path: Path, prefix: str) -> dict[str, bytes]:
    """A file, or every file under a folder, keyed by its path inside the bundle."""
    if path.is_file():
        return {prefix: path.read_bytes()}
    return {f"{prefix}/{p.relative_to(path).as_posix()}": p.read_bytes()
            for p in sorted(path.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def pack_suite(suite_path: str | Path) -> dict:
    """The bundle: {suite_name, suite_text, files {path: bytes}, sha256 {path: hex}, kept_as_is}."""
    suite_path = Path(suite_path)
    config.load_suite(suite_path)  # a broken suite is refused here, before anything travels
    raw = config.read_suite_file(suite_path)
    base = suite_path.resolve().parent
    files: dict[str, bytes] = {}
    origins: dict[str, str] = {}  # bundle path -> what the suite named: errors speak the user's words
    kept: list[str] = []
    counter = iter(range(1_000_000))

    def ship(value: str, where: str) -> str:
        path = Path(value) if Path(value).is_absolute() else base / value
        if not path.exists():
            raise SuiteError(f"{suite_path.name}: {where} names {value!r}, which does not exist")
        from benchharness.data.parts import special_kind

        kind = special_kind(path)
        if kind:  # reading it to pack would block (a FIFO) or never end (a device)
            raise SuiteError(f"{suite_path.name}: {where} names {value!r}, which is {kind}, not a "
                             "regular file; a fleet ships files")
        rel = f"files/{next(counter)}/{path.name}"
        files.update(_read_tree(path, rel))
        origins[rel] = value
        return rel

    data = raw.get("data") or {}
    for key in ("source", "train", "test", "validation"):
        if _is_local_path(data.get(key)):
            data[key] = ship(data[key], f"data.{key}")
    for i, cand in enumerate(raw.get("candidates") or []):
        model = cand.get("model")
        if not _is_local_path(model):
            continue
        if config._looks_like_callable(model):
            module = model.split(":", 1)[0].split(".", 1)[0]
            for found in (base / f"{module}.py", base / module):
                if found.exists():
                    files.update(_read_tree(found, found.name))
                    break
            else:
                kept.append(f"{model} (module not beside the suite: the worker must import it)")
            continue
        cand["model"] = ship(model, f"candidates[{i}].model")
    raw.pop("profile", None)  # each target is priced with its own profile
    total = sum(len(b) for b in files.values())
    if total > MAX_BUNDLE_BYTES:
        raise SuiteError(f"{suite_path.name}: the files it names add up to {total / 1024**3:.1f} GiB; "
                         f"a fleet ships at most {MAX_BUNDLE_BYTES / 1024**3:.0f} GiB (put data on the workers)")
    return {
        "suite_name": raw.get("name"),
        "suite_text": yaml.safe_dump(raw, sort_keys=False),
        "files": files,
        "sha256": {k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
        "kept_as_is": kept,
        "origins": origins,
    }


def in_users_words(text: str, bundle: dict, suite_root: str | Path) -> str:
    """`text` (an error from the run on a worker) with every bundled path written back as the
    suite named it, not as the temporary folder it was unpacked to."""
    root = str(Path(suite_root))
    for rel, original in sorted((bundle.get("origins") or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f"{root}/{rel}", original).replace(rel, original)
    return text


def _safe_join(root: Path, rel: str) -> Path:
    """root/rel, refusing a path that would land outside root (an absolute path or `..`)."""
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise SuiteError(f"bundle path {rel!r} points outside its folder")
    return target


def unpack_tree(files: dict[str, bytes], root: str | Path) -> None:
    root = Path(root)
    for rel, data in files.items():
        path = _safe_join(root, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def unpack_suite(bundle: dict, root: str | Path) -> Path:
    """Write the bundle under root, checking every file's hash; return the suite's path."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in bundle["files"].items():
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise SuiteError(f"bundle file {rel!r} refused: its path leads outside its "
                             "folder (an absolute path or '..')")
        if rel not in bundle["sha256"]:
            raise SuiteError(f"bundle file {rel!r} refused: the bundle carries no sha256 for it")
        if hashlib.sha256(data).hexdigest() != bundle["sha256"].get(rel):
            raise SuiteError(f"bundle file {rel!r} arrived damaged (sha256 differs)")
    unpack_tree(bundle["files"], root)
    suite = root / SUITE_FILE
    suite.write_text(bundle["suite_text"])
    return suite


def pack_tree(root: str | Path, leave: tuple[str, ...] = LEFT_BEHIND) -> dict[str, bytes]:
    """Every file under root (a run folder) but those under the `leave` folders."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] not in leave}
