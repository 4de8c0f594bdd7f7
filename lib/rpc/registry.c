/*
 * Method registry: name -> handler and state mask, plus the RPC state
 * (start-up or runtime). Registration usually happens in constructors
 * (SPIO_RPC_REGISTER); a mutex makes later registration from any thread safe.
 * Methods are never removed, so a looked-up method stays valid.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"
#include "spio/log.h"

#define RPC_HASH_BUCKETS 256

static pthread_mutex_t g_methods_lock = PTHREAD_MUTEX_INITIALIZER;
static STAILQ_HEAD(, rpc_method) g_methods = STAILQ_HEAD_INITIALIZER(g_methods);
static struct rpc_method *g_method_hash[RPC_HASH_BUCKETS];
static uint32_t g_state = SPIO_RPC_STARTUP;

static uint32_t name_hash(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *name != '\0'; name++) {
		h = (h ^ (uint8_t)*name) * 16777619u;
	}
	return h % RPC_HASH_BUCKETS;
}

static struct rpc_method *find_locked(const char *name)
{
	struct rpc_method *m;

	for (m = g_method_hash[name_hash(name)]; m != NULL; m = m->hash_next) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

/* Before the SPIO_RPC_REGISTER constructors (priority 200): built-ins come first. */
__attribute__((constructor(199))) static void register_builtins(void)
{
	rpc_register_builtin_methods();
}

int spio_rpc_register_method(const char *name, spio_rpc_method_fn fn, uint32_t state_mask)
{
	struct rpc_method *m;
	size_t len;
	uint32_t bucket;

	if (name == NULL || name[0] == '\0' || fn == NULL || state_mask == 0 ||
	    (state_mask & ~(uint32_t)(SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)) != 0) {
		return -EINVAL;
	}
	len = strlen(name);
	m = calloc(1, sizeof(*m) + len + 1);
	if (m == NULL) {
		return -ENOMEM;
	}
	memcpy(m->name, name, len + 1);
	m->fn = fn;
	m->state_mask = state_mask;

	pthread_mutex_lock(&g_methods_lock);
	if (find_locked(name) != NULL) {
		pthread_mutex_unlock(&g_methods_lock);
		free(m);
		return -EEXIST;
	}
	bucket = name_hash(name);
	m->hash_next = g_method_hash[bucket];
	g_method_hash[bucket] = m;
	STAILQ_INSERT_TAIL(&g_methods, m, link);
	pthread_mutex_unlock(&g_methods_lock);
	return 0;
}

void spio_rpc_register_method_at_load(const char *name, spio_rpc_method_fn fn, uint32_t state_mask)
{
	int rc = spio_rpc_register_method(name, fn, state_mask);

	if (rc != 0) {
		SPIO_ERRLOG("RPC method '%s': registration failed: %s", name ? name : "(null)",
			    strerror(-rc));
	}
}

const struct rpc_method *rpc_method_find(const char *name)
{
	struct rpc_method *m;

	if (name == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_methods_lock);
	m = find_locked(name);
	pthread_mutex_unlock(&g_methods_lock);
	return m;
}

int rpc_method_foreach(int (*fn)(const struct rpc_method *m, void *ctx), void *ctx)
{
	struct rpc_method *m, *first;
	int rc;

	/* Entries are only ever appended: walk without holding the lock across fn. */
	pthread_mutex_lock(&g_methods_lock);
	first = STAILQ_FIRST(&g_methods);
	pthread_mutex_unlock(&g_methods_lock);
	for (m = first; m != NULL;) {
		rc = fn(m, ctx);
		if (rc != 0) {
			return rc;
		}
		pthread_mutex_lock(&g_methods_lock);
		m = STAILQ_NEXT(m, link);
		pthread_mutex_unlock(&g_methods_lock);
	}
	return 0;
}

bool spio_rpc_method_exists(const char *name)
{
	return rpc_method_find(name) != NULL;
}

int spio_rpc_get_method_state_mask(const char *name, uint32_t *state_mask)
{
	const struct rpc_method *m = name != NULL ? rpc_method_find(name) : NULL;

	if (m == NULL || state_mask == NULL) {
		return m == NULL ? -ENOENT : -EINVAL;
	}
	*state_mask = m->state_mask;
	return 0;
}

void spio_rpc_set_state(uint32_t state)
{
	if (state != SPIO_RPC_STARTUP && state != SPIO_RPC_RUNTIME) {
		SPIO_ERRLOG("RPC state 0x%x: expected SPIO_RPC_STARTUP (0x%x) or "
			    "SPIO_RPC_RUNTIME (0x%x); ignored",
			    state, SPIO_RPC_STARTUP, SPIO_RPC_RUNTIME);
		return;
	}
	__atomic_store_n(&g_state, state, __ATOMIC_RELEASE);
}

uint32_t spio_rpc_get_state(void)
{
	return __atomic_load_n(&g_state, __ATOMIC_ACQUIRE);
}
