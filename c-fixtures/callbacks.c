/* Functions that call back into their caller, including from a thread of their own. */
#include "ffikit_fixtures.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

int compare_ints_ascending(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void map_ints(int *values, size_t count, int_map_fn f) {
    for (size_t k = 0; k < count; k++) values[k] = f(values[k]);
}

void sort_ints(int *values, size_t count, compare_fn compare) {
    qsort(values, count, sizeof *values, compare);
}

struct thread_call {
    thread_fn f;
    int value;
    void *user_data;
    int result;
};

static void *run_thread_call(void *arg) {
    struct thread_call *call = arg;
    call->result = call->f(call->value, call->user_data);
    return NULL;
}

int call_on_new_thread(thread_fn f, int value, void *user_data) {
    struct thread_call call = {f, value, user_data, 0};
    pthread_t thread;
    if (pthread_create(&thread, NULL, run_thread_call, &call) != 0) return INT_MIN;
    pthread_join(thread, NULL);
    return call.result;
}

struct point transform_point(struct point p, point_fn f) {
    struct point q = f(p);
    /* Proves the result came back through C: shift it by one. */
    q.x += 1;
    q.y += 1;
    return q;
}
