/* Shows ThreadSanitizer the slow paths of Swift's Synchronization.Mutex on
   Linux, for `make test-sanitized` (preloaded into the TSan test run only; built
   with the Swift toolchain's clang for its `swiftcall` convention).

   Swift 6.3's Mutex (stdlib/public/Synchronization/Mutex/LinuxImpl.swift) has
   two halves. Its fast paths, `_lock`, `_tryLock` and `_unlock`, are
   @_alwaysEmitIntoClient: inlined into our code and instrumented, so TSan sees
   their acquiring and releasing compare-exchange. Their slow paths,
   `_lockSlow`, `_tryLockSlow` and `_unlockSlow`, are compiled into
   libswiftSynchronization.so, which is not instrumented: a lock taken there
   (a compare-exchange after spinning, or FUTEX_LOCK_PI, where the kernel hands
   the lock over and no atomic runs in user space at all) and a lock released
   there (FUTEX_UNLOCK_PI when a waiter is queued) leave no trace in TSan. Two
   critical sections joined only by such a hand-over look unordered, and TSan
   reports their accesses as races although the mutex orders them.

   Our code calls the three slow paths through the PLT (they are @usableFromInline
   and exported), so this library defines them ahead of the toolchain's, calls
   the real ones and adds what they do to TSan's model of the lock word (the same
   address the inlined fast paths synchronise on):
     _lockSlow:    the real one, then __tsan_acquire(word);
     _tryLockSlow: the real one, then __tsan_acquire(word) if it took the lock;
     _unlockSlow:  __tsan_release(word), then the real one.
   Nothing else changes: the lock word, the futex calls and their order are the
   toolchain's. In a process without TSan (the swift driver) they only forward.

   Upstream, Swift's main branch replaced the PI futex with a plain futex
   (swiftlang/swift#88523, issue #88440). Whether a newer toolchain still needs
   this depends on where its slow paths live; if their names change, nothing
   calls these and TSan's reports come back, so the run fails, not hides. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SWIFT_SELF __attribute__((swift_context)) /* self: r13 on x86_64, x20 on arm64 */
#define SWIFTCALL __attribute__((swiftcall))

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

typedef void (*tsan_fn)(void *);
typedef SWIFTCALL void (*lock_slow_fn)(uint32_t, void *SWIFT_SELF);
typedef SWIFTCALL bool (*try_lock_slow_fn)(void *SWIFT_SELF);
typedef SWIFTCALL void (*unlock_slow_fn)(void *SWIFT_SELF);

static tsan_fn tsan_acquire, tsan_release;
static lock_slow_fn real_lock_slow;
static try_lock_slow_fn real_try_lock_slow;
static unlock_slow_fn real_unlock_slow;

/* The toolchain's function; only called where the program uses a Mutex, so
   the library that defines it is loaded. */
static void *next(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "tsan_mutex_slow_paths: %s not found\n", name);
        abort();
    }
    return f;
}

__attribute__((constructor)) static void tsan_mutex_slow_paths_init(void) {
    tsan_acquire = (tsan_fn)dlsym(RTLD_DEFAULT, "__tsan_acquire");
    tsan_release = (tsan_fn)dlsym(RTLD_DEFAULT, "__tsan_release");
    /* The programs the instrumented one starts (jobs, PostgreSQL) need nothing
       of this; the swift driver, not instrumented, passes it on to it. */
    if (tsan_acquire && tsan_release) unsetenv("LD_PRELOAD");
}

SWIFTCALL void lock_slow(uint32_t self_id, void *SWIFT_SELF word) __asm__(LOCK_SLOW);
SWIFTCALL void lock_slow(uint32_t self_id, void *SWIFT_SELF word) {
    if (!real_lock_slow) real_lock_slow = (lock_slow_fn)next(LOCK_SLOW);
    real_lock_slow(self_id, word);
    if (tsan_acquire) tsan_acquire(word);
}

SWIFTCALL bool try_lock_slow(void *SWIFT_SELF word) __asm__(TRY_LOCK_SLOW);
SWIFTCALL bool try_lock_slow(void *SWIFT_SELF word) {
    if (!real_try_lock_slow) real_try_lock_slow = (try_lock_slow_fn)next(TRY_LOCK_SLOW);
    bool locked = real_try_lock_slow(word);
    if (locked && tsan_acquire) tsan_acquire(word);
    return locked;
}

SWIFTCALL void unlock_slow(void *SWIFT_SELF word) __asm__(UNLOCK_SLOW);
SWIFTCALL void unlock_slow(void *SWIFT_SELF word) {
    if (!real_unlock_slow) real_unlock_slow = (unlock_slow_fn)next(UNLOCK_SLOW);
    if (tsan_release) tsan_release(word);
    real_unlock_slow(word);
}
