/*
 * PCI addresses: parse the forms SPDK accepts, strictly (SPDK's sscanf takes
 * trailing garbage and half-matches; we take exactly the listed forms), and
 * format them as sysfs does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "spio/pci.h"

#define MAX_FIELDS 4

/* Split "h<sep>h<sep>..." into hex fields and the separators between them. */
static int split_fields(const char *s, unsigned long long *val, char *sep)
{
	int n = 0;

	for (;;) {
		unsigned long long v = 0;
		int digits = 0;

		for (; *s; s++, digits++) {
			int d;
			if (*s >= '0' && *s <= '9') {
				d = *s - '0';
			} else if (*s >= 'a' && *s <= 'f') {
				d = *s - 'a' + 10;
			} else if (*s >= 'A' && *s <= 'F') {
				d = *s - 'A' + 10;
			} else {
				break;
			}
			/* clamp: anything past 8 digits is out of range anyway */
			if (digits < 9) {
				v = v * 16 + (unsigned)d;
			}
		}
		if (digits == 0 || n == MAX_FIELDS) {
			return -EINVAL;
		}
		val[n] = digits > 8 ? ~0ULL : v;
		if (*s == '\0') {
			return n + 1;
		}
		if (*s != ':' && *s != '.') {
			return -EINVAL;
		}
		sep[n++] = *s++;
	}
}

int spio_pci_addr_parse(struct spio_pci_addr *addr, const char *str)
{
	unsigned long long v[MAX_FIELDS], domain = 0, bus, dev, func = 0;
	char sep[MAX_FIELDS];
	int n;

	if (addr == NULL || str == NULL) {
		return -EINVAL;
	}
	n = split_fields(str, v, sep);
	switch (n) {
	case 4: /* dddd:bb:dd.f or dddd.bb.dd.f */
		if (!(sep[0] == ':' && sep[1] == ':' && sep[2] == '.') &&
		    !(sep[0] == '.' && sep[1] == '.' && sep[2] == '.')) {
			return -EINVAL;
		}
		domain = v[0], bus = v[1], dev = v[2], func = v[3];
		break;
	case 3:
		if (sep[0] == ':' && sep[1] == ':') { /* dddd:bb:dd */
			domain = v[0], bus = v[1], dev = v[2];
		} else if (sep[1] == '.') { /* bb:dd.f or bb.dd.f */
			bus = v[0], dev = v[1], func = v[2];
		} else {
			return -EINVAL;
		}
		break;
	case 2: /* bb:dd or bb.dd */
		bus = v[0], dev = v[1];
		break;
	default:
		return -EINVAL;
	}
	if (domain > 0xffffffffULL || bus > 0xff || dev > 0x1f || func > 7) {
		return -EINVAL;
	}
	addr->domain = (uint32_t)domain;
	addr->bus = (uint8_t)bus;
	addr->dev = (uint8_t)dev;
	addr->func = (uint8_t)func;
	return 0;
}

int spio_pci_addr_fmt(char *buf, size_t size, const struct spio_pci_addr *addr)
{
	int n;

	if (buf == NULL || addr == NULL) {
		return -EINVAL;
	}
	n = snprintf(buf, size, "%04x:%02x:%02x.%x", addr->domain, addr->bus, addr->dev,
		     addr->func);
	return n >= 0 && (size_t)n < size ? 0 : -ENOSPC;
}

static int cmp_u32(uint32_t a, uint32_t b)
{
	return a < b ? -1 : a > b;
}

int spio_pci_addr_compare(const struct spio_pci_addr *a, const struct spio_pci_addr *b)
{
	int c = cmp_u32(a->domain, b->domain);

	if (c == 0) {
		c = cmp_u32(a->bus, b->bus);
	}
	if (c == 0) {
		c = cmp_u32(a->dev, b->dev);
	}
	if (c == 0) {
		c = cmp_u32(a->func, b->func);
	}
	return c;
}
