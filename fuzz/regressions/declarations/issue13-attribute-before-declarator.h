typedef unsigned long size_t;
typedef void *(__attribute__((alloc_size(1))) *xmlMallocFunc)(size_t size);
