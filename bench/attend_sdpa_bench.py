"""torch.nn.functional.scaled_dot_product_attention on the shapes of
bench/attend_bench.cc (one sequence; 16 heads of 64 full, causal 16 / 8 GQA
heads of 128), float32 on the CPU, for the same-run comparison with floe's
Attend. Usage: python bench/attend_sdpa_bench.py [threads [T,T,...]]  (default:
the process's affinity, as OpenMP in attend_bench uses; 4096,8192,16384)."""
import os
import sys
import time

import torch
import torch.nn.functional as F


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} threads")
    g = torch.Generator().manual_seed(1)
    sizes = sys.argv[2] if len(sys.argv) > 2 else "4096,8192,16384"
    for T in map(int, sizes.split(",")):
        for N, Nkv, H, causal in ((16, 16, 64, False), (16, 8, 128, True)):
            q = torch.randn(1, N, T, H, generator=g)
            k = torch.randn(1, Nkv, T, H, generator=g)
            v = torch.randn(1, Nkv, T, H, generator=g)
            with torch.inference_mode():
                t0, c0 = time.perf_counter(), time.process_time()
                F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                               enable_gqa=Nkv != N)
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"sdpa T={T} N={N} Nkv={Nkv} H={H} causal={int(causal)}: "
                  f"{dt * 1e3:.0f} ms, cpu {cpu * 1e3:.0f} ms, {T / dt:.0f} tokens/s", flush=True)


if __name__ == "__main__":
    main()
