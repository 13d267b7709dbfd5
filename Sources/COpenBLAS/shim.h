// Declarations only: SMMKernels opens libopenblas with dlopen after choosing OPENBLAS_CORETYPE,
// so nothing here is linked at build time.
#include <cblas.h>
