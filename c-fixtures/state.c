/* errno and global variables. */
#include "ffikit_fixtures.h"

#include <errno.h>

int fixture_counter = 0;
const char *fixture_version = "ffikit-fixtures 1.0";
struct point fixture_origin = {3, -4};

int fail_with_errno(int code) {
    errno = code;
    return -1;
}

int bump_counter(void) {
    return ++fixture_counter;
}
