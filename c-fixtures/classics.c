/* The two functions every FFI tutorial starts with. */
#include "ffikit_fixtures.h"

int gcd(int x, int y) {
    /* Euclid on magnitudes; gcd(0, 0) is 0. */
    unsigned int a = x < 0 ? 0u - (unsigned int)x : (unsigned int)x;
    unsigned int b = y < 0 ? 0u - (unsigned int)y : (unsigned int)y;
    while (b != 0) {
        unsigned int t = a % b;
        a = b;
        b = t;
    }
    return (int)a;
}

double get_pi(void) {
    return 3.14159265358979323846;
}
