"""The shipped `accelerate launch` configs (configs/accelerate) are ones accelerate itself reads, with the engine and
the sharding they say they have. (They have not run on GPUs yet: docs/guide.md, "Several GPUs".)"""

from __future__ import annotations

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "accelerate"


@pytest.mark.parametrize(
    "name, engine, settings",
    [
        ("fsdp.yaml", DistributedType.FSDP, {"fsdp_version": 2, "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP"}),
        ("deepspeed_zero2.yaml", DistributedType.DEEPSPEED, {"zero_stage": 2, "gradient_accumulation_steps": "auto"}),
    ],
)
def test_a_shipped_accelerate_config_is_read_by_accelerate(name, engine, settings):
    config = load_config_from_file(str(CONFIGS / name))
    assert config.distributed_type == engine and config.mixed_precision == "bf16" and not config.use_cpu
    found = config.fsdp_config if engine == DistributedType.FSDP else config.deepspeed_config
    assert settings.items() <= found.items()
