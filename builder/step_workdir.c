/* WORKDIR: the config change (step_meta.c), plus a layer: BuildKit (the
 * 20.10 frontend, checked by test_build_buildkit.sh) always commits one,
 * holding the directories mkdir -p made (owned by the stage's user), or
 * empty when the directory exists. */
#include <errno.h>
#include <string.h>

#include "copy-internal.h"

int bld_step_workdir(struct bld_stage *st, struct bld_step *step, struct kiln_err *err)
{
	const char *wd = st->cfg->config.working_dir;
	if (!wd || !*wd || !strcmp(wd, "/"))
		return 0;
	struct bld_tree t = {.fs = &st->fs};
	struct bld_node n = {0};
	bool found = false;
	if (bld_tree_resolve(&t, wd, true, &n, &found, err) < 0)
		return -1;
	if (found && !S_ISDIR(n.st.st_mode)) {
		bld_node_release(&n);
		return kiln_err_set(err, ENOTDIR, "mkdir `%s`: not a directory", wd);
	}
	struct df_copy none = {.from_stage = -1};
	struct copy_job j = {.st = st, .step = step, .c = &none, .now = bld_now(st->b)};
	const char *user = st->cfg->config.user;
	int r = 0;
	if (user && *user) {
		r = bld_rootfs_user(&st->fs, user, &j.uid, &j.gid, err);
		j.chown = r == 0;
	}
	if (r == 0 && !found)
		r = copy_add_parents(&j, n.real, true, err);
	bool empty = true;
	j.keep_empty = true; /* an empty tar when the directory exists */
	if (r == 0)
		r = copy_write_layer(&j, &step->layer, &empty, &step->vindex, err);
	bld_node_release(&n);
	copy_job_release(&j);
	return r;
}
