/* A container record is read whole or not at all while it is removed:
 * a reader (ps, inspect, wait) racing rt_container_remove must never see
 * the config.json of an exited container without its state.json, which
 * reads as a "created" container that ended with 0 (a `wait` printed 0
 * for a --rm container that exited with 3). The removal and the reads
 * race for real here: a thread reads the record in a loop while the main
 * thread writes and removes it, many times over, under one ID (a reader
 * that looked up the path again for its second file could mix a removed
 * record with the next one: each read is one directory's snapshot). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime-internal.h"
#include "tap.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct race {
	const char *root;
	atomic_bool done;
	atomic_long whole, torn, failed;
};

static void *reader(void *arg)
{
	struct race *r = arg;
	while (!atomic_load(&r->done)) {
		struct rt_container *c = NULL;
		struct kiln_err e = KILN_ERR_INIT;
		if (rt_container_read(r->root, ID, &c, &e) < 0) {
			if (e.code != KILN_E_NOTFOUND && e.code != ENOENT)
				atomic_fetch_add(&r->failed, 1);
			kiln_err_release(&e);
			continue;
		}
		if (c->status == RT_EXITED && c->exit_code == 3)
			atomic_fetch_add(&r->whole, 1);
		else
			atomic_fetch_add(&r->torn, 1);
		rt_container_free(c);
	}
	return NULL;
}

/* An exited container's record, as a monitor leaves it, made whole in
 * a staging root and renamed into place: a record being created has a
 * config.json and no state.json yet, and reads as "created" for real. */
static int write_record(const char *root, const char *stage)
{
	struct kiln_err e = KILN_ERR_INIT;
	_cleanup_free_ char *dir = rt_container_dir(stage, ID);
	_cleanup_free_ char *to = rt_container_dir(root, ID);
	struct rt_container c = {.id = ID,
	                         .name = "racer",
	                         .image = "busybox",
	                         .auto_remove = true, /* not flushed: the loop stays fast */
	                         .status = RT_EXITED,
	                         .exit_code = 3};
	int r = kiln_mkdir_p(dir, 0700, &e) < 0 || rt_config_save(stage, &c, &e) < 0 ||
	                rt_state_save(stage, &c, &e) < 0
	            ? -1
	            : 0;
	if (r == 0 && rename(dir, to) < 0)
		r = kiln_err_set(&e, errno, "renaming `%s`", dir);
	if (r < 0)
		tap_diag("writing the record: %s", e.msg);
	kiln_err_release(&e);
	return r;
}

int main(void)
{
	const char *base = getenv("KILN_TEST_TMP");
	_cleanup_free_ char *root = xasprintf("%s/kiln-record-test.XXXXXX", base ? base : "/tmp");
	if ((base && kiln_mkdir_p(base, 0700, NULL) < 0) || !mkdtemp(root))
		tap_skip_all("no temp dir");
	_cleanup_free_ char *stage = kiln_path_join(root, "stage");
	_cleanup_free_ char *records = kiln_path_join(root, RT_CONTAINERS_DIR);
	if (mkdir(stage, 0700) < 0 || mkdir(records, 0700) < 0)
		tap_skip_all("no temp dir");
	struct race r = {.root = root};
	pthread_t t;
	T_OK(pthread_create(&t, NULL, reader, &r) == 0, "a reader runs beside the removals");
	/* at least 200 removals (unlinks cost milliseconds each on some
	 * disks), and on until the reader has seen the record whole often
	 * enough to have been inside the removals (bounded) */
	int n = 0, failed = 0;
	time_t end = time(NULL) + 20;
	for (; n < 200 || (atomic_load(&r.whole) < 100 && time(NULL) < end); n++) {
		struct kiln_err e = KILN_ERR_INIT;
		struct rt_container c = {.id = ID, .name = "racer", .exit_code = 3};
		if (write_record(root, stage) < 0 || rt_container_remove(root, &c, true, &e) < 0) {
			failed++;
			kiln_err_release(&e);
			break;
		}
	}
	atomic_store(&r.done, true);
	pthread_join(t, NULL);
	T_INTEQ(failed, 0, "%d records written and removed", n);
	tap_diag("the reader saw %ld whole records, %ld torn, %ld read errors",
	         atomic_load(&r.whole), atomic_load(&r.torn), atomic_load(&r.failed));
	T_OK(atomic_load(&r.whole) > 0, "the reader saw the record");
	T_INTEQ(atomic_load(&r.torn), 0, "never a record without its state (read as created)");
	T_INTEQ(atomic_load(&r.failed), 0, "no read failed but for a record gone");
	struct kiln_err e = KILN_ERR_INIT;
	kiln_rm_rf(root, &e);
	kiln_err_release(&e);
	return tap_done();
}
