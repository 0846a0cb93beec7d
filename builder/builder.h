/* builder: Dockerfile + context -> image (layer 3: uses parser, image,
 * and later cache, runtime, registry). The build orchestration lands with
 * the builder issue; what is here now is the executor for metadata
 * instructions (step_meta.c), shared with `import --change` and, later,
 * `commit --change`. */
#ifndef KILN_BUILDER_H
#define KILN_BUILDER_H

#include "common.h"
#include "image.h"
#include "parser.h"

/* Applies one metadata instruction, words already expanded, to cfg the way
 * BuildKit's dispatchers do: ENV (replace or append K=V), LABEL, CMD and
 * ENTRYPOINT (shell form runs through cfg's Shell, default /bin/sh -c),
 * EXPOSE (port specs, ranges expanded, /tcp default), USER, WORKDIR
 * (relative to the previous one), VOLUME, STOPSIGNAL, HEALTHCHECK,
 * ONBUILD, SHELL, MAINTAINER. *cmd_set tracks whether CMD was given in
 * this build or change list: ENTRYPOINT resets an inherited CMD unless it
 * was. Other kinds fail with KILN_E_INVALID. */
int bld_config_apply(struct img_config *cfg, const struct df_instr *in, bool *cmd_set,
                     struct kiln_err *err);

/* Parses each line of a `--change` list (import, commit) as a Dockerfile
 * instruction, expands its words with cfg's Env, and applies it. Only the
 * instructions docker allows there: CMD, ENTRYPOINT, ENV, EXPOSE,
 * HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. */
int bld_apply_changes(struct img_config *cfg, char *const *changes, struct kiln_err *err);

#endif
