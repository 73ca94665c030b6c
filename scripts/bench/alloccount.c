// LD_PRELOAD malloc counter for scripts/bench/alloc-count.sh (compiled into /tmp, never committed
// as a binary). Counts every malloc, calloc, realloc, aligned allocation and free in the process.
// The counters live in a file named by $ALLOC_COUNT_FILE, mapped shared, so another process can
// read them at any moment (six little-endian uint64: malloc calloc realloc memalign free bytes)
// without signals or cooperation from the program being measured.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

struct counters {
    uint64_t malloc, calloc, realloc, memalign, free, bytes;
};

static struct counters before_setup;
static struct counters *counts = &before_setup;

__attribute__((constructor)) static void setup(void) {
    const char *path = getenv("ALLOC_COUNT_FILE");
    if (path == NULL) return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    if (ftruncate(fd, 4096) != 0) { close(fd); return; }
    void *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (shared != MAP_FAILED) counts = shared;
}

#define BUMP(field, n) __atomic_fetch_add(&counts->field, (n), __ATOMIC_RELAXED)

void *malloc(size_t size) {
    BUMP(malloc, 1);
    BUMP(bytes, size);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    BUMP(calloc, 1);
    BUMP(bytes, count * size);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    BUMP(realloc, 1);
    BUMP(bytes, size);
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    BUMP(memalign, 1);
    BUMP(bytes, size);
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    void *pointer = memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *out = pointer;
    return 0;
}

void free(void *pointer) {
    if (pointer != NULL) BUMP(free, 1);
    __libc_free(pointer);
}
