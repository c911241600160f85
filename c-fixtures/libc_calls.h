/* The libc functions `ffikit compare` calls (strlen, snprintf, qsort), for API-mode bindings:
 * build.rs runs bindgen on this header with an allowlist of just these three. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
