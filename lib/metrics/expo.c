/*
 * Prometheus text exposition (format 0.0.4) of what a scrape gathered: the
 * results of bdev_get_iostat, thread_get_stats and framework_get_reactors,
 * turned into families by the tables below. All samples of a family follow
 * its # HELP and # TYPE lines, as the format requires.
 */
#include <inttypes.h>
#include <string.h>

#include "metrics_internal.h"
#include "spio/util.h"

/* One sample per item of a result's array: the item's member `key` under family `name`. */
struct expo_field {
	const char *name;
	const char *type; /* counter or gauge */
	const char *help;
	const char *key;
	const char *extra_label; /* appended to the item's labels ("type=\"active\""), or NULL */
};

/* How an item of a source is named in labels. */
typedef void (*expo_labels_fn)(struct metrics_buf *out, const struct spio_json_val *item);

static const char *const g_methods[METRICS_SRC_COUNT] = {
    [METRICS_SRC_BDEV_IOSTAT] = "bdev_get_iostat",
    [METRICS_SRC_THREAD_STATS] = "thread_get_stats",
    [METRICS_SRC_REACTORS] = "framework_get_reactors",
};

const char *metrics_source_method(enum metrics_source src)
{
	return (unsigned)src < METRICS_SRC_COUNT ? g_methods[src] : NULL;
}

static const struct expo_field g_bdev_fields[] = {
    {"spio_bdev_read_ops_total", "counter", "Read I/Os completed successfully.", "num_read_ops",
     NULL},
    {"spio_bdev_read_bytes_total", "counter", "Bytes read.", "bytes_read", NULL},
    {"spio_bdev_read_latency_ticks_total", "counter",
     "Sum of the latencies of the reads, in ticks (spio_tick_rate_hz per second).",
     "read_latency_ticks", NULL},
    {"spio_bdev_write_ops_total", "counter", "Write I/Os completed successfully.", "num_write_ops",
     NULL},
    {"spio_bdev_write_bytes_total", "counter", "Bytes written.", "bytes_written", NULL},
    {"spio_bdev_write_latency_ticks_total", "counter",
     "Sum of the latencies of the writes, in ticks (spio_tick_rate_hz per second).",
     "write_latency_ticks", NULL},
    {"spio_bdev_unmap_ops_total", "counter", "Unmap I/Os completed successfully.", "num_unmap_ops",
     NULL},
    {"spio_bdev_unmap_bytes_total", "counter", "Bytes unmapped.", "bytes_unmapped", NULL},
    {"spio_bdev_unmap_latency_ticks_total", "counter",
     "Sum of the latencies of the unmaps, in ticks (spio_tick_rate_hz per second).",
     "unmap_latency_ticks", NULL},
    {"spio_bdev_other_ops_total", "counter",
     "Other I/Os (flush, reset, ...) completed successfully.", "num_other_ops", NULL},
    {"spio_bdev_io_errors_total", "counter", "I/Os completed with an error.", "num_io_errors",
     NULL},
};

static const struct expo_field g_thread_fields[] = {
    {"spio_thread_busy_ticks_total", "counter",
     "Ticks the thread spent in pollers and messages that did work.", "busy", NULL},
    {"spio_thread_idle_ticks_total", "counter", "Ticks the thread was polled and found no work.",
     "idle", NULL},
    {"spio_thread_pollers", "gauge", "Pollers registered on the thread, by type.",
     "active_pollers_count", "type=\"active\""},
    {"spio_thread_pollers", "gauge", NULL, "timed_pollers_count", "type=\"timed\""},
    {"spio_thread_pollers", "gauge", NULL, "paused_pollers_count", "type=\"paused\""},
};

static const struct expo_field g_reactor_fields[] = {
    {"spio_reactor_busy_ticks_total", "counter", "Ticks the reactor's threads did work.", "busy",
     NULL},
    {"spio_reactor_idle_ticks_total", "counter",
     "Ticks the reactor polled its threads without finding work.", "idle", NULL},
    {"spio_reactor_sleep_ticks_total", "counter", "Ticks the reactor slept (adaptive idle).",
     "sleep", NULL},
    {"spio_reactor_sleeps_total", "counter", "Times the reactor went to sleep.", "sleep_count",
     NULL},
    {"spio_reactor_events_total", "counter", "Events the reactor ran.", "event_count", NULL},
    {"spio_reactor_threads", "gauge", "spio_threads on the reactor.", "lw_threads", NULL},
    {"spio_reactor_in_interrupt", "gauge", "1 while the reactor is in interrupt mode.",
     "in_interrupt", NULL},
};

void metrics_expo_label_value(struct metrics_buf *out, const char *val)
{
	const char *p = val, *run = val;

	for (; *p != '\0'; p++) {
		const char *esc = *p == '\\'   ? "\\\\"
				  : *p == '"'  ? "\\\""
				  : *p == '\n' ? "\\n"
					       : NULL;

		if (esc != NULL) {
			metrics_buf_append(out, run, (size_t)(p - run));
			metrics_buf_append(out, esc, 2);
			run = p + 1;
		}
	}
	metrics_buf_append(out, run, (size_t)(p - run));
}

/*
 * The sample value of `v`: a number as it is, true/false as 1/0, an array
 * as its length. False for anything else (the sample is left out).
 */
static bool write_value(struct metrics_buf *out, const struct spio_json_val *v)
{
	int64_t i;
	double d;
	bool b;

	if (spio_json_integer(v, &i) == 0) {
		metrics_buf_printf(out, "%" PRId64, i);
	} else if (spio_json_number(v, &d) == 0) {
		metrics_buf_printf(out, "%.17g", d);
	} else if (spio_json_bool(v, &b) == 0) {
		metrics_buf_append(out, b ? "1" : "0", 1);
	} else if (spio_json_is_array(v)) {
		metrics_buf_printf(out, "%zu", spio_json_array_size(v));
	} else {
		return false;
	}
	return true;
}

/* label="string member", or label="integer member" */
static void write_label(struct metrics_buf *out, const char *label,
			const struct spio_json_val *item, const char *key)
{
	const struct spio_json_val *v = spio_json_object_get(item, key);
	const char *s = spio_json_string(v);
	int64_t i;

	metrics_buf_printf(out, "%s=\"", label);
	if (s != NULL) {
		metrics_expo_label_value(out, s);
	} else if (spio_json_integer(v, &i) == 0) {
		metrics_buf_printf(out, "%" PRId64, i);
	}
	metrics_buf_append(out, "\"", 1);
}

static void bdev_labels(struct metrics_buf *out, const struct spio_json_val *item)
{
	write_label(out, "bdev", item, "name");
}

/* Thread names need not be unique: the id keeps the series apart. */
static void thread_labels(struct metrics_buf *out, const struct spio_json_val *item)
{
	write_label(out, "thread", item, "name");
	metrics_buf_append(out, ",", 1);
	write_label(out, "thread_id", item, "id");
}

static void reactor_labels(struct metrics_buf *out, const struct spio_json_val *item)
{
	write_label(out, "lcore", item, "lcore");
}

static void write_families(struct metrics_buf *out, const struct spio_json_val *items,
			   const struct expo_field *fields, size_t nfields, expo_labels_fn labels)
{
	size_t n = spio_json_array_size(items);

	for (size_t f = 0; f < nfields; f++) {
		const struct expo_field *fd = &fields[f];

		if (fd->help != NULL) {
			metrics_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fd->name, fd->help,
					   fd->name, fd->type);
		}
		for (size_t i = 0; i < n; i++) {
			const struct spio_json_val *item = spio_json_array_get(items, i);
			const struct spio_json_val *v = spio_json_object_get(item, fd->key);
			size_t mark = out->len;

			if (v == NULL) {
				continue;
			}
			metrics_buf_printf(out, "%s{", fd->name);
			labels(out, item);
			if (fd->extra_label != NULL) {
				metrics_buf_printf(out, ",%s", fd->extra_label);
			}
			metrics_buf_append(out, "} ", 2);
			if (!write_value(out, v)) {
				out->len = mark; /* not a number: no sample */
				if (out->data != NULL) {
					out->data[mark] = '\0';
				}
				continue;
			}
			metrics_buf_append(out, "\n", 1);
		}
	}
}

/* One comment line: a message cannot break the format with a newline. */
static void write_failure(struct metrics_buf *out, enum metrics_source src, const char *msg)
{
	metrics_buf_printf(out, "# spio_metrics: %s failed: ", metrics_source_method(src));
	for (const char *p = msg != NULL ? msg : "unknown error"; *p != '\0'; p++) {
		char c = *p == '\n' || *p == '\r' ? ' ' : *p;

		metrics_buf_append(out, &c, 1);
	}
	metrics_buf_append(out, "\n", 1);
}

void metrics_expo_write(struct metrics_buf *out, const struct metrics_sample *s)
{
	const struct spio_json_val *rate = NULL;

	for (int src = 0; src < METRICS_SRC_COUNT && rate == NULL; src++) {
		rate = spio_json_object_get(s->result[src], "tick_rate");
	}
	if (rate != NULL) {
		metrics_buf_printf(out,
				   "# HELP spio_tick_rate_hz Ticks per second of the *_ticks "
				   "counters.\n# TYPE spio_tick_rate_hz gauge\nspio_tick_rate_hz ");
		if (!write_value(out, rate)) {
			metrics_buf_append(out, "NaN", 3);
		}
		metrics_buf_append(out, "\n", 1);
	}
	if (s->result[METRICS_SRC_BDEV_IOSTAT] != NULL) {
		write_families(out,
			       spio_json_object_get(s->result[METRICS_SRC_BDEV_IOSTAT], "bdevs"),
			       g_bdev_fields, SPIO_COUNTOF(g_bdev_fields), bdev_labels);
	}
	if (s->result[METRICS_SRC_THREAD_STATS] != NULL) {
		write_families(out,
			       spio_json_object_get(s->result[METRICS_SRC_THREAD_STATS], "threads"),
			       g_thread_fields, SPIO_COUNTOF(g_thread_fields), thread_labels);
	}
	if (s->result[METRICS_SRC_REACTORS] != NULL) {
		write_families(out,
			       spio_json_object_get(s->result[METRICS_SRC_REACTORS], "reactors"),
			       g_reactor_fields, SPIO_COUNTOF(g_reactor_fields), reactor_labels);
	}
	for (int src = 0; src < METRICS_SRC_COUNT; src++) {
		if (s->result[src] == NULL) {
			write_failure(out, (enum metrics_source)src, s->error[src]);
		}
	}
}
