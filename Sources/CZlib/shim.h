#ifndef LIENTHONG_CZLIB_SHIM_H
#define LIENTHONG_CZLIB_SHIM_H
#include <zlib.h>
#endif
