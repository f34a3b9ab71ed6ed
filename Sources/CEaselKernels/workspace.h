// Per-thread packing buffers, kept for the thread's life: a product packs its operands
// into them instead of allocating (fresh pages would fault on every call). They are freed
// when the thread exits (the service runs each generation on a thread of its own).

#ifndef EASEL_WORKSPACE_H
#define EASEL_WORKSPACE_H

#include <stddef.h>

/// A 64-byte-aligned buffer of at least `bytes`, owned by the calling thread and reused;
/// NULL if memory runs out. `slot` (0-3) selects one of a few independent buffers.
void *easel_workspace(int slot, size_t bytes);

/// Stops the process with `what` on stderr (a kernel cannot throw).
_Noreturn void easel_out_of_memory(const char *what);

#endif
