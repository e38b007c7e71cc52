/* The median of a list of doubles, shared by the statistics of detection
 * and of the matte fit. */
#include <stdlib.h>

#include "unmark/common.h"

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double um_median_in_place(double *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof(double), compare_double);
    return v[n / 2];
}
