/*
 * Claiming a device: the lock file SPDK uses, /var/tmp/spdk_pci_lock_<bdf>,
 * with an fcntl write lock over the whole file (as SPDK takes it) and the
 * owner's pid as a native int at offset 0 (where SPDK reads it), so spio and
 * SPDK processes exclude each other. The kernel drops the lock when the
 * process exits, however it exits.
 *
 * fcntl locks belong to the process, and closing any descriptor of the file
 * drops them, so a second claim from this process is refused from a table
 * before the file is opened. The file is not unlinked on release (SPDK
 * unlinks it): between the unlock and the unlink another process could lock
 * the old inode while a third creates a new file, and both would own the
 * device.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pci_internal.h"
#include "spio/log.h"

struct claim {
	struct spio_pci_addr addr;
	int fd;
	struct claim *next;
};

static pthread_mutex_t g_claim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct claim *g_claims;
static const char *g_lock_dir = "/var/tmp";

void pci_set_lock_dir(const char *dir)
{
	g_lock_dir = dir ? dir : "/var/tmp";
}

static struct claim **find_claim(const struct spio_pci_addr *addr)
{
	struct claim **c = &g_claims;

	while (*c && spio_pci_addr_compare(&(*c)->addr, addr) != 0) {
		c = &(*c)->next;
	}
	return c;
}

/* Open and lock the file; returns the fd or -errno. */
static int lock_file(const char *path)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	int owner = 0, fd, err;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, S_IRUSR | S_IWUSR);
	if (fd < 0) {
		err = errno;
		SPIO_ERRLOG("pci: cannot open lock file %s: %s\n", path, strerror(err));
		return -err;
	}
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		err = errno;
		if (err != EACCES && err != EAGAIN) {
			SPIO_ERRLOG("pci: cannot lock %s: %s\n", path, strerror(err));
			close(fd);
			return -err;
		}
		if (pread(fd, &owner, sizeof(owner), 0) != (ssize_t)sizeof(owner)) {
			owner = 0;
		}
		/* F_GETLK names the holder even if it wrote no pid (yet). */
		struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		if (fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK) {
			owner = q.l_pid;
		}
		SPIO_ERRLOG("pci: device is claimed by process %d (lock file %s)\n", owner, path);
		close(fd);
		return -EBUSY;
	}
	owner = (int)getpid();
	if (ftruncate(fd, sizeof(owner)) != 0 ||
	    pwrite(fd, &owner, sizeof(owner), 0) != (ssize_t)sizeof(owner)) {
		/* The lock is what counts; the pid is only for messages. */
		SPIO_WARNLOG("pci: cannot write pid to %s: %s\n", path, strerror(errno));
	}
	return fd;
}

int pci_claim(const struct spio_pci_addr *addr)
{
	char bdf[SPIO_PCI_ADDR_STRLEN], path[PATH_MAX];
	struct claim *c;
	int fd;

	spio_pci_addr_fmt(bdf, sizeof(bdf), addr);
	if (snprintf(path, sizeof(path), "%s/spdk_pci_lock_%s", g_lock_dir, bdf) >=
	    (int)sizeof(path)) {
		return -ENAMETOOLONG;
	}
	pthread_mutex_lock(&g_claim_lock);
	if (*find_claim(addr) != NULL) {
		pthread_mutex_unlock(&g_claim_lock);
		SPIO_ERRLOG("pci: device %s is already attached by this process\n", bdf);
		return -EBUSY;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		pthread_mutex_unlock(&g_claim_lock);
		return -ENOMEM;
	}
	fd = lock_file(path);
	if (fd < 0) {
		pthread_mutex_unlock(&g_claim_lock);
		free(c);
		return fd;
	}
	c->addr = *addr;
	c->fd = fd;
	c->next = g_claims;
	g_claims = c;
	pthread_mutex_unlock(&g_claim_lock);
	return 0;
}

void pci_unclaim(const struct spio_pci_addr *addr)
{
	pthread_mutex_lock(&g_claim_lock);
	struct claim **pc = find_claim(addr);
	struct claim *c = *pc;
	if (c != NULL) {
		*pc = c->next;
		close(c->fd); /* drops the lock */
		free(c);
	}
	pthread_mutex_unlock(&g_claim_lock);
}
