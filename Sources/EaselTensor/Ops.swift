// EaselTensor's operation set — everything the CLIP text encoder, the UNet and the VAE
// call. All float32, row-major, PyTorch shape conventions; every op returns a new tensor
// (inputs are never modified, except by `+=`). Multi-input ops are static on `Tensor`,
// single-input ops are methods.
//
// Products (OpenBLAS sgemm; MatMul.swift, Conv2D.swift)
//   Tensor.matmul(a [..., M, K], b [K, N] | [..., K, N], transposeB:)  -> [..., M, N]
//   Tensor.linear(x [..., in], weight: [out, in], bias: [out]?)        -> [..., out]
//   Tensor.linearGEGLU(x [..., in], weight: [2F, in], bias: [2F]?)     -> [..., F]
//       (linear then geglu, the same bits, gated in chunks of rows while in cache)
//   Tensor.conv2d(x [B, Cin, H, W], weight: [Cout, Cin, kh, kw], bias: [Cout]?,
//                 stride: Int, padding: Padding2D)                     -> [B, Cout, Ho, Wo]
//       padding: an Int literal for all sides, or Padding2D(top:left:bottom:right:)
//   Tensor.attention(query: [B, Nq, H*D], key: [B, Nk, H*D], value: [B, Nk, H*Dv],
//                    heads: H, scale: Float? = 1/sqrt(D), causal: Bool) -> [B, Nq, H*Dv]
//
// Normalisation (Normalization.swift)
//   x.groupNorm(groups:weight:bias:epsilon:fusingSiLU:)   [B, C, ...] -> same
//   x.layerNorm(weight:bias:epsilon:)                     [..., D]    -> same (last axis)
//   x.softmax()                                           [..., N]    -> same (last axis)
//
// Activations (Activations.swift), all same shape except geglu
//   x.silu()  x.sigmoid()  x.gelu()  x.gelu(approximation: .tanh)  x.quickGELU()
//   x.geglu()                                             [..., 2F] -> [..., F]
//       (diffusers' GEGLU: hidden, gate = x.chunk(2, -1); hidden * gelu(gate))
//
// Layout (ShapeOps.swift, Tensor.swift)
//   x.reshaped([..])        shares storage, one extent may be -1
//   x.permuted([0, 2, 3, 1]) x.transposed(1, 2)           copies
//   x.sliced(axis:, range)  x.chunked(n, axis:)            copies
//   Tensor.concatenate([a, b], axis:)
//   table.gatherRows(ids)                                 [V, D] -> [n, D]
//   x.upsampledNearest(factor: 2)                         [B, C, H, W] -> [B, C, 2H, 2W]
//
// Elementwise (Elementwise.swift): + - * / between tensors (the right operand
// broadcasts: [C, 1, 1], [B, C, 1, 1], [C], a scalar tensor) and with Float scalars;
// x += y; x.blended(a, y, b) = a*x + b*y; x.clamped(to:); x.map { } (scalar closure,
// slow path); x.sum(), x.mean() (Double accumulation).
//
// Threads: large loops split across all cores (Parallel.swift); OpenBLAS runs on one
// thread and big products are cut into panels by shape (BLAS.swift), so results never
// depend on what else the process is doing; attention runs its small products side by side.
// Every split is fixed by the shapes (and the core count, for splits of independent work),
// never by how many threads are free: the same inputs give the same bits.
// Memory: large buffers of dead tensors are recycled (BufferPool.swift), because fresh
// pages fault on first touch; TensorStorage.releaseCachedBuffers() hands them back.
// BLAS.coreName / BLAS.configuration say which OpenBLAS kernels are running.
//
// Checks: shape and argument errors stop the process with a message naming the op and
// the shapes (`require`, on in release builds too); kernels themselves do not check.
