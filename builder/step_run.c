/* RUN: executed by the container runtime (issue 11), which is being
 * written on its own branch. The seam this file will call:
 *
 *   one-shot run of a process over a rootfs made of
 *     lower dirs   img_snapshot_dirs() of the stage's layers (topmost first)
 *     upper dir    a fresh directory under ROOT/tmp: becomes the step's layer
 *                  (img_layer_create with overlay_upper = true: whiteouts)
 *   with argv (shell form: the stage's SHELL + the command; heredocs as
 *   files), env (the stage's Env + the ARGs visible to the step, proxy args
 *   included but never in history), cwd (WorkingDir), user (User resolved
 *   in the rootfs), mounts (--mount: bind/cache/tmpfs/secret/ssh), network
 *   (default/none/host), and the step's stdout/stderr fds (the progress
 *   printer's "#N 0.412 line" prefixer)
 *   -> exit status (non-zero: "process \"...\" did not complete
 *   successfully: exit code: N").
 *
 * Until the runtime lands, a Dockerfile with RUN fails with a clear error
 * naming its line. */
#include "build-internal.h"

int bld_step_run(struct bld_stage *st, struct bld_step *step, struct kiln_err *err)
{
	(void)st;
	(void)step;
	return kiln_err_set(err, KILN_E_UNSUPPORTED,
	                    "RUN needs the container runtime (issue 11), which this build of "
	                    "kiln does not have yet");
}
