// zlib from Debian's zlib1g-dev: PNG's DEFLATE stream and its checksums.
#include <zlib.h>
