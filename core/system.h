/* system: the relations of a script as one system: definitions, free
 * symbols, outputs, a dependency order, and substitution (inlining) into one
 * shared DAG over the inputs. */
#ifndef HMP_SYSTEM_H
#define HMP_SYSTEM_H

#include "core/diag.h"
#include "core/parse.h"
#include "core/term.h"

typedef struct sys {
    term_store *store;
    const script *scr;
    int32_t *rel_of_sym;   /* sym_id -> relation index, -1 when free */
    uint32_t n_sym_slots;
    uint32_t *order;       /* relation indices, each after its dependencies */
    size_t n_order;
    term_id *free_syms;    /* SYM terms used but never defined, first use order */
    size_t n_free;
    term_id *outputs;      /* SYM terms: `output` directives, or else every
                              relation no other relation uses, in script order */
    size_t n_outputs;
    term_id *inlined;      /* per relation: its value over free symbols, or NONE */
    /* memo for substitution: original term id -> inlined id (0 = not yet) */
    term_id *memo;
    uint32_t memo_size;
} sys;

/* Builds the system of sc. Errors (to d): a name defined twice (pointing at
 * both), a dependency cycle (printing it: a -> b -> a), an output that names
 * nothing defined. Returns 0 when the system is well formed; on error the
 * system is still cleared safely by sys_clear. */
int sys_build(sys *y, term_store *s, const script *sc, diag_list *d);
void sys_clear(sys *y);

/* Relation index defining the SYM term t, or -1. */
int32_t sys_relation_of(const sys *y, term_id t);
/* The value of relation i with every defined name inlined (a DAG over free
 * symbols, shared, not copied). Iterative: no recursion on term depth. */
term_id sys_inline_relation(sys *y, size_t i);
/* Any term with defined names inlined. */
term_id sys_inline(sys *y, term_id t);
/* Binds a free symbol (a SYM term no relation defines) to value, a term over
 * no defined names (e.g. a number): inlining then puts value in its place.
 * 0 on success; -1 when sym is defined, or was already inlined or bound. */
int sys_bind(sys *y, term_id sym, term_id value);

#endif
