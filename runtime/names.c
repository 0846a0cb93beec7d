/* Container IDs (64 hex digits), docker-style generated names, times,
 * process start times. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "runtime-internal.h"

static void random_bytes(void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom((char *)p + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) { /* no entropy source: time and pid still differ */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ got;
			memcpy((char *)p + got, &x, n - got < sizeof(x) ? n - got : sizeof(x));
			got += n - got < sizeof(x) ? n - got : sizeof(x);
			continue;
		}
		got += (size_t)r;
	}
}

void rt_id_generate(char out[65])
{
	unsigned char b[32];
	for (;;) {
		random_bytes(b, sizeof(b));
		for (size_t i = 0; i < 32; i++)
			snprintf(out + 2 * i, 3, "%02x", b[i]);
		/* docker avoids IDs that read as a number (a short ID must not
		 * parse as one) */
		bool digits = true;
		for (size_t i = 0; i < 12; i++)
			if (out[i] < '0' || out[i] > '9')
				digits = false;
		if (!digits)
			return;
	}
}

static const char *const adjectives[] = {
    "admiring",  "adoring",     "affectionate",  "agitated",  "amazing",       "angry",
    "awesome",   "beautiful",   "blissful",      "bold",      "brave",         "busy",
    "charming",  "clever",      "compassionate", "competent", "condescending", "confident",
    "cool",      "cranky",      "crazy",         "dazzling",  "determined",    "distracted",
    "dreamy",    "eager",       "ecstatic",      "elastic",   "elated",        "elegant",
    "eloquent",  "epic",        "exciting",      "fervent",   "festive",       "flamboyant",
    "focused",   "friendly",    "frosty",        "funny",     "gallant",       "gifted",
    "goofy",     "gracious",    "great",         "happy",     "hardcore",      "heuristic",
    "hopeful",   "hungry",      "infallible",    "inspiring", "intelligent",   "interesting",
    "jolly",     "jovial",      "keen",          "kind",      "laughing",      "loving",
    "lucid",     "magical",     "modest",        "musing",    "mystifying",    "naughty",
    "nervous",   "nice",        "nifty",         "nostalgic", "objective",     "optimistic",
    "peaceful",  "pedantic",    "pensive",       "practical", "priceless",     "quirky",
    "quizzical", "recursing",   "relaxed",       "reverent",  "romantic",      "sad",
    "serene",    "sharp",       "silly",         "sleepy",    "stoic",         "strange",
    "stupefied", "suspicious",  "sweet",         "tender",    "thirsty",       "trusting",
    "unruffled", "upbeat",      "vibrant",       "vigilant",  "vigorous",      "wizardly",
    "wonderful", "xenodochial", "youthful",      "zealous",   "zen",
};

static const char *const surnames[] = {
    "agnesi",       "albattani",  "allen",         "almeida",     "archimedes", "ardinghelli",
    "aryabhata",    "austin",     "babbage",       "banach",      "bardeen",    "bartik",
    "bassi",        "bell",       "benz",          "bhabha",      "blackwell",  "bohr",
    "booth",        "borg",       "bose",          "brahmagupta", "brattain",   "brown",
    "carson",       "cerf",       "chandrasekhar", "chaplygin",   "chatelet",   "chebyshev",
    "curie",        "darwin",     "davinci",       "dijkstra",    "driscoll",   "dubinsky",
    "easley",       "einstein",   "elion",         "engelbart",   "euclid",     "euler",
    "faraday",      "fermat",     "fermi",         "feynman",     "franklin",   "galileo",
    "gates",        "goldberg",   "goldstine",     "goodall",     "hamilton",   "hawking",
    "heisenberg",   "hellman",    "hermann",       "hodgkin",     "hopper",     "hypatia",
    "jackson",      "jang",       "jennings",      "johnson",     "kalam",      "kepler",
    "khorana",      "kilby",      "knuth",         "kowalevski",  "lalande",    "lamarr",
    "lamport",      "leakey",     "lederberg",     "lehmann",     "lewin",      "liskov",
    "lovelace",     "lumiere",    "mahavira",      "margulis",    "matsumoto",  "maxwell",
    "mayer",        "mccarthy",   "mcclintock",    "meitner",     "mendel",     "merkle",
    "minsky",       "mirzakhani", "moore",         "morse",       "napier",     "nash",
    "neumann",      "newton",     "nobel",         "noether",     "northcutt",  "noyce",
    "pascal",       "pasteur",    "payne",         "perlman",     "pike",       "poincare",
    "ptolemy",      "raman",      "ramanujan",     "ride",        "ritchie",    "rosalind",
    "sammet",       "shannon",    "shockley",      "sinoussi",    "snyder",     "stonebraker",
    "swanson",      "tesla",      "thompson",      "torvalds",    "turing",     "varahamihira",
    "visvesvaraya", "volhard",    "wescoff",       "wilbur",      "wiles",      "williams",
    "wilson",       "wing",       "wozniak",       "wright",      "yalow",      "yonath",
};

char *rt_name_generate(void)
{
	for (;;) {
		uint32_t r[2];
		random_bytes(r, sizeof(r));
		const char *a = adjectives[r[0] % KILN_ARRAY_SIZE(adjectives)];
		const char *s = surnames[r[1] % KILN_ARRAY_SIZE(surnames)];
		if (!strcmp(a, "boring") && !strcmp(s, "wozniak")) /* docker's joke */
			continue;
		return xasprintf("%s_%s", a, s);
	}
}

bool rt_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len < 2 || len > 200)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

char *rt_now_rfc3339(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char buf[64];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	return xasprintf("%s.%09ldZ", buf, ts.tv_nsec);
}

uint64_t rt_pid_start_time(pid_t pid)
{
	if (pid <= 0)
		return 0;
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* comm may hold spaces and parens: fields resume after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* p+2 is field 3 (state); starttime is field 22 */
	p += 2;
	if (*p == 'Z' || *p == 'X') /* a zombie is as good as gone */
		return 0;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

int rt_exit_code_for(const struct kiln_err *err)
{
	if (err->code == RT_E_EXEC_NOTFOUND)
		return 127;
	if (err->code == RT_E_EXEC_PERM)
		return 126;
	return 125;
}
