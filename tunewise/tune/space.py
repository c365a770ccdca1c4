"""What a search tries: the keys and ranges (`tune.space`, or the method's defaults), a trial's values, and the
config a trial trains with."""

from __future__ import annotations

from tunewise.config import TUNABLE, SearchRange, TunewiseConfig, apply_override, validate_config
from tunewise.errors import TunewiseError
from tunewise.models.registry import is_encoder

LEARNING_RATES = {  # log ranges around each method's default rate
    "lora": (5e-5, 2e-3),
    "full": (1e-6, 1e-4),
    "encoder": (1e-5, 2e-4),
}


def default_space(cfg: TunewiseConfig, task: str) -> dict[str, SearchRange]:
    """The keys worth searching for this model and method, when tune.space is empty: the learning rate (log),
    the epochs, weight decay and warmup; LoRA's rank, alpha and dropout; DPO's beta. Batch size is left out:
    it trades memory for speed more than quality (list it in tune.space to search it)."""
    if is_encoder(cfg.model.name):  # trained with train.encoder's recipe (full fine-tuning)
        low, high = LEARNING_RATES["encoder"]
        return {
            "train.encoder.learning_rate": SearchRange(low=low, high=high, log=True),
            "train.encoder.epochs": SearchRange(low=1, high=4),
            "train.encoder.weight_decay": SearchRange(low=0.0, high=0.1),
            "train.warmup_ratio": SearchRange(low=0.0, high=0.2),
        }
    low, high = LEARNING_RATES["lora" if cfg.train.adapters else "full"]
    space = {
        "train.learning_rate": SearchRange(low=low, high=high, log=True),
        "train.epochs": SearchRange(low=1, high=4),
        "train.weight_decay": SearchRange(low=0.0, high=0.1),
        "train.warmup_ratio": SearchRange(low=0.0, high=0.2),
    }
    if cfg.train.adapters:
        space |= {
            "train.lora.r": SearchRange(choices=[8, 16, 32]),
            "train.lora.alpha": SearchRange(choices=[16, 32, 64]),
            "train.lora.dropout": SearchRange(low=0.0, high=0.1),
        }
    if task == "preference":
        space["train.dpo_beta"] = SearchRange(low=0.05, high=0.5, log=True)
    return space


def check_space(cfg: TunewiseConfig, space: dict[str, SearchRange] | None) -> None:
    """Before any trial: both ends of every range (every choice) make a valid config, and, once the model is
    known (not auto), every key of tune.space changes what it trains. A one-line error naming the key otherwise."""
    for key, limits in (space or {}).items():
        if cfg.model.name != "auto":
            _applies(cfg, key)
        if key == "train.batch_size" and cfg.train.batch_size == "auto":
            raise TunewiseError(
                "tune.space.train.batch_size: train.batch_size is auto (the memory plan chooses it): search it or "
                "let auto choose it, not both"
            )
        ends = limits.choices if limits.choices is not None else [limits.low, limits.high]
        for value in ends:
            value = int(value) if TUNABLE[key] == "int" and float(value).is_integer() else value
            try:
                with_values(cfg, {key: value})
            except TunewiseError as exc:
                reason = str(exc).splitlines()[0].split(": ", 2)[-1]
                raise TunewiseError(f"tune.space.{key}: {value!r} is not a valid value ({reason})") from None


def _applies(cfg: TunewiseConfig, key: str) -> None:
    encoder = is_encoder(cfg.model.name)
    if encoder and key.startswith("train.") and key.split(".")[1] not in ("encoder", "warmup_ratio"):
        raise TunewiseError(
            f"tune.space.{key}: {cfg.model.name} is an encoder, trained with train.encoder's settings: search "
            f"train.encoder.{key.split('.')[-1]} (or train.warmup_ratio)"
        )
    if not encoder and key.startswith("train.encoder."):
        raise TunewiseError(f"tune.space.{key}: applies only to an encoder; {cfg.model.name} is not one")
    if key.startswith("train.lora.") and not encoder and not cfg.train.adapters:
        raise TunewiseError(f"tune.space.{key}: train.method is {cfg.train.method}, not lora or qlora")


def suggest(trial, space: dict[str, SearchRange]) -> dict:
    """A trial's value for every key (Optuna's suggest_* for the key's kind)."""
    values = {}
    for key, found in space.items():
        if found.choices is not None:
            values[key] = trial.suggest_categorical(key, list(found.choices))
        elif TUNABLE[key] == "int":
            values[key] = trial.suggest_int(key, int(found.low), int(found.high), log=found.log)
        else:
            values[key] = trial.suggest_float(key, found.low, found.high, log=found.log)
    return values


def current_values(cfg: TunewiseConfig, space: dict[str, SearchRange]) -> dict:
    """The config's own value of every searched key: the default setting, the search's first trial."""
    values = {}
    for key in space:
        node = cfg
        for part in key.split("."):
            node = getattr(node, part)
        values[key] = int(node) if TUNABLE[key] == "int" and float(node).is_integer() else node
    return values


def holding(space: dict[str, SearchRange], values: dict) -> dict[str, SearchRange]:
    """The space widened where needed to hold ``values`` (the default setting, which the search always tries
    first so that every trial is compared with it)."""
    found = {}
    for key, limits in space.items():
        value = values[key]
        if limits.choices is not None:
            choices = limits.choices if value in limits.choices else [value, *limits.choices]
            found[key] = limits.model_copy(update={"choices": choices})
        else:
            low, high = min(limits.low, value), max(limits.high, value)
            if limits.log and low <= 0:  # a log range cannot hold 0: the default is tried as the range's low
                low = limits.low
            found[key] = limits.model_copy(update={"low": low, "high": high})
    return found


def with_values(cfg: TunewiseConfig, values: dict) -> TunewiseConfig:
    """The config with ``values`` set (validated like any config: a trial never trains an invalid setting)."""
    raw = cfg.model_dump(mode="json")
    for key, value in values.items():
        apply_override(raw, f"{key}={value}")
    found = validate_config(raw, source="tune")
    found._base_dir = cfg._base_dir
    return found


def cost_order(values: dict) -> tuple:
    """A setting's training cost in the search's own terms, for "cheaper" when two are within noise: fewer epochs,
    then a smaller LoRA rank."""
    epochs = values.get("train.epochs", values.get("train.encoder.epochs", 0))
    return (epochs, values.get("train.lora.r", 0))
