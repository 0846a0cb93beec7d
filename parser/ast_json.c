/* JSON (exec) form detection, FORMAT.md 4.1: a strict RFC 8259 validator
 * plus a decoder for arrays of strings, with the decisions of Go's
 * encoding/json that BuildKit inherits:
 *  - any syntax error, or nesting deeper than 10,000, means "not JSON form";
 *  - a number too large for a float64 anywhere makes decoding fail, which
 *    also means "not JSON form";
 *  - otherwise a top-level element that is not a string is an error;
 *  - strings: \uXXXX with surrogate pairs, lone surrogates and invalid UTF-8
 *    become U+FFFD. */
#include <string.h>

#include "parser-ast-internal.h"

#define JSON_MAX_DEPTH 10000

/* Digits of 2^1024 - 2^970 (trailing zeros dropped): the smallest decimal
 * value that strconv.ParseFloat rounds to +Inf. It has 309 integer digits. */
static const char float_overflow[] =
    "179769313486231580793728971405303415079934132710037826936173778980444968292764"
    "750946649017977587207096330286416692887910946555547851940402630657488671505820"
    "681908902000708383676273854845817711531764475730270069855571366959622842914819"
    "860834936475292719074168444365510704342711559699508093042880177904174497792";

struct jscan {
	const char *s;
	size_t n, pos;
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct jscan *j)
{
	while (j->pos < j->n && is_ws(j->s[j->pos]))
		j->pos++;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool scan_string(struct jscan *j)
{
	j->pos++; /* opening quote */
	while (j->pos < j->n) {
		unsigned char c = (unsigned char)j->s[j->pos++];
		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (j->pos >= j->n)
			return false;
		c = (unsigned char)j->s[j->pos++];
		if (c == 'u') {
			for (int i = 0; i < 4; i++)
				if (j->pos >= j->n || hexval(j->s[j->pos++]) < 0)
					return false;
		} else if (!strchr("\"\\/bfnrt", c) || !c) {
			return false;
		}
	}
	return false;
}

/* Would strconv.ParseFloat(64) overflow? digits: the significant digits
 * (no leading zeros), exp10: the value is 0.DIGITS x 10^exp10. */
static bool overflows(const char *digits, size_t nd, long long exp10)
{
	if (!nd || exp10 < 309)
		return false;
	if (exp10 > 309)
		return true;
	size_t nt = sizeof(float_overflow) - 1;
	for (size_t i = 0; i < nd || i < nt; i++) {
		char a = i < nd ? digits[i] : '0', b = i < nt ? float_overflow[i] : '0';
		if (a != b)
			return a > b;
	}
	return true; /* equal: the tie rounds to even, i.e. up to +Inf */
}

/* Scans a number; sets *ovf when it cannot be a float64. */
static bool scan_number(struct jscan *j, bool *ovf)
{
	const char *s = j->s;
	size_t p = j->pos, int_start, int_end, frac_start = 0, frac_end = 0;
	if (p < j->n && s[p] == '-')
		p++;
	int_start = p;
	if (p < j->n && s[p] == '0') {
		p++;
	} else if (p < j->n && s[p] >= '1' && s[p] <= '9') {
		while (p < j->n && is_digit(s[p]))
			p++;
	} else {
		return false;
	}
	int_end = p;
	if (p < j->n && s[p] == '.') {
		frac_start = ++p;
		while (p < j->n && is_digit(s[p]))
			p++;
		frac_end = p;
		if (frac_end == frac_start)
			return false;
	}
	long long exp = 0;
	if (p < j->n && (s[p] == 'e' || s[p] == 'E')) {
		p++;
		bool neg = false;
		if (p < j->n && (s[p] == '+' || s[p] == '-'))
			neg = s[p++] == '-';
		if (p >= j->n || !is_digit(s[p]))
			return false;
		while (p < j->n && is_digit(s[p])) {
			if (exp < 1000000000LL)
				exp = exp * 10 + (s[p] - '0');
			p++;
		}
		if (neg)
			exp = -exp;
	}
	j->pos = p;

	/* Significant digits: integer then fraction part, leading zeros out. */
	size_t nint = int_end - int_start, nfrac = frac_end - frac_start;
	size_t skip = 0;
	while (skip < nint && s[int_start + skip] == '0')
		skip++;
	long long exp10 = (long long)nint - (long long)skip + exp;
	char buf[400];
	size_t nd = 0;
	for (size_t i = int_start + skip; i < int_end && nd < sizeof(buf); i++)
		buf[nd++] = s[i];
	if (skip == nint) { /* integer part is zero: leading fraction zeros */
		size_t fz = 0;
		while (fz < nfrac && s[frac_start + fz] == '0')
			fz++;
		exp10 -= (long long)fz;
		for (size_t i = frac_start + fz; i < frac_end && nd < sizeof(buf); i++)
			buf[nd++] = s[i];
	} else {
		for (size_t i = frac_start; i < frac_end && nd < sizeof(buf); i++)
			buf[nd++] = s[i];
	}
	while (nd && buf[nd - 1] == '0')
		nd--;
	if (overflows(buf, nd, exp10))
		*ovf = true;
	return true;
}

static bool scan_literal(struct jscan *j, const char *lit)
{
	size_t l = strlen(lit);
	if (j->n - j->pos < l || memcmp(j->s + j->pos, lit, l))
		return false;
	j->pos += l;
	return true;
}

enum jstate { J_VALUE, J_VALUE_OR_CLOSE, J_KEY, J_KEY_OR_CLOSE, J_COLON, J_AFTER };

/* Validates s as one JSON value that is an array. Records the offsets of
 * the outer array's string elements and whether any element is not a
 * string. Returns false for invalid JSON. */
static bool validate(struct jscan *j, size_t **strs, size_t *nstrs, bool *non_string, bool *ovf)
{
	char *stack = NULL;
	size_t depth = 0, cap = 0, scap = 0;
	enum jstate st = J_VALUE;
	bool ok = false;

	for (;;) {
		skip_ws(j);
		if (st == J_AFTER && depth == 0) {
			ok = j->pos == j->n;
			break;
		}
		if (j->pos >= j->n)
			break;
		char c = j->s[j->pos];
		if (st == J_VALUE_OR_CLOSE || st == J_KEY_OR_CLOSE) {
			if (c == (st == J_VALUE_OR_CLOSE ? ']' : '}')) {
				j->pos++;
				depth--;
				st = J_AFTER;
				continue;
			}
			st = st == J_VALUE_OR_CLOSE ? J_VALUE : J_KEY;
		}
		if (st == J_VALUE) {
			if (depth == 1) {
				if (c == '"') {
					KILN_GROW(*strs, cap, *nstrs + 1);
					(*strs)[(*nstrs)++] = j->pos;
				} else {
					*non_string = true;
				}
			}
			if (c == '[' || c == '{') {
				if (depth >= JSON_MAX_DEPTH)
					break;
				KILN_GROW(stack, scap, depth + 1);
				stack[depth++] = c;
				j->pos++;
				st = c == '[' ? J_VALUE_OR_CLOSE : J_KEY_OR_CLOSE;
				continue;
			}
			bool good;
			if (c == '"')
				good = scan_string(j);
			else if (c == '-' || is_digit(c))
				good = scan_number(j, ovf);
			else
				good = scan_literal(j, "true") || scan_literal(j, "false") ||
				       scan_literal(j, "null");
			if (!good)
				break;
			st = J_AFTER;
		} else if (st == J_KEY) {
			if (c != '"' || !scan_string(j))
				break;
			st = J_COLON;
		} else if (st == J_COLON) {
			if (c != ':')
				break;
			j->pos++;
			st = J_VALUE;
		} else { /* J_AFTER inside a container */
			char top = stack[depth - 1];
			j->pos++;
			if (c == ',') {
				st = top == '[' ? J_VALUE : J_KEY;
			} else if ((c == ']' && top == '[') || (c == '}' && top == '{')) {
				depth--;
			} else {
				break;
			}
		}
	}
	free(stack);
	return ok;
}

/* Decodes the (already validated) JSON string starting at s[pos] into b. */
static void decode_string(const char *s, size_t pos, struct kiln_buf *b)
{
	size_t i = pos + 1;

	while (s[i] != '"') {
		uint32_t r;
		if (s[i] != '\\') {
			size_t w;
			if (df_utf8_decode(s + i, 4, &w) == DF_RUNE_ERROR && w == 1)
				df_utf8_add(b, DF_RUNE_ERROR);
			else
				kiln_buf_add(b, s + i, w, NULL);
			i += w;
			continue;
		}
		char e = s[i + 1];
		i += 2;
		switch (e) {
		case 'b': r = '\b'; break;
		case 'f': r = '\f'; break;
		case 'n': r = '\n'; break;
		case 'r': r = '\r'; break;
		case 't': r = '\t'; break;
		case 'u':
			r = 0;
			for (int k = 0; k < 4; k++)
				r = r * 16 + (uint32_t)hexval(s[i + k]);
			i += 4;
			if (r >= 0xd800 && r < 0xe000) {
				uint32_t lo = 0;
				bool pair = r < 0xdc00 && s[i] == '\\' && s[i + 1] == 'u';
				if (pair) {
					for (int k = 0; k < 4; k++)
						lo = lo * 16 + (uint32_t)hexval(s[i + 2 + k]);
					pair = lo >= 0xdc00 && lo < 0xe000;
				}
				if (pair) {
					r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
					i += 6;
				} else {
					r = DF_RUNE_ERROR;
				}
			}
			break;
		default: r = (unsigned char)e; break; /* " \ / */
		}
		df_utf8_add(b, (int32_t)r);
	}
}

int df__json_strings(struct df_arena **arena, const char *text, size_t n, char ***out,
                     size_t **lens, size_t *n_out, struct kiln_err *err)
{
	size_t lead = df_uni_space_prefix(text, n);
	struct jscan j = {text + lead, n - lead, 0};
	_cleanup_free_ size_t *strs = NULL;
	size_t nstrs = 0;
	bool non_string = false, ovf = false;

	if (!j.n || j.s[0] != '[')
		return 0;
	if (!validate(&j, &strs, &nstrs, &non_string, &ovf) || ovf)
		return 0;
	if (non_string)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "when using JSON array syntax, arrays must be comprised of "
		                    "strings only");
	char **v = xcalloc(nstrs + 1, sizeof(*v));
	size_t *l = xcalloc(nstrs + 1, sizeof(*l));
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < nstrs; i++) {
		kiln_buf_reset(&b);
		decode_string(j.s, strs[i], &b);
		v[i] = df_arena_strndup(arena, b.data ? b.data : "", b.len);
		l[i] = b.len;
	}
	kiln_buf_release(&b);
	*out = v;
	*lens = l;
	*n_out = nstrs;
	return 1;
}
