#include "helper_blob_thread.h"

#include "spio/thread.h"

void blob_test_thread_poll(struct spio_thread *t, int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(t, 0, 0);
	}
}
