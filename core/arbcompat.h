/* arbcompat: where Arb lives. Debian bookworm ships FLINT 2.9 with Arb 2.23
 * as its own library (-lflint-arb, <arb.h>); FLINT 3 merged it (<flint/arb.h>).
 * Include this instead of arb.h; the Makefile picks the library. */
#ifndef HMP_ARBCOMPAT_H
#define HMP_ARBCOMPAT_H

#if __has_include(<arb.h>)
#include <arb.h>
#include <arb_mat.h>
#else
#include <flint/arb.h>
#include <flint/arb_mat.h>
#endif

#endif
