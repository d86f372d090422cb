#ifndef CEPOLL_SHIM_H
#define CEPOLL_SHIM_H
/* Linux's epoll and eventfd, which Glibc's Swift module leaves out: the
   WebSocket I/O loop waits on them. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
