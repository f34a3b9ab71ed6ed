#!/usr/bin/env python3
"""PyTorch's CPU times for the shapes `easel bench kernels` measures, for comparison.

Run: python3 scripts/bench_kernels_torch.py [--repeats 5] [--filter TEXT]
Uses torch's default thread count (all cores), float32, inference mode; best of N runs
after one warm-up, like the Swift benchmark. Prints ms and GFLOP/s per case.
"""
import argparse
import time

import torch
import torch.nn.functional as F


def best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def conv_cases():
    for cin, cout, size, k, stride in [
        (320, 320, 64, 3, 1), (640, 640, 32, 3, 1), (1280, 1280, 16, 3, 1),
        (4, 320, 64, 3, 1), (320, 320, 64, 3, 2),
        (320, 320, 64, 1, 1), (320, 640, 32, 1, 1), (640, 1280, 16, 1, 1),
    ]:
        for batch in (1, 2):
            yield batch, cin, cout, size, k, stride
    yield 1, 128, 128, 256, 3, 1


def cases():
    g = torch.Generator().manual_seed(0)

    def rand(*shape, scale=1.0):
        return (torch.rand(*shape, generator=g) * 2 - 1) * scale

    for batch, cin, cout, size, k, stride in conv_cases():
        x, w, b = rand(batch, cin, size, size), rand(cout, cin, k, k, scale=0.05), rand(cout)
        out = (size + 2 * (k // 2) - k) // stride + 1
        flops = 2.0 * batch * cout * cin * k * k * out * out
        name = f"conv {k}x{k}{'/' + str(stride) if stride > 1 else ''} {cin}->{cout} {size}x{size} b{batch}"
        yield name, flops, lambda x=x, w=w, b=b, s=stride, p=k // 2: F.conv2d(x, w, b, stride=s, padding=p)

    for rows, inf, outf in [(4096, 320, 320), (8192, 320, 320), (4096, 320, 2560), (4096, 1280, 320), (1024, 640, 640)]:
        x, w, b = rand(rows, inf), rand(outf, inf, scale=0.05), rand(outf)
        yield f"linear {rows}x{inf} -> {outf} +bias", 2.0 * rows * inf * outf, lambda x=x, w=w, b=b: F.linear(x, w, b)

    for batch, nq, nk, heads, d, causal in [
        (1, 4096, 4096, 8, 40, False), (2, 4096, 4096, 8, 40, False), (2, 4096, 77, 8, 40, False),
        (2, 1024, 1024, 8, 80, False), (2, 1024, 77, 8, 80, False), (1, 4096, 4096, 1, 512, False),
        (1, 77, 77, 12, 64, True),
    ]:
        q, k, v = rand(batch, nq, heads * d), rand(batch, nk, heads * d), rand(batch, nk, heads * d)

        def attention(q=q, k=k, v=v, heads=heads, causal=causal):
            b, n, _ = q.shape
            split = lambda t: t.view(b, t.shape[1], heads, -1).transpose(1, 2)
            o = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=causal)
            return o.transpose(1, 2).reshape(b, n, -1)

        yield (f"attention b{batch} {nq}x{nk} {heads}x{d}{' causal' if causal else ''}",
               4.0 * batch * heads * nq * nk * d, attention)

    image, gamma, beta = rand(2, 320, 64, 64), rand(320), rand(320)
    tokens, wide = rand(2, 4096, 320), rand(2, 4096, 2560)
    small = rand(2, 320, 32, 32)
    channel_bias = rand(320, 1, 1)

    def geglu(x=wide):
        hidden, gate = x.chunk(2, dim=-1)
        return hidden * F.gelu(gate)

    yield "groupNorm+SiLU [2,320,64,64] g32", 0, lambda: F.silu(F.group_norm(image, 32, gamma, beta, 1e-5))
    yield "layerNorm [2,4096,320]", 0, lambda: F.layer_norm(tokens, (320,), gamma, beta)
    yield "geglu [2,4096,2560] -> 1280", 0, geglu
    yield "softmax [2,4096,320]", 0, lambda: tokens.softmax(-1)
    yield "permute [2,320,64,64] -> [2,64,64,320]", 0, lambda: image.permute(0, 2, 3, 1).contiguous()
    yield "add [2,320,64,64] + [2,320,64,64]", 0, lambda: image + image
    yield "add [2,320,64,64] + [320,1,1]", 0, lambda: image + channel_bias
    yield "upsample 2x [2,320,32,32]", 0, lambda: F.interpolate(small, scale_factor=2, mode="nearest")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--filter", default=None)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads: {torch.get_num_threads()}, "
          f"mkldnn: {torch.backends.mkldnn.is_available()}")
    print(f"{'case':44}{'ms':>10}{'GFLOP/s':>10}")
    with torch.inference_mode():
        for name, flops, fn in cases():
            if args.filter and args.filter not in name:
                continue
            t = best(fn, args.repeats)
            rate = f"{flops / t / 1e9:.1f}" if flops else "-"
            print(f"{name:44}{t * 1e3:>10.2f}{rate:>10}", flush=True)


if __name__ == "__main__":
    main()
