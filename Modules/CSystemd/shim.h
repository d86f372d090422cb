#ifndef CSYSTEMD_SHIM_H
#define CSYSTEMD_SHIM_H
/* Only the service-manager protocol (sd-daemon): readiness and status
   notifications, the watchdog, and socket activation. */
#include <systemd/sd-daemon.h>
#endif
