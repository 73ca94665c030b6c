#ifndef RINGCACHE_CLIBEVENT_SHIM_H
#define RINGCACHE_CLIBEVENT_SHIM_H
/* System headers first: libevent's event-config.h defines _GNU_SOURCE, and a system header
   first read after that would define its types (fd_set) differently from Swift's Glibc module,
   which clang rejects in a clean build. */
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <sys/types.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <malloc.h>
#include <event2/event.h>
#include <event2/thread.h>
#endif
