// Image decoding for init images: libpng's simplified API (Debian's libpng-dev) and
// libjpeg-turbo's TurboJPEG API (Debian's libturbojpeg0-dev). Both report errors by
// return value, never by longjmp, so Swift can call them directly.
#include <png.h>
#include <turbojpeg.h>
