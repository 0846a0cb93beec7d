/* kiln-monitor: the per-container monitor as a program of its own, so
 * that what supervises a container is only what it needs (libc, jansson,
 * libseccomp), not the CLI's address space with every library kiln links
 * (curl, OpenSSL, libarchive...) and the heap it grew. kiln starts it
 * (rt_container_start) as `kiln-monitor ROOT ID` with the start-result
 * pipe on fd 3 and, when an attacher waits, its socket on fd 4; it is not
 * meant to be run by hand. */
#include "runtime.h"

int main(int argc, char **argv)
{
	return rt_monitor_main(argc, argv);
}
