/*
 * spdk-io metrics: an HTTP endpoint serving the counters of a running app in
 * Prometheus' text exposition format (version 0.0.4), for monitoring systems.
 * spio_tgt starts it with `--metrics HOST:PORT`; it is off unless started.
 *
 *     GET /metrics  ->  200, text/plain; version=0.0.4
 *
 *     # HELP spio_bdev_read_ops_total Read I/Os completed successfully.
 *     # TYPE spio_bdev_read_ops_total counter
 *     spio_bdev_read_ops_total{bdev="Malloc0"} 1234
 *
 * Families: bdev counters (operations, bytes and latency ticks per I/O type,
 * errors; label bdev), thread counters (busy and idle ticks; labels thread,
 * thread_id) and pollers (gauge; label type), reactor counters (busy, idle
 * and sleep ticks, sleeps, events; label lcore) and gauges (threads,
 * in_interrupt), and spio_tick_rate_hz to turn ticks into seconds.
 * docs/ has the full list.
 *
 * Each scrape gathers the counters with the RPC methods bdev_get_iostat,
 * thread_get_stats and framework_get_reactors called in-process
 * (spio_rpc_call), so it visits the threads and channels by message exactly
 * as those methods do and never blocks a reactor. A method that fails leaves
 * its families out and adds a comment line naming it.
 *
 * The server: one non-blocking TCP listener and its connections in an epoll
 * set, served by a poller on the thread that started it, which sleeps on that
 * epoll fd (an idle app stays asleep). HTTP/1.0 and 1.1, one request per
 * connection (the answer says Connection: close). A request line and headers
 * over SPIO_METRICS_MAX_REQUEST_SIZE bytes get 431; a malformed request 400;
 * a method other than GET or HEAD 405; a path other than /metrics 404; a
 * version other than HTTP/1.x 505. A client that has not sent its request, or
 * taken the answer, within SPIO_METRICS_IO_TIMEOUT_US is disconnected; at
 * most SPIO_METRICS_MAX_CONNS connections are served at once (more are
 * accepted and closed at once).
 */
#ifndef SPIO_METRICS_H
#define SPIO_METRICS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Largest request line plus headers accepted, in bytes. */
#define SPIO_METRICS_MAX_REQUEST_SIZE 8192u

/** Time a client has to send its request and to take the answer. */
#define SPIO_METRICS_IO_TIMEOUT_US (10ull * 1000 * 1000)

/** Connections served at once. */
#define SPIO_METRICS_MAX_CONNS 16u

/**
 * Check a listen address without using it: "HOST:PORT" where HOST is an IPv4
 * literal ("127.0.0.1", "0.0.0.0" for every interface) or a bracketed IPv6
 * literal ("[::1]"), and PORT a decimal number 0-65535 (0: any free port).
 *
 * \param errbuf receives why the address is refused (may be NULL when errlen is 0).
 * \return 0; -EINVAL for a malformed address. Any thread.
 */
int spio_metrics_check_addr(const char *addr, char *errbuf, size_t errlen);

/**
 * Start the metrics server on `addr` (spio_metrics_check_addr's syntax),
 * served by a poller on the CURRENT spio_thread, which must be the thread of
 * the RPC server when one runs (the app thread in an app): the scrapes call
 * the RPC methods in-process there.
 *
 * \return 0; -EINVAL (malformed addr, logged; not on a spio thread);
 *         -EALREADY if the server runs; -EADDRINUSE when the address is taken;
 *         -EADDRNOTAVAIL when no local interface has it; -ENOMEM; another
 *         -errno of socket()/bind()/listen()/epoll. Every failure is logged
 *         with the address.
 */
int spio_metrics_server_start(const char *addr);

/**
 * Stop the server: close the listener and every connection. Scrapes still
 * gathering finish quietly (their answers are dropped). On the server's
 * thread; no-op when it does not run. Stop it before that thread exits: its
 * pollers keep the thread from finishing the exit.
 */
void spio_metrics_server_stop(void);

/**
 * The address the server listens on, with the port actually bound (useful
 * after port 0), as "HOST:PORT" into `buf`.
 * \return 0; -ENOTCONN when no server runs; -EINVAL (NULL buf); -ENOSPC if
 *         `len` is too small. Any thread, not racing start or stop.
 */
int spio_metrics_server_get_addr(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_METRICS_H */
