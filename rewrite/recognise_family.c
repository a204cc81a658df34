/* recognise_family: index families. Every name is read as a base and indices
 * (x1_2, x_1_2, x[1,2], compact Wq12); names with one base and form make a
 * family, its shape and index base detected, gaps counted. */
#include "rewrite/recognise_impl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define MAT_INDEX_DIGITS 9          /* an index has at most 9 digits */
#define MAT_COMPACT_MAX_DIGITS 18
#define MAT_SPARSE_FACTOR 4         /* cells <= 4 * names + 64, else not a matrix */

/* A name read as base + indices. */
typedef struct name_index {
    size_t base_len;
    mat_form form;
    uint32_t n;                      /* indices (compact: digits, decoded later) */
    uint64_t v[MAT_MAX_RANK + 1];
    const char *digits;              /* compact: the glued digits */
    size_t n_digits;
} name_index;

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* A group of digits as an index: no leading zero, at most 9 digits. */
static int group_value(uint64_t *v, const char *d, size_t n)
{
    if (n == 0 || n > MAT_INDEX_DIGITS || (n > 1 && d[0] == '0')) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) x = 10 * x + (uint64_t)(d[i] - '0');
    *v = x;
    return 0;
}

/* name_index -> base '[' INT { ',' INT } ']'              (bracket, canonical spelling)
 *             | base { '_' DIGITS }                         (underscore: x_1_2)
 *             | base DIGITS { '_' DIGITS }                  (glued x1_2, compact Wq12)
 * base ends with a letter or '_' (never a digit). Returns 0 when name has an
 * index form; 1 when it has too many indices; -1 when it has none. */
static int read_name(name_index *ni, const char *name)
{
    size_t len = strlen(name);
    memset(ni, 0, sizeof *ni);
    const char *open = memchr(name, '[', len);
    if (open) {
        ni->form = MAT_FORM_BRACKET;
        ni->base_len = (size_t)(open - name);
        if (ni->base_len == 0 || name[len - 1] != ']') return -1;
        const char *q = open + 1;
        for (;;) {
            const char *e = q;
            while (is_digit(*e)) e++;
            if (ni->n == MAT_MAX_RANK) return 1;
            if (group_value(&ni->v[ni->n], q, (size_t)(e - q)) != 0) return -1;
            ni->n++;
            if (*e == ',') { q = e + 1; continue; }
            if (*e == ']' && e[1] == '\0') return 0;
            if (*e == ']' && e[1] == '[') { q = e + 2; continue; }
            return -1;
        }
    }
    size_t i = len;
    const char *grp[MAT_MAX_RANK + 2];
    size_t glen[MAT_MAX_RANK + 2];
    uint32_t n = 0;
    int glued = 0;
    while (i > 0 && is_digit(name[i - 1])) {
        size_t j = i;
        while (j > 0 && is_digit(name[j - 1])) j--;
        if (n == MAT_MAX_RANK + 1) return 1;
        grp[n] = name + j;
        glen[n] = i - j;
        n++;
        if (j > 0 && name[j - 1] == '_' && j > 1) {
            i = j - 1;
        } else {
            glued = 1;
            i = j;
            break;
        }
    }
    if (n == 0 || i == 0) return -1;
    ni->base_len = i;
    if (n > MAT_MAX_RANK) return 1;
    if (glued && n == 1) {
        ni->form = MAT_FORM_COMPACT;
        if (glen[0] > MAT_COMPACT_MAX_DIGITS) return -1;
        ni->digits = grp[0];
        ni->n_digits = glen[0];
        return 0;
    }
    ni->form = glued ? MAT_FORM_GLUED : MAT_FORM_UNDERSCORE;
    ni->n = n;
    for (uint32_t k = 0; k < n; k++)
        if (group_value(&ni->v[k], grp[n - 1 - k], glen[n - 1 - k]) != 0) return -1;
    return 0;
}

/* One name of a family. */
typedef struct member {
    uint32_t sym;
    uint32_t key;           /* offset of its family key in the key buffer */
    const char *keyp;       /* the key itself, once the buffer is complete */
    const char *name;
    uint32_t n;
    uint64_t v[MAT_MAX_RANK];
    const char *digits;     /* compact */
    uint32_t n_digits;
    int ambiguous;
} member;

/* By family key, then by name (length first): independent of the order in
 * which the script mentions the names. */
static int member_cmp(const void *x, const void *y)
{
    const member *a = x, *b = y;
    int k = strcmp(a->keyp, b->keyp);
    if (k) return k;
    size_t la = strlen(a->name), lb = strlen(b->name);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* ---- compact names ---- */

typedef struct split {
    uint64_t r, c;
} split;

/* Splits of digits d[0..n) into two indices without leading zeros. */
static size_t compact_splits(split *out, const char *d, size_t n)
{
    size_t k = 0;
    for (size_t a = 1; a < n; a++) {
        split s;
        if (group_value(&s.r, d, a) != 0 || group_value(&s.c, d + a, n - a) != 0) continue;
        out[k++] = s;
    }
    return k;
}

/* Open-addressing set of cells (r, c). */
typedef struct cell_set {
    uint64_t *slot;
    size_t mask;
} cell_set;

static void cell_set_init(cell_set *cs, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    cs->slot = mem_calloc(cap, sizeof *cs->slot);
    cs->mask = cap - 1;
}

static uint64_t cell_key(uint64_t r, uint64_t c) { return (r << 32 | c) + 1; }

static int cell_set_has(const cell_set *cs, uint64_t key)
{
    for (size_t i = mem_mix64(key) & cs->mask;; i = (i + 1) & cs->mask) {
        if (cs->slot[i] == 0) return 0;
        if (cs->slot[i] == key) return 1;
    }
}

static void cell_set_add(cell_set *cs, uint64_t key)
{
    size_t i = mem_mix64(key) & cs->mask;
    while (cs->slot[i] != 0 && cs->slot[i] != key) i = (i + 1) & cs->mask;
    cs->slot[i] = key;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

#define MAT_COMPACT_SHAPES 64 /* row extents tried for multi-digit compact names */

/* Decodes the compact names m[0..n) of one base: equal lengths L <= 3 are L
 * single-digit indices (Wq12); lengths from 1 up are one index (b1 .. b12);
 * otherwise two indices of several digits. An index 0 only where a name
 * that splits one way has one. Then the shape decides: the extents
 * (R, C) of least area in which every name has a split; a name with
 * one split inside is placed; with several, the splits on cells no placed
 * name takes, then those below the diagonal when every placed name is;
 * still several: ambiguous. Returns the rank. */
static uint32_t decode_compact(member *m, size_t n)
{
    size_t lmin = SIZE_MAX, lmax = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].n_digits < lmin) lmin = m[i].n_digits;
        if (m[i].n_digits > lmax) lmax = m[i].n_digits;
    }
    if (lmin == lmax && lmax <= MAT_MAX_RANK) {
        for (size_t i = 0; i < n; i++) {
            m[i].n = (uint32_t)lmax;
            for (uint32_t k = 0; k < lmax; k++) m[i].v[k] = (uint64_t)(m[i].digits[k] - '0');
        }
        return (uint32_t)lmax;
    }
    if (lmin == 1) {
        for (size_t i = 0; i < n; i++) {
            m[i].n = 1;
            if (group_value(&m[i].v[0], m[i].digits, m[i].n_digits) != 0) m[i].ambiguous = 1;
        }
        return 1;
    }
    split *cand = mem_realloc(NULL, n * MAT_COMPACT_MAX_DIGITS * sizeof *cand);
    size_t *nc = mem_calloc(n, sizeof *nc);
    uint64_t *rv = mem_realloc(NULL, n * MAT_COMPACT_MAX_DIGITS * sizeof *rv);
    size_t n_rv = 0;
    uint64_t r_need = 0;
    int zero_r = 0, zero_c = 0;
    for (size_t i = 0; i < n; i++) {
        split *c = cand + i * MAT_COMPACT_MAX_DIGITS;
        nc[i] = compact_splits(c, m[i].digits, m[i].n_digits);
        if (nc[i] == 1) {
            zero_r |= c[0].r == 0;
            zero_c |= c[0].c == 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        m[i].n = 2;
        split *c = cand + i * MAT_COMPACT_MAX_DIGITS;
        /* an index 0 only where a name that splits one way has one */
        size_t k = 0;
        for (size_t j = 0; j < nc[i]; j++)
            if ((zero_r || c[j].r != 0) && (zero_c || c[j].c != 0)) c[k++] = c[j];
        if (k > 0) nc[i] = k;
        if (nc[i] == 0) m[i].ambiguous = 1;
        uint64_t rmin = UINT64_MAX;
        for (size_t j = 0; j < nc[i]; j++) {
            rv[n_rv++] = c[j].r;
            if (c[j].r < rmin) rmin = c[j].r;
        }
        if (nc[i] && rmin > r_need) r_need = rmin;
    }
    /* the row extent R (from the splits' rows), the least column extent C
     * that fits every name under it; least area wins, the smaller R on a tie */
    qsort(rv, n_rv, sizeof *rv, cmp_u64);
    uint64_t best_r = 0, best_c = 0;
    double best_area = -1;
    size_t tried = 0;
    for (size_t k = 0; k < n_rv && tried < MAT_COMPACT_SHAPES; k++) {
        if (rv[k] < r_need || (k > 0 && rv[k] == rv[k - 1])) continue;
        tried++;
        uint64_t R = rv[k], C = 0;
        int fits = 1;
        for (size_t i = 0; i < n && fits; i++) {
            if (nc[i] == 0) continue;
            const split *c = cand + i * MAT_COMPACT_MAX_DIGITS;
            uint64_t cmin = UINT64_MAX;
            for (size_t j = 0; j < nc[i]; j++)
                if (c[j].r <= R && c[j].c < cmin) cmin = c[j].c;
            if (cmin == UINT64_MAX) fits = 0;
            else if (cmin > C) C = cmin;
        }
        double area = ((double)R + 1) * ((double)C + 1);
        if (fits && (best_area < 0 || area < best_area)) {
            best_area = area;
            best_r = R;
            best_c = C;
        }
    }
    free(rv);
    cell_set taken;
    cell_set_init(&taken, n);
    int all_lower = 1;
    /* inside the shape: names with one split first, then the others */
    for (size_t i = 0; i < n; i++) {
        split *c = cand + i * MAT_COMPACT_MAX_DIGITS;
        size_t k = 0;
        for (size_t j = 0; j < nc[i]; j++)
            if (best_area >= 0 && c[j].r <= best_r && c[j].c <= best_c) c[k++] = c[j];
        nc[i] = k;
        if (k == 0) m[i].ambiguous = 1;
        if (k != 1) continue;
        m[i].v[0] = c[0].r;
        m[i].v[1] = c[0].c;
        cell_set_add(&taken, cell_key(c[0].r, c[0].c));
        if (c[0].c > c[0].r) all_lower = 0;
        nc[i] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (nc[i] < 2) continue;
        const split *c = cand + i * MAT_COMPACT_MAX_DIGITS;
        size_t at = 0, free_cells = 0, lower = 0, at_lower = 0;
        for (size_t j = 0; j < nc[i]; j++) {
            if (cell_set_has(&taken, cell_key(c[j].r, c[j].c))) continue;
            free_cells++;
            at = j;
            if (c[j].c <= c[j].r) { lower++; at_lower = j; }
        }
        if (free_cells != 1 && all_lower && lower == 1) { free_cells = 1; at = at_lower; }
        if (free_cells != 1) {
            m[i].ambiguous = 1;
            continue;
        }
        m[i].v[0] = c[at].r;
        m[i].v[1] = c[at].c;
    }
    free(cand);
    free(nc);
    free(taken.slot);
    return 2;
}

/* ---- families ---- */

static void add_ambiguous(mat_program *p, const char *name)
{
    p->ambiguous = mem_realloc(p->ambiguous, (p->n_ambiguous + 1) * sizeof *p->ambiguous);
    p->ambiguous[p->n_ambiguous++] = mem_strdup(name);
}

/* Builds the family of members m[0..n) (one key, sorted by symbol); 0 on
 * success, -1 when it is too sparse to be a matrix. */
static int make_family(recog_ctx *c, const member *m, size_t n, uint32_t rank, mat_form form, const char *base)
{
    uint64_t lo = UINT64_MAX, hi[MAT_MAX_RANK] = { 0 };
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].ambiguous) continue;
        live++;
        for (uint32_t k = 0; k < rank; k++) {
            if (m[i].v[k] < lo) lo = m[i].v[k];
            if (m[i].v[k] > hi[k]) hi[k] = m[i].v[k];
        }
    }
    if (live == 0) return -1;
    uint32_t ib = lo == 0 ? 0 : 1;
    uint64_t cells = 1;
    uint32_t dim[MAT_MAX_RANK] = { 0 };
    for (uint32_t k = 0; k < rank; k++) {
        uint64_t d = hi[k] - ib + 1;
        if (d > UINT32_MAX) return -1;
        dim[k] = (uint32_t)d;
        cells *= d;
        if (cells > ((uint64_t)1 << 31)) return -1;
    }
    if (cells > MAT_SPARSE_FACTOR * (uint64_t)live + 64) return -1;
    mat_program *p = c->p;
    uint32_t fi = mat_push_family(p);
    mat_family *f = &p->mats[fi];
    f->base = mem_strdup(base);
    f->form = form;
    f->rank = rank;
    f->index_base = ib;
    memcpy(f->dim, dim, sizeof dim);
    mat_set_shape(f);
    f->entry = mem_calloc(f->n_cells, sizeof *f->entry);
    f->rel = mem_realloc(NULL, f->n_cells * sizeof *f->rel);
    for (size_t i = 0; i < f->n_cells; i++) f->rel[i] = -1;
    f->kind = MAT_KIND_INPUT;
    f->op = -1;
    for (size_t i = 0; i < n; i++) {
        const char *nm = sym_name(c->s, m[i].sym);
        if (m[i].ambiguous) {
            c->sym_reason[m[i].sym] = MAT_REASON_AMBIGUOUS;
            add_ambiguous(p, nm);
            continue;
        }
        size_t cell = 0;
        for (uint32_t k = 0; k < rank; k++) cell = cell * dim[k] + (size_t)(m[i].v[k] - ib);
        if (f->entry[cell] != TERM_NONE) { /* two names for one cell: both ambiguous */
            uint32_t other = term_sym_of(c->s, f->entry[cell]);
            c->sym_fam[other] = -1;
            c->sym_reason[other] = MAT_REASON_AMBIGUOUS;
            add_ambiguous(p, sym_name(c->s, other));
            c->sym_reason[m[i].sym] = MAT_REASON_AMBIGUOUS;
            add_ambiguous(p, nm);
            f->entry[cell] = TERM_NONE;
            f->rel[cell] = -1;
            continue;
        }
        f->entry[cell] = c->s->sym_term[m[i].sym];
        f->rel[cell] = sys_relation_of(c->y, f->entry[cell]);
        c->sym_fam[m[i].sym] = (int32_t)fi;
        c->sym_cell[m[i].sym] = (uint32_t)cell;
    }
    return 0;
}

/* Counts entries and classifies the pattern of family f. */
static void family_pattern(mat_family *f)
{
    f->n_present = f->n_defined = 0;
    int lower = f->rank >= 2 && f->rows == f->cols;
    for (size_t i = 0; i < f->n_cells; i++) {
        int present = f->entry[i] != TERM_NONE;
        f->n_present += present;
        f->n_defined += f->rel[i] >= 0;
        if (lower) {
            uint32_t b, r, c;
            mat_cell_pos(f, i, &b, &r, &c);
            if (present != (c <= r)) lower = 0;
        }
    }
    f->pattern = f->n_present == f->n_cells ? MAT_PATTERN_FULL : lower ? MAT_PATTERN_LOWER : MAT_PATTERN_SPARSE;
}

static int name_taken(char **sorted, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int k = strcmp(sorted[mid], name);
        if (k == 0) return 1;
        if (k < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

static int str_ptr_cmp(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* Program names: the base with its first letter capitalised (x -> X) when
 * no symbol and no other family has that name; else the base, numbered on a
 * clash. */
static void family_names(recog_ctx *c)
{
    mat_program *p = c->p;
    char **names = mem_realloc(NULL, ((size_t)c->n_syms + 1) * sizeof *names);
    for (uint32_t v = 0; v < c->n_syms; v++) names[v] = (char *)sym_name(c->s, v);
    qsort(names, c->n_syms, sizeof *names, str_ptr_cmp);
    strbuf b;
    strbuf_init(&b);
    for (uint32_t fi = 0; fi < c->n_families; fi++) {
        mat_family *f = &p->mats[fi];
        for (int attempt = 0;; attempt++) {
            strbuf_reset(&b);
            strbuf_puts(&b, f->base);
            if (attempt == 0 && islower((unsigned char)b.data[0])) b.data[0] = (char)toupper((unsigned char)b.data[0]);
            else if (attempt == 0) continue;
            if (attempt >= 2) strbuf_printf(&b, "%d", attempt);
            int clash = name_taken(names, c->n_syms, b.data);
            for (uint32_t g = 0; !clash && g < fi; g++) clash = strcmp(p->mats[g].name, b.data) == 0;
            for (uint32_t g = fi + 1; !clash && attempt == 0 && g < c->n_families; g++)
                clash = strcmp(p->mats[g].base, b.data) == 0;
            if (!clash) break;
        }
        f->name = mem_strdup(b.data);
    }
    strbuf_clear(&b);
    free(names);
}

void recog_families_build(recog_ctx *c)
{
    term_store *s = c->s;
    member *m = mem_realloc(NULL, ((size_t)c->n_syms + 1) * sizeof *m);
    strbuf keys;
    strbuf_init(&keys);
    size_t n = 0;
    for (uint32_t v = 0; v < c->n_syms; v++) {
        const char *nm = sym_name(s, v);
        name_index ni;
        int k = read_name(&ni, nm);
        if (k != 0) {
            c->sym_reason[v] = k > 0 ? MAT_REASON_UNSUPPORTED : MAT_REASON_NO_INDEX;
            continue;
        }
        member *x = &m[n++];
        memset(x, 0, sizeof *x);
        x->sym = v;
        x->name = nm;
        x->key = (uint32_t)keys.len;
        x->n = ni.n;
        memcpy(x->v, ni.v, sizeof x->v);
        x->digits = ni.digits;
        x->n_digits = (uint32_t)ni.n_digits;
        strbuf_putn(&keys, nm, ni.base_len);
        /* base, then \1, the form and the rank: sorts by base first */
        strbuf_putc(&keys, '\1');
        strbuf_putc(&keys, (char)('0' + ni.form));
        strbuf_putc(&keys, (char)('0' + (ni.form == MAT_FORM_COMPACT ? 0 : ni.n)));
        strbuf_putc(&keys, '\0');
    }
    for (size_t i = 0; i < n; i++) m[i].keyp = keys.data + m[i].key;
    qsort(m, n, sizeof *m, member_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        const char *key = keys.data + m[i].key;
        while (j < n && strcmp(keys.data + m[j].key, key) == 0) j++;
        size_t base_len = strchr(key, '\1') - key;
        char *base = mem_realloc(NULL, base_len + 1);
        memcpy(base, key, base_len);
        base[base_len] = '\0';
        mat_form form = (mat_form)(key[base_len + 1] - '0');
        uint32_t rank = (uint32_t)(key[base_len + 2] - '0');
        if (form == MAT_FORM_COMPACT) rank = decode_compact(m + i, j - i);
        if (make_family(c, m + i, j - i, rank, form, base) != 0)
            for (size_t k = i; k < j; k++)
                if (c->sym_reason[m[k].sym] != MAT_REASON_AMBIGUOUS) c->sym_reason[m[k].sym] = MAT_REASON_UNSUPPORTED;
        free(base);
        i = j;
    }
    c->n_families = (uint32_t)c->p->n_mats;
    for (uint32_t fi = 0; fi < c->n_families; fi++) family_pattern(&c->p->mats[fi]);
    family_names(c);
    strbuf_clear(&keys);
    free(m);
}
