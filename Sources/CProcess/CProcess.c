/* The job-spawning C of the project (include/CProcess.h) is a C target, not a
   system-library module: SwiftPM does not track a system-library module's
   header, so an edit to the spawn code there left ProcessRunner compiled with
   the old copy of it until something else rebuilt ProcessRunner. A C target's
   header is a dependency of this file, and a change to it rebuilds its users. */
#include "CProcess.h"
