// OpenBLAS's CBLAS interface, from Debian's libopenblas-dev (multiarch include path).
#include <cblas.h>
