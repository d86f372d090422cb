#ifndef CEPOLL_SHIM_H
#define CEPOLL_SHIM_H
/* Linux's epoll and eventfd, which Glibc's Swift module leaves out: the
   WebSocket I/O loop waits on them, and the PostgreSQL cluster thread is
   woken through an eventfd. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
