/* errno and global variables. */
#include "ffikit_fixtures.h"

#include <errno.h>

int fixture_counter = 0;
const char *fixture_version = "ffikit-fixtures 1.0";
struct point fixture_origin = {3, -4};

/* An array other files know only as `extern int fixture_primes[];` (no length): the
   declaration CFFI's users write for tables. Not in the header: the tests declare it. */
int fixture_primes[5] = {2, 3, 5, 7, 11};
int *fixture_primes_address(void);
int *fixture_primes_address(void) {
    return fixture_primes;
}

int fail_with_errno(int code) {
    errno = code;
    return -1;
}

int bump_counter(void) {
    return ++fixture_counter;
}
