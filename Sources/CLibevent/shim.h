#ifndef RINGCACHE_CLIBEVENT_SHIM_H
#define RINGCACHE_CLIBEVENT_SHIM_H
#include <event2/event.h>
#include <event2/thread.h>
#include <sys/eventfd.h>
#include <malloc.h>
#endif
