#include <cblas.h>

// LAPACK's Cholesky factorization and inverse from the same library (Debian's libopenblas
// exports them; it ships no lapack.h). Column-major, Fortran calling convention.
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
