/* The health check's pure parts: Go's duration text in docker's
 * "Health check exceeded timeout (X)" message. */
#include <stdint.h>

#include "runtime-internal.h"
#include "tap.h"

static void dur(int64_t ns, const char *want)
{
	char buf[32];
	rt_go_duration(ns, buf, sizeof(buf));
	T_STREQ(buf, want, "%s", want);
}

int main(void)
{
	const int64_t ms = 1000000, s = 1000 * ms;
	dur(0, "0s");
	dur(999, "999ns");
	dur(1500, "1.5\xc2\xb5s");
	dur(500 * ms, "500ms");
	dur(1250000, "1.25ms");
	dur(s, "1s");
	dur(1500 * ms, "1.5s");
	dur(30 * s, "30s");
	dur(90 * s, "1m30s");
	dur(60 * s, "1m0s");
	dur(3600 * s, "1h0m0s");
	dur(3600 * s + 61 * s + 5 * ms, "1h1m1.005s");
	return tap_done();
}
