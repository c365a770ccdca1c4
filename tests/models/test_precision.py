"""The precision rule: what a machine computes natively, read from its CPU flags or GPU capability (not from a
library that also says yes where it only emulates), and what `auto` then trains and evaluates in."""

import pytest
import torch

from tunewise.errors import TunewiseError
from tunewise.models.precision import (
    _cpu_info,
    cpu_machine,
    cuda_machine,
    head_in_fp32,
    resolve_eval_precision,
    resolve_precision,
)

SKYLAKE_X = {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"}  # AVX-512 without bf16: emulated


@pytest.mark.parametrize(
    ("flags", "native", "train"),
    [
        ({"avx2", "fma"}, False, "fp32"),
        (SKYLAKE_X, False, "fp32"),
        (SKYLAKE_X | {"avx512_bf16"}, True, "bf16"),  # e.g. AMD Zen 4, Intel Cooper Lake
        (SKYLAKE_X | {"avx512_bf16", "amx_bf16", "amx_tile"}, True, "bf16"),  # Intel Sapphire Rapids
    ],
)
def test_a_cpu_computes_bf16_natively_only_with_its_instructions(flags, native, train):
    found = cpu_machine("some cpu", flags)
    assert found.native_bf16 is native and not found.native_fp16
    assert resolve_precision("auto", found=found) == train
    assert resolve_eval_precision("auto", found=found) == train
    assert ("emulated" in found.why) is not native


@pytest.mark.parametrize(
    ("capability", "train", "evaluation"),
    [((6, 0), "fp32", "fp32"), ((7, 0), "fp16", "fp32"), ((7, 5), "fp16", "fp32"), ((8, 0), "bf16", "bf16")],
)
def test_a_gpu_without_native_bf16_trains_in_fp16_with_a_scaler_or_fp32(capability, train, evaluation):
    found = cuda_machine("gpu", capability)  # P100, V100, T4, A100
    assert resolve_precision("auto", found=found) == train
    assert resolve_eval_precision("auto", found=found) == evaluation


def test_a_precision_set_in_the_config_is_kept_and_fp16_needs_a_gpu():
    cpu = cpu_machine("cpu", {"avx2"})
    assert resolve_precision("bf16", found=cpu) == "bf16" and resolve_precision("fp32", found=cpu) == "fp32"
    with pytest.raises(TunewiseError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", found=cpu)


def test_cpu_flags_and_name_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU 9000\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert _cpu_info(info) == ("Some CPU 9000", {"fpu", "avx2", "avx512_bf16"})
    assert _cpu_info(tmp_path / "missing")[1] == set()


def test_a_heads_logits_are_fp32_under_bf16_autocast(tiny_model_dir):
    from transformers import LlamaForSequenceClassification

    model = LlamaForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    ids = torch.tensor([[5, 6, 7]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(input_ids=ids).logits.dtype == torch.bfloat16  # what autocast does to a plain head
        assert head_in_fp32(model)(input_ids=ids).logits.dtype == torch.float32
    assert model(input_ids=ids).logits.dtype == torch.float32  # outside autocast nothing changes
    assert head_in_fp32(model) is model  # applying it twice wraps once


def test_a_wrapped_head_answers_after_the_whole_model_is_cast_for_evaluation(tiny_model_dir):
    """select's probe casts its trained model to the evaluation's dtype (bf16 where native): the head then
    computes in bf16 like the rest, instead of feeding fp32 states to bf16 weights (a dtype error seen on an
    AMX CPU, 2026-12-05)."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForSequenceClassification

    plain = head_in_fp32(LlamaForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3))
    base = LlamaForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3, dtype=torch.bfloat16)
    adapted = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"], task_type="SEQ_CLS"))
    for parameter in adapted.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()  # the trainable head (PEFT's copy) is fp32, its frozen twin bf16
    adapted = head_in_fp32(adapted)
    ids = torch.tensor([[5, 6, 7]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert adapted(input_ids=ids).logits.dtype == torch.float32  # training: the fp32 copy decides
    for model in (plain, adapted.merge_and_unload()):
        assert model.to(torch.bfloat16)(input_ids=ids).logits.dtype == torch.bfloat16
        assert model.to(torch.float32)(input_ids=ids).logits.dtype == torch.float32


def test_auto_evaluates_preference_pairs_in_fp32_even_where_bf16_is_native_and_says_why(monkeypatch):
    import tunewise.models.precision as precision

    native = cpu_machine("Sapphire Rapids", SKYLAKE_X | {"amx_bf16"})
    assert resolve_eval_precision("auto", found=native, task="classification") == "bf16"
    assert resolve_eval_precision("auto", found=native, task="preference") == "fp32"
    assert resolve_eval_precision("bf16", found=native, task="preference") == "bf16"  # asked for: kept
    monkeypatch.setattr(precision, "machine", lambda device_type=None: native)
    facts = precision.precision_facts("auto", "auto", "preference")
    assert facts["train"] == "bf16" and facts["eval"] == "fp32"
    assert "evaluates in fp32: preference accuracy compares DPO's implicit rewards" in facts["reason"]
    assert precision.precision_facts("auto", "auto", "classification")["eval"] == "bf16"
