/* cli_gen: `hmp gen KIND ...`: the arguments of the generator (io/gen)
 * and its help. KIND is `attention`, the one family written today. */
#include "frontends/cli.h"

#include <stdint.h>
#include <string.h>

#include "io/gen.h"

static const char gen_usage[] =
    "usage: hmp gen attention N D [--seed S] [--symbolic] [--scale] [--causal]\n"
    "                             [--heads H] [--compact]\n";

void cli_gen_help(FILE *out)
{
    fputs(gen_usage, out);
    fputs("\n"
          "Writes to standard output an HMP script of one attention block over N tokens\n"
          "with D features, one scalar relation per entry, every sum written out on one\n"
          "line (indices from 1):\n"
          "  x_i_j    inputs, N x D (token i is row i)\n"
          "  Wq_j_c, Wk_j_c, Wv_j_c   query, key and value weights, D x D\n"
          "  q_i_j = Wq_j_1*x_i_1 + ... + Wq_j_D*x_i_D   queries (Q = X*Wq^T); k, v alike\n"
          "  s_i_j = q_i_1*k_j_1 + ... + q_i_D*k_j_D     scores (S = Q*K^T)\n"
          "  a_i_j = exp(s_i_j) / (exp(s_i_1) + ... + exp(s_i_N))   softmax of row i\n"
          "  o_i_j = a_i_1*v_1_j + ... + a_i_N*v_N_j     outputs (O = A*V)\n"
          "The same options always give the same bytes. Inputs are exact rationals from\n"
          "a splitmix64 generator: x_i_j = m/2 with m uniform in [-4, 4]; weights m/den\n"
          "with m uniform in [-9, 9] and den = round(4*D^(3/4)), which keeps the scores\n"
          "(unscaled) at a standard deviation of about 1 to 4 for every D, so that softmax\n"
          "rows are not one-hot. The size grows like N^3 (each of the N*N softmax\n"
          "relations sums N exponentials): N = 256, D = 64 writes about 500 MB.\n"
          "\n"
          "options:\n"
          "  --seed S      seed of the input values (default 1; any 64-bit number)\n"
          "  --symbolic    no relations for x and the weights: they stay free symbols\n"
          "  --scale       scores divided by sqrt(D): s_i_j = ( ... ) / sqrt(D)\n"
          "  --causal      token i attends to tokens t <= i only: s_i_j and a_i_j for\n"
          "                j <= i, softmax and outputs summed over t <= i\n"
          "  --heads H     H heads (default 1), each with its own weights; for H > 1\n"
          "                every name but x starts with the head: Wq_h_j_c, q_h_i_j,\n"
          "                s_h_i_j, a_h_i_j, o_h_i_j\n"
          "  --compact     the names of the original example, single digits glued to\n"
          "                the name: x1_2, Wq12, q1_1, s12, a12, o1_1 (N, D <= 9, one head)\n"
          "  -h, --help    this help\n"
          "\n"
          "exit status: 0 success, 1 output could not be written, 2 bad usage\n",
          out);
}

static int gen_usage_error(FILE *err, const char *msg, const char *arg)
{
    return cli_usage_error(err, "gen", gen_usage, msg, arg);
}

/* number -> digit { digit }, at most max. 0 on success. */
static int parse_count(uint64_t *out, const char *text, uint64_t max)
{
    uint64_t v = 0;
    if (*text == '\0') return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        unsigned digit = (unsigned)(*p - '0');
        if (v > (max - digit) / 10) return -1;
        v = v * 10 + digit;
    }
    *out = v;
    return 0;
}

/* The value of an option given as `--name VALUE` or `--name=VALUE`; NULL
 * when a is not that option. *i moves past a separate value. */
static const char *option_value(const char *a, const char *name, int argc, char **argv, int *i, int *missing)
{
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != '\0') return NULL;
    if (*i + 1 >= argc) { *missing = 1; return NULL; }
    return argv[++*i];
}

int cli_gen(int argc, char **argv, FILE *out, FILE *err)
{
    gen_options opt;
    gen_options_init(&opt);
    const char *positional[3];
    int n_pos = 0, options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            int missing = 0;
            const char *v;
            uint64_t x;
            if (strcmp(a, "--") == 0) options_done = 1;
            else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { cli_gen_help(out); return CLI_EXIT_OK; }
            else if (strcmp(a, "--symbolic") == 0) opt.symbolic = 1;
            else if (strcmp(a, "--scale") == 0) opt.scale = 1;
            else if (strcmp(a, "--causal") == 0) opt.causal = 1;
            else if (strcmp(a, "--compact") == 0) opt.compact = 1;
            else if ((v = option_value(a, "--seed", argc, argv, &i, &missing)) != NULL) {
                if (parse_count(&x, v, UINT64_MAX) != 0)
                    return gen_usage_error(err, "--seed needs a number from 0 to 2^64 - 1, not", v);
                opt.seed = x;
            } else if ((v = option_value(a, "--heads", argc, argv, &i, &missing)) != NULL) {
                if (parse_count(&x, v, GEN_MAX_HEADS) != 0 || x < 1)
                    return gen_usage_error(err, "--heads needs a number from 1 to 10000, not", v);
                opt.heads = (uint32_t)x;
            } else if (missing) {
                return gen_usage_error(err, "missing value after", a);
            } else {
                return gen_usage_error(err, "unknown option", a);
            }
        } else if (n_pos == 3) {
            return gen_usage_error(err, "unexpected argument", a);
        } else {
            positional[n_pos++] = a;
        }
    }
    if (n_pos == 0) return gen_usage_error(err, "missing KIND (attention)", NULL);
    if (strcmp(positional[0], "attention") != 0)
        return gen_usage_error(err, "unknown KIND (known: attention):", positional[0]);
    if (n_pos < 3) return gen_usage_error(err, n_pos == 1 ? "missing N and D" : "missing D", NULL);
    uint64_t n, d;
    if (parse_count(&n, positional[1], GEN_MAX_DIM) != 0 || n < 1)
        return gen_usage_error(err, "N must be a number from 1 to 1000000, not", positional[1]);
    if (parse_count(&d, positional[2], GEN_MAX_DIM) != 0 || d < 1)
        return gen_usage_error(err, "D must be a number from 1 to 1000000, not", positional[2]);
    opt.n = (uint32_t)n;
    opt.d = (uint32_t)d;
    char msg[256];
    if (gen_check(&opt, msg, sizeof msg) != 0) return gen_usage_error(err, msg, NULL);
    if (gen_attention(out, &opt) != 0) {
        fputs("hmp: error: cannot write the output\n", err);
        return CLI_EXIT_IO;
    }
    return CLI_EXIT_OK;
}
