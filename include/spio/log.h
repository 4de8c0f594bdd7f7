/*
 * spdk-io: levelled logging with per-component debug flags.
 *
 * Five levels (error, warn, notice, info, debug; the default is notice). Messages at or above the
 * print level go to the sink (stderr by default). Debug messages are tied to a
 * component flag ("thread", "bdev", ...) and print only when the level is
 * debug AND the flag is on; they always carry file:line. Each line starts with
 * a local-time timestamp unless timestamps are switched off.
 *
 * Like SPDK, there is a second, independent threshold: the syslog level.
 * Messages at or above it also go to syslog(3), facility LOG_LOCAL7, without
 * the timestamp, whatever the print level and sink. The library starts with
 * it SPIO_LOG_DISABLED (it does not write to the system log unasked); the
 * app framework (spio_app_start) sets SPDK's NOTICE unless the program set
 * a level before, so spio_tgt sends what spdk_tgt sends. SPDK's RPCs map onto
 * these: log_set_print_level is spio_log_set_level, log_set_level is
 * spio_log_set_syslog_level.
 *
 * The environment variable SPIO_LOG sets both when the library is loaded:
 * SPIO_LOG=debug:thread,bdev  or  SPIO_LOG=warn  (a flag list alone,
 * SPIO_LOG=thread, implies debug). Flags named there that a program registers
 * later (its own components) are switched on as they register. Settings made
 * from code afterwards override the environment.
 *
 * Thread rules: every function may be called from any thread. Changing the
 * level or flags while other threads log is safe (relaxed atomics); a message
 * is never torn across lines because each is written with one call.
 */
#ifndef SPIO_LOG_H
#define SPIO_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum spio_log_level {
	SPIO_LOG_DISABLED = -1,
	SPIO_LOG_ERROR = 0,
	SPIO_LOG_WARN,
	SPIO_LOG_NOTICE,
	SPIO_LOG_INFO,
	SPIO_LOG_DEBUG,
};

/** A component's debug flag; define one per component with SPIO_LOG_REGISTER_COMPONENT. */
struct spio_log_flag {
	const char *name;
	bool enabled;
	struct spio_log_flag *next;
};

/**
 * Receives each formatted line (without trailing newline). Replaces stderr
 * output; called on the logging thread, possibly concurrently from several.
 */
typedef void (*spio_log_sink_fn)(enum spio_log_level level, const char *line, void *ctx);

/**
 * Set the print level: messages at `level` or more severe print
 * (SPIO_LOG_DISABLED prints nothing). Returns 0 or -EINVAL for a level out of
 * range. Takes effect for messages started after the call.
 */
int spio_log_set_level(enum spio_log_level level);

/** The current print level (SPIO_LOG_NOTICE unless changed). */
enum spio_log_level spio_log_get_level(void);

/**
 * Set the syslog level: messages at `level` or more severe are also sent to
 * syslog(3) (LOG_LOCAL7, priorities LOG_ERR ... LOG_DEBUG), independently of
 * the print level; debug messages still need their flag. SPIO_LOG_DISABLED
 * (the default) sends nothing. openlog() is left to the program: without it,
 * the C library's default ident (the program name) is used. Any thread.
 *
 * \return 0, or -EINVAL for a level out of range (nothing changed).
 */
int spio_log_set_syslog_level(enum spio_log_level level);

/** The current syslog level (SPIO_LOG_DISABLED unless changed). Any thread. */
enum spio_log_level spio_log_get_syslog_level(void);

/**
 * Switch the "[YYYY-MM-DD HH:MM:SS.uuuuuu] " prefix of every line on (the
 * default) or off, for the sink and stderr alike (syslog lines never carry
 * it). Any thread; takes effect for messages started after the call.
 */
void spio_log_enable_timestamps(bool enabled);

/** Whether lines carry the timestamp prefix (true unless switched off). Any thread. */
bool spio_log_timestamps_enabled(void);

/**
 * Parse a level name, case-insensitive: "error", "warn"/"warning", "notice",
 * "info", "debug", "disabled"/"none". Returns the level (SPIO_LOG_DISABLED is
 * -1, so compare with it rather than with 0) or -EINVAL for NULL or an unknown
 * name.
 */
int spio_log_level_from_string(const char *name);

/** Name of a level ("error", ..., "disabled"), or "unknown"; a static string. */
const char *spio_log_level_to_string(enum spio_log_level level);

/**
 * Enable or disable a component's debug flag by name; "all" names every flag
 * registered now (not those registered later). Debug messages print only if
 * the level is also SPIO_LOG_DEBUG.
 *
 * \return 0, or -ENOENT if no component of that name is registered, -EINVAL
 *         for NULL or "".
 */
int spio_log_set_flag(const char *name, bool enabled);

/** Whether a component's debug flag is on; false for unknown names and NULL. */
bool spio_log_get_flag(const char *name);

/** Called by spio_log_foreach_flag() with each flag's name (static) and state. */
typedef void (*spio_log_flag_fn)(const char *name, bool enabled, void *ctx);

/**
 * Call `fn` once for every registered flag, in name order (strcmp), with its
 * state at that moment. Any thread. The flag list is locked while `fn` runs,
 * so `fn` must not call spio_log_set_flag(), spio_log_get_flag(),
 * spio_log_register_flag(), spio_log_apply_spec(), spio_log_init_from_env()
 * or this function (it would deadlock); logging from `fn` is fine. A NULL
 * `fn` does nothing.
 */
void spio_log_foreach_flag(spio_log_flag_fn fn, void *ctx);

/**
 * Apply a spec in SPIO_LOG syntax: "level", "level:flag,flag" or "flag,flag"
 * (a flag list alone sets the level to debug). Unknown flags are reported
 * with -ENOENT after the known ones are applied; they are also remembered,
 * and switched on if a component of that name registers later. The string
 * is not kept.
 *
 * \return 0, -EINVAL (NULL, empty, 512 characters or more, malformed;
 *         nothing applied) or -ENOENT.
 */
int spio_log_apply_spec(const char *spec);

/**
 * Apply $SPIO_LOG again if set (it is applied once at load time already), as
 * spio_log_apply_spec(). Returns 0 when it is unset or empty, else what
 * spio_log_apply_spec() returns (a malformed value is also reported on
 * stderr).
 */
int spio_log_init_from_env(void);

/**
 * Route messages to `fn` instead of stderr; NULL restores stderr. `ctx` is
 * handed to every call of `fn` and must stay valid until the sink is
 * replaced. When this returns, no thread is still inside the previous sink,
 * so its context may be freed. Must not be called from inside a sink (it
 * would deadlock).
 */
void spio_log_set_sink(spio_log_sink_fn fn, void *ctx);

/**
 * Register a flag (done by SPIO_LOG_REGISTER_COMPONENT at load time). The flag
 * is linked into the library's list and never removed, so it must live as
 * long as the process (a global); registering it twice does nothing. NULL,
 * or a flag without a name, is ignored.
 */
void spio_log_register_flag(struct spio_log_flag *flag);

/**
 * Backend of the macros below: format one message and hand it to the sink if
 * `level` is at or above the print level, and to syslog if it is at or above
 * the syslog level (for debug messages, only if `flag` is on). `flag` is NULL
 * except for debug messages. The line is cut at 2 KiB; one trailing newline of
 * `fmt` is dropped (the sink adds its own); any other control character of
 * the formatted message is escaped (`\n`, `\r`, `\xNN`; tabs and UTF-8 are
 * kept), so a file name from a client cannot forge log lines. Nothing is kept
 * after the call.
 * NULL fmt, file or func prints nothing.
 */
void spio_log(enum spio_log_level level, const struct spio_log_flag *flag, const char *file,
	      int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/** va_list form of spio_log(); same rules. `ap` is consumed as by vprintf. */
void spio_vlog(enum spio_log_level level, const struct spio_log_flag *flag, const char *file,
	       int line, const char *func, const char *fmt, va_list ap);

/** Defines the debug flag `name` (an identifier, e.g. thread) for SPIO_DEBUGLOG. */
#define SPIO_LOG_REGISTER_COMPONENT(name)                                            \
	struct spio_log_flag SPIO_LOG_FLAG_##name = {#name, false, NULL};            \
	__attribute__((constructor(150))) static void spio_log_register_##name(void) \
	{                                                                            \
		spio_log_register_flag(&SPIO_LOG_FLAG_##name);                       \
	}

#define SPIO_ERRLOG(...) spio_log(SPIO_LOG_ERROR, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define SPIO_WARNLOG(...) spio_log(SPIO_LOG_WARN, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define SPIO_NOTICELOG(...) \
	spio_log(SPIO_LOG_NOTICE, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define SPIO_INFOLOG(...) spio_log(SPIO_LOG_INFO, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)

/** Debug message of component `name`; costs one load and branch when the flag is off. */
#define SPIO_DEBUGLOG(name, ...)                                                             \
	do {                                                                                 \
		extern struct spio_log_flag SPIO_LOG_FLAG_##name;                            \
		if (spio_unlikely(                                                           \
			__atomic_load_n(&SPIO_LOG_FLAG_##name.enabled, __ATOMIC_RELAXED))) { \
			spio_log(SPIO_LOG_DEBUG, &SPIO_LOG_FLAG_##name, __FILE__, __LINE__,  \
				 __func__, __VA_ARGS__);                                     \
		}                                                                            \
	} while (0)

#ifndef spio_unlikely
#define spio_unlikely(x) __builtin_expect(!!(x), 0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* SPIO_LOG_H */
