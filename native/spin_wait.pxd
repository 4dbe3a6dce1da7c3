# Waits without the GIL that spin before they sleep, in verbatim C (Cython has no atomics).
#
# The signal of a forked trial state (caudal.solver.workspace.ForkPoint) is one int32
# that the head's thread writes once, after the basis it publishes, and the walk's
# thread waits on. The store releases and the load acquires, so a walk that sees the
# signal also sees the basis bytes written before it. The wait spins first (the head
# is a solve or two away, tens to hundreds of microseconds, about what a sleeping
# thread takes to wake on a virtual machine), then yields the core, then sleeps in
# short naps, so that a head delayed on an oversubscribed machine does not cost a core.
#
# counters_spin is the thread pool's (caudal.parallel.threads): a worker spins on the
# count of jobs posted to it, the caller on the count of reports, for a bounded time,
# before they block on their queue, so that a job or a report that comes within that
# time does not wait for a sleeping thread to wake. A worker that a job woke then needs the GIL;
# if the caller still holds it (preparing its own item), the worker would sleep on it and take
# tens of microseconds to wake when the caller lets go. So it first spins, briefly, until some
# thread is in a section that leaves the GIL free (gil_left_free: a kernel solving, the caller
# spinning for reports), and then takes a free GIL.

from libc.stdint cimport int32_t, int64_t


cdef extern from *:
    """
    #include <sched.h>
    #include <stdint.h>
    #include <time.h>

    #define FORK_SPIN_NS 300000L   /* spin this long first */
    #define FORK_YIELD_NS 3000000L /* then yield the core until this long */
    #define FORK_NAP_NS 50000L     /* then sleep this long between looks */

    static inline void fork_signal_store(int32_t *signal, int32_t value) {
        __atomic_store_n(signal, value, __ATOMIC_RELEASE);
    }

    static inline int32_t fork_signal_load(const int32_t *signal) {
        return __atomic_load_n(signal, __ATOMIC_ACQUIRE);
    }

    static inline void spin_pause(void) {
    #if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
    #elif defined(__aarch64__)
        __asm__ __volatile__("yield");
    #endif
    }

    static inline int64_t spin_clock_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000L + ts.tv_nsec;
    }

    /* Wait until *signal is no longer `pending`; returns the value it took. */
    static inline int32_t fork_signal_wait(const int32_t *signal, int32_t pending) {
        int32_t value = fork_signal_load(signal);
        if (value != pending) return value;
        const int64_t start = spin_clock_ns();
        const struct timespec nap = {0, FORK_NAP_NS};
        unsigned spins = 0;
        while ((value = fork_signal_load(signal)) == pending) {
            spin_pause();
            if (++spins % 64) continue; /* read the clock now and then only */
            int64_t waited = spin_clock_ns() - start;
            if (waited > FORK_YIELD_NS) nanosleep(&nap, NULL);
            else if (waited > FORK_SPIN_NS) sched_yield();
        }
        return value;
    }

    /* Threads inside a GIL-free section that leaves the GIL untouched for a while (a kernel solving,
       the caller spinning for reports). A hint only: a worker woken by a job waits for it to be
       non-zero before it takes the GIL, so it takes a free GIL instead of sleeping on a held one. */
    static int32_t gil_left_free = 0;

    static inline void gil_left_free_enter(void) { __atomic_add_fetch(&gil_left_free, 1, __ATOMIC_RELEASE); }
    static inline void gil_left_free_leave(void) { __atomic_sub_fetch(&gil_left_free, 1, __ATOMIC_RELEASE); }

    /* Spin until another thread has left the GIL free (gil_left_free > 0), for at most `limit_ns`. */
    static inline void gil_free_wait(int64_t limit_ns) {
        if (__atomic_load_n(&gil_left_free, __ATOMIC_ACQUIRE) > 0 || limit_ns <= 0) return;
        const int64_t start = spin_clock_ns();
        unsigned spins = 0;
        while (__atomic_load_n(&gil_left_free, __ATOMIC_ACQUIRE) == 0) {
            spin_pause();
            if (++spins % 64 == 0 && spin_clock_ns() - start > limit_ns) break;
        }
    }

    /* Spin while the sum of counters[0..n) is `total`, for at most `limit_ns`; returns the sum read last. */
    static inline int64_t counters_spin(const int64_t *counters, Py_ssize_t n, int64_t total, int64_t limit_ns) {
        int64_t sum = 0;
        Py_ssize_t i;
        for (i = 0; i < n; i++) sum += __atomic_load_n(&counters[i], __ATOMIC_ACQUIRE);
        if (sum != total || limit_ns <= 0) return sum;
        const int64_t start = spin_clock_ns();
        unsigned spins = 0;
        do {
            spin_pause();
            if (++spins % 64 == 0 && spin_clock_ns() - start > limit_ns) break;
            sum = 0;
            for (i = 0; i < n; i++) sum += __atomic_load_n(&counters[i], __ATOMIC_ACQUIRE);
        } while (sum == total);
        return sum;
    }
    """
    void fork_signal_store(int32_t* signal, int32_t value) noexcept nogil
    int32_t fork_signal_load(const int32_t* signal) noexcept nogil
    int32_t fork_signal_wait(const int32_t* signal, int32_t pending) noexcept nogil
    int64_t counters_spin(const int64_t* counters, Py_ssize_t n, int64_t total, int64_t limit_ns) noexcept nogil
    void gil_left_free_enter() noexcept nogil
    void gil_left_free_leave() noexcept nogil
    void gil_free_wait(int64_t limit_ns) noexcept nogil
