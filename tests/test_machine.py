"""Each result names the CPU type it ran on (issue 23 item 6): float results differ across types."""
from __future__ import annotations

import torch

from benchmark.run.train import environment
from benchmark.util.machine import cpu_facts, cpu_label

AMD = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx fma avx2 bmi2
"""
SAPPHIRE = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu avx2 fma avx512f avx512_vnni avx512_bf16 amx_tile amx_bf16
"""


def test_cpu_facts_name_the_model_and_the_float_relevant_instruction_sets(tmp_path, monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    (tmp_path / "amd").write_text(AMD)
    (tmp_path / "intel").write_text(SAPPHIRE)
    amd, intel = cpu_facts(tmp_path / "amd"), cpu_facts(tmp_path / "intel")
    assert amd["cpu_model"] == "AMD EPYC 7B13" and amd["cpu_isa"] == ["avx2", "fma"]
    assert intel["cpu_isa"] == ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16"]
    assert cpu_label(amd) == "AMD EPYC 7B13 (avx2)" and cpu_label(intel).endswith("(amx_bf16)")
    assert "onednn_max_cpu_isa" not in amd
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    capped = cpu_facts(tmp_path / "intel")
    assert capped["onednn_max_cpu_isa"] == "AVX2" and "capped at AVX2" in cpu_label(capped)
    assert cpu_label({}) == "?"  # results stored before the CPU was recorded


def test_a_results_environment_records_the_cpu_and_what_torch_detected():
    env = environment(torch.device("cpu"))
    assert env["cpu_model"] and isinstance(env["cpu_isa"], list)
    assert env["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
