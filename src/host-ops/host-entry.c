// SPDX-License-Identifier: MIT
/*
 * host-entry.c - the one C function the host starts threads with (see host-ops.h).
 * It calls through the function table, so fn must have exactly the type
 * void (*)(void *): wasm's call_indirect traps on any other signature.
 */
#include "host-ops.h"

void host_entry(void (*fn)(void *), void *arg)
{
	fn(arg);
}
