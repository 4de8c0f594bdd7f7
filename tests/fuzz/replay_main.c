/*
 * main() for a fuzzer built without libFuzzer (gcc, the CI): run
 * LLVMFuzzerTestOneInput over every input file given (directories: every
 * file in them, by name), then over pseudo-random mutations of them, so the
 * ASan/UBSan test builds replay the corpus and explore a little around it.
 *
 *   fuzz_<name>_replay [-runs=N] [-seed=S] [-max_total_time=SECONDS]
 *                      [-artifact_prefix=DIR/] FILE|DIR...
 *
 * -runs: mutations after the replay (default 0); -seed: their seed (default
 * 1), so a run is repeatable; -max_total_time: stop mutating after that
 * long. A mutation stacks 1-4 of: bit flip, byte set, a 16/32-bit field
 * nudged, bytes erased / inserted / copied, a splice with another input,
 * truncation (LLVMFuzzerMutate below); a fuzzer with its own
 * LLVMFuzzerCustomMutator (one that knows the format) gets it called
 * instead, as libFuzzer does. An input that crashes is written to
 * <artifact_prefix>crash-replay-<seed>-<n> first (n: the mutation, or the
 * file's place), so it can become a regression input of the corpus.
 */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define REPLAY_SANITIZER 1
#endif
#endif
#ifdef REPLAY_SANITIZER
#include <sanitizer/common_interface_defs.h>
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
    __attribute__((weak));
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

struct input {
	char *name;
	uint8_t *data;
	size_t size;
};

static struct input *g_inputs;
static size_t g_ninputs, g_cap;
static uint64_t g_rng;

/* What runs now, for the crash file. */
static const uint8_t *g_cur;
static size_t g_cur_size;
static char g_crash_path[4096];
static volatile sig_atomic_t g_dumped;

static uint64_t rnd(void)
{
	/* xorshift64* */
	g_rng ^= g_rng >> 12;
	g_rng ^= g_rng << 25;
	g_rng ^= g_rng >> 27;
	return g_rng * 0x2545f4914f6cdd1dull;
}

static void dump_current(void)
{
	int fd;

	if (g_dumped || g_cur == NULL) {
		return;
	}
	g_dumped = 1;
	fd = open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		size_t off = 0;

		while (off < g_cur_size) {
			ssize_t n = write(fd, g_cur + off, g_cur_size - off);

			if (n <= 0) {
				break;
			}
			off += (size_t)n;
		}
		close(fd);
		/* write(2) only: this may run in a signal handler. */
		(void)!write(STDERR_FILENO, "replay: crashing input written to ", 34);
		(void)!write(STDERR_FILENO, g_crash_path, strlen(g_crash_path));
		(void)!write(STDERR_FILENO, "\n", 1);
	}
}

static void on_signal(int sig)
{
	dump_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_crashes(void)
{
	static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		signal(sigs[i], on_signal);
	}
#ifdef REPLAY_SANITIZER
	__sanitizer_set_death_callback(dump_current);
#endif
}

static void add_input(const char *path)
{
	struct input in = {0};
	FILE *f = fopen(path, "rb");
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
		exit(2);
	}
	in.size = (size_t)len;
	in.data = malloc(in.size + 1);
	in.name = strdup(path);
	if (in.data == NULL || in.name == NULL || fread(in.data, 1, in.size, f) != in.size) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	if (g_ninputs == g_cap) {
		g_cap = g_cap ? 2 * g_cap : 64;
		g_inputs = realloc(g_inputs, g_cap * sizeof(*g_inputs));
		if (g_inputs == NULL) {
			exit(2);
		}
	}
	g_inputs[g_ninputs++] = in;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_path(const char *path)
{
	struct stat st;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	DIR *d;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (!S_ISDIR(st.st_mode)) {
		add_input(path);
		return;
	}
	d = opendir(path);
	while (d != NULL && (e = readdir(d)) != NULL) {
		char *p;

		if (e->d_name[0] == '.' || asprintf(&p, "%s/%s", path, e->d_name) < 0) {
			continue;
		}
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(p);
			continue;
		}
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = p;
	}
	if (d != NULL) {
		closedir(d);
	}
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		add_input(names[i]);
		free(names[i]);
	}
	free(names);
}

/*
 * The mutator
 */

static const uint8_t g_bytes[] = {0,	1,    2,    3,	  4,	7,    8,    0x10, 0x18,
				  0x1f, 0x20, 0x40, 0x48, 0x7f, 0x80, 0xfe, 0xff};

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size)
{
	size_t at = size > 0 ? rnd() % size : 0;

	switch (rnd() % 8) {
	case 0: /* flip a bit */
		if (size > 0) {
			data[at] ^= (uint8_t)(1u << (rnd() % 8));
		}
		break;
	case 1: /* set a byte */
		if (size > 0) {
			data[at] = rnd() & 1 ? g_bytes[rnd() % sizeof(g_bytes)] : (uint8_t)rnd();
		}
		break;
	case 2: { /* nudge a little-endian 16- or 32-bit field (a length, an offset) */
		size_t w = rnd() & 1 ? 4 : 2;
		int64_t delta = (int64_t)(rnd() % 33) - 16;
		uint32_t v = 0;

		if (size < w) {
			break;
		}
		at = rnd() % (size - w + 1);
		for (size_t i = 0; i < w; i++) {
			v |= (uint32_t)data[at + i] << (8 * i);
		}
		v = (uint32_t)((int64_t)v + (delta != 0 ? delta : 1));
		for (size_t i = 0; i < w; i++) {
			data[at + i] = (uint8_t)(v >> (8 * i));
		}
		break;
	}
	case 3: { /* erase bytes */
		size_t n = size > at ? 1 + rnd() % (size - at < 64 ? size - at : 64) : 0;

		memmove(data + at, data + at + n, size - at - n);
		size -= n;
		break;
	}
	case 4: { /* insert bytes: random, or a copy of some already there */
		size_t n = 1 + rnd() % 32;

		if (size + n > max_size) {
			break;
		}
		memmove(data + at + n, data + at, size - at);
		for (size_t i = 0; i < n; i++) {
			data[at + i] = size > 0 && rnd() & 1 ? data[rnd() % size] : (uint8_t)rnd();
		}
		size += n;
		break;
	}
	case 5: { /* copy a range over another */
		size_t from = size > 0 ? rnd() % size : 0;
		size_t n = size > 0 ? 1 + rnd() % 128 : 0;

		if (n > size - from) {
			n = size - from;
		}
		if (n > size - at) {
			n = size - at;
		}
		memmove(data + at, data + from, n);
		break;
	}
	case 6: { /* splice: our head, another input's tail */
		const struct input *o = &g_inputs[rnd() % g_ninputs];
		size_t from = o->size > 0 ? rnd() % o->size : 0;
		size_t n = o->size - from;

		if (at + n > max_size) {
			n = max_size - at;
		}
		memcpy(data + at, o->data + from, n);
		size = at + n;
		break;
	}
	default: /* truncate */
		size = at;
		break;
	}
	return size;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void run(const uint8_t *data, size_t size, uint64_t seed, const char *prefix, size_t n)
{
	snprintf(g_crash_path, sizeof(g_crash_path), "%scrash-replay-%llu-%zu", prefix,
		 (unsigned long long)seed, n);
	g_cur = data;
	g_cur_size = size;
	LLVMFuzzerTestOneInput(data, size);
	g_cur = NULL;
}

int main(int argc, char **argv)
{
	unsigned long long runs = 0, seed = 1;
	double max_time = 0, t0, t1, t2;
	const char *prefix = "";
	size_t max_size = 4096, done = 0;
	uint8_t *buf;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "-runs=", 6) == 0) {
			runs = strtoull(a + 6, NULL, 10);
		} else if (strncmp(a, "-seed=", 6) == 0) {
			seed = strtoull(a + 6, NULL, 10);
		} else if (strncmp(a, "-max_total_time=", 16) == 0) {
			max_time = strtod(a + 16, NULL);
		} else if (strncmp(a, "-artifact_prefix=", 17) == 0) {
			prefix = a + 17;
		} else if (a[0] == '-') {
			fprintf(stderr, "replay: unknown option %s (ignored)\n", a);
		} else {
			add_path(a);
		}
	}
	if (g_ninputs == 0) {
		fprintf(stderr,
			"usage: %s [-runs=N] [-seed=S] [-max_total_time=S] "
			"[-artifact_prefix=P] FILE|DIR...\n",
			argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL) {
		LLVMFuzzerInitialize(&argc, &argv);
	}
	catch_crashes();
	g_rng = seed * 0x9e3779b97f4a7c15ull + 1;

	t0 = now_s();
	for (size_t i = 0; i < g_ninputs; i++) {
		if (g_inputs[i].size > max_size) {
			max_size = g_inputs[i].size;
		}
		run(g_inputs[i].data, g_inputs[i].size, seed, prefix, i);
	}
	t1 = now_s();
	printf("replay: %zu inputs in %.2f s\n", g_ninputs, t1 - t0);

	max_size += 4096;
	buf = malloc(max_size);
	for (; done < runs; done++) {
		const struct input *in = &g_inputs[rnd() % g_ninputs];
		size_t size = in->size;
		int stack = 1 + (int)(rnd() % 4);

		if (max_time > 0 && now_s() - t0 > max_time) {
			break;
		}
		memcpy(buf, in->data, size);
		for (int k = 0; k < stack; k++) {
			if (LLVMFuzzerCustomMutator != NULL) {
				size =
				    LLVMFuzzerCustomMutator(buf, size, max_size, (unsigned)rnd());
			} else {
				size = LLVMFuzzerMutate(buf, size, max_size);
			}
		}
		run(buf, size, seed, prefix, g_ninputs + done);
	}
	t2 = now_s();
	printf("replay: %zu mutations (seed %llu) in %.2f s, %.0f execs/s\n", done, seed, t2 - t1,
	       t2 > t1 ? (double)done / (t2 - t1) : 0.0);
	free(buf);
	for (size_t i = 0; i < g_ninputs; i++) {
		free(g_inputs[i].data);
		free(g_inputs[i].name);
	}
	free(g_inputs);
	return 0;
}
