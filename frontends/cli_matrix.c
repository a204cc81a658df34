/* cli_matrix: `hmp matrix FILE`: the relations of a script recognised as a
 * matrix program (families of indexed names, operations verified entry by
 * entry), as text or JSON, or the scalar relations the program generates. */
#include "frontends/cli.h"

#include <string.h>

#include "core/strbuf.h"
#include "frontends/input.h"
#include "rewrite/recognise.h"

static const char matrix_usage[] = "usage: hmp matrix FILE|- [--json | --regen]\n";

void cli_matrix_help(FILE *out)
{
    fputs(matrix_usage, out);
    fputs("\n"
          "Recognises the relations of the HMP script FILE (\"-\" reads standard input),\n"
          "as written, as a matrix program. Names with indices form families\n"
          "(x1_2, x_1_2, x[1,2], x[1][2], compact Wq12; indices from 0 or 1, detected).\n"
          "For each family an operation is proposed from one entry and kept only if\n"
          "it gives every entry exactly the term of its relation (same hash-consed\n"
          "term); an entry that differs stays scalar and is listed. Families whose\n"
          "entries are all constants are matrix literals; names without relations\n"
          "are inputs. docs/MATRIX.md has the details.\n"
          "\n"
          "operations (name in --json):\n"
          "  Q = X * Wq^T             matmul (a factor: S = Q * K^T / sqrt(2))\n"
          "  T = c * A                scale\n"
          "  C = A + B, A - B, A .* B add, sub, mul (elementwise)\n"
          "  Q = T + row(b), col(b)   add_row, add_col (bias on every row / column)\n"
          "  T = A + c                add_scalar\n"
          "  A = softmax_rows(S)      softmax_rows; masked_softmax_rows (causal: k <= i)\n"
          "  B = A^T, B = A           transpose, copy\n"
          "  B = exp(A), A .^ c       map (exp, log, tanh, abs, pow)\n"
          "  C = concat_heads(O[h])   concat_heads\n"
          "A name with [h] has the head as its first index: Q[h] = X * Wq[h]^T.\n"
          "T1, T2, ... are intermediates of one relation (Q = X*Wq^T + b).\n"
          "\n"
          "options:\n"
          "  --json      one JSON object: ops (out, op, args, transpose, shape, ...),\n"
          "              scalar_left, families, inputs, scalar, ambiguous\n"
          "  --regen     the scalar relations the program generates, as a script in a\n"
          "              canonical order: literals, each operation's entries (row by\n"
          "              row), the relations left scalar, the output directives\n"
          "  -h, --help  this help\n"
          "\n"
          "exit status: 0 success, 1 output could not be written, 2 bad input or usage\n",
          out);
}

static int matrix_usage_error(FILE *err, const char *msg, const char *arg)
{
    return cli_usage_error(err, "matrix", matrix_usage, msg, arg);
}

int cli_matrix(int argc, char **argv, FILE *out, FILE *err)
{
    const char *path = NULL;
    int json = 0, regen = 0, options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) options_done = 1;
            else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { cli_matrix_help(out); return CLI_EXIT_OK; }
            else if (strcmp(a, "--json") == 0) json = 1;
            else if (strcmp(a, "--regen") == 0) regen = 1;
            else return matrix_usage_error(err, "unknown option", a);
        } else if (path) {
            return matrix_usage_error(err, "more than one FILE:", a);
        } else {
            path = a;
        }
    }
    if (!path) return matrix_usage_error(err, "missing FILE (\"-\" reads standard input)", NULL);
    if (json && regen) return matrix_usage_error(err, "--json and --regen exclude each other", NULL);

    input in;
    int status = input_load(&in, path, err);
    if (status == 0) {
        mat_program p;
        mat_program_init(&p, &in.store);
        recog_program(&p, &in.system);
        strbuf b;
        strbuf_init(&b);
        if (json) mat_print_json(&b, &p);
        else if (regen) recog_regen(&b, &p);
        else mat_print(&b, &p);
        status = cli_write(out, err, &b);
        strbuf_clear(&b);
        mat_program_clear(&p);
    }
    input_clear(&in);
    return status;
}
