/* C that ends or stalls its process: the faults isolated calls turn into errors. */
#include "ffikit_fixtures.h"

#include <stdlib.h>
#include <string.h>

/* Read at run time, so the compiler cannot see the NULL and emit a trap instead. */
static int *volatile nowhere;

int ffikit_fault_segfault(void) {
    *nowhere = 42;
    return *nowhere;
}

int ffikit_fault_abort(void) {
    abort();
}

int ffikit_fault_exit(int status) {
    exit(status);
}

int ffikit_fault_spin(void) {
    volatile unsigned long turns = 0;
    for (;;) turns++;
}

void *ffikit_fault_leak(size_t bytes) {
    char *block = malloc(bytes);
    if (!block) abort();
    memset(block, 1, bytes);
    return block;
}
