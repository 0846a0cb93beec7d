/* The slices of Go's unicode and unicode/utf8 packages the parser depends
 * on. The tables are generated (unicode_tables.c, gen_unicode_tables.py)
 * from Unicode 15.0.0, the version of Go 1.21+. */
#include <stdlib.h>
#include <string.h>

#include "parser-unicode-internal.h"

int32_t df_utf8_decode(const char *str, size_t n, size_t *width)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char b0 = s[0], lo = 0x80, hi = 0xbf;
	size_t need;
	uint32_t cp;

	*width = 1;
	if (b0 < 0x80)
		return b0;
	if (b0 >= 0xc2 && b0 <= 0xdf) {
		need = 1, cp = b0 & 0x1f;
	} else if (b0 >= 0xe0 && b0 <= 0xef) {
		need = 2, cp = b0 & 0x0f;
		lo = b0 == 0xe0 ? 0xa0 : 0x80; /* overlong */
		hi = b0 == 0xed ? 0x9f : 0xbf; /* surrogates */
	} else if (b0 >= 0xf0 && b0 <= 0xf4) {
		need = 3, cp = b0 & 0x07;
		lo = b0 == 0xf0 ? 0x90 : 0x80; /* overlong */
		hi = b0 == 0xf4 ? 0x8f : 0xbf; /* > U+10FFFF */
	} else {
		return DF_RUNE_ERROR;
	}
	if (n < need + 1)
		return DF_RUNE_ERROR;
	for (size_t i = 1; i <= need; i++) {
		if (s[i] < lo || s[i] > hi)
			return DF_RUNE_ERROR;
		lo = 0x80, hi = 0xbf;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	*width = need + 1;
	return (int32_t)cp;
}

size_t df_utf8_encode(int32_t r, char buf[4])
{
	if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
		r = DF_RUNE_ERROR;
	uint32_t u = (uint32_t)r;
	if (u < 0x80) {
		buf[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		buf[0] = (char)(0xC0 | (u >> 6));
		buf[1] = (char)(0x80 | (u & 0x3F));
		return 2;
	}
	if (u < 0x10000) {
		buf[0] = (char)(0xE0 | (u >> 12));
		buf[1] = (char)(0x80 | ((u >> 6) & 0x3F));
		buf[2] = (char)(0x80 | (u & 0x3F));
		return 3;
	}
	buf[0] = (char)(0xF0 | (u >> 18));
	buf[1] = (char)(0x80 | ((u >> 12) & 0x3F));
	buf[2] = (char)(0x80 | ((u >> 6) & 0x3F));
	buf[3] = (char)(0x80 | (u & 0x3F));
	return 4;
}

void df_utf8_add(struct kiln_buf *b, int32_t r)
{
	char enc[4];
	kiln_buf_add(b, enc, df_utf8_encode(r, enc), NULL);
}

static bool in_ranges(const struct df_uni_range *t, size_t n, uint32_t r)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r < t[mid].lo)
			hi = mid;
		else if (r > t[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool df_uni_is_letter(int32_t r)
{
	if (r < 0x80)
		return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
	return in_ranges(df_uni_letters, df_uni_letters_len, (uint32_t)r);
}

bool df_uni_is_digit(int32_t r)
{
	if (r < 0x80)
		return r >= '0' && r <= '9';
	return in_ranges(df_uni_digits, df_uni_digits_len, (uint32_t)r);
}

bool df_uni_is_print(int32_t r)
{
	if (r < 0x80)
		return r >= 0x20 && r < 0x7f;
	return in_ranges(df_uni_print, df_uni_print_len, (uint32_t)r);
}

bool df_uni_is_space(int32_t r)
{
	switch (r) {
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
	case ' ':
	case 0x85:
	case 0xA0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202F:
	case 0x205F:
	case 0x3000: return true;
	default: return r >= 0x2000 && r <= 0x200A;
	}
}

int32_t df_uni_to_lower(int32_t r)
{
	if (r < 0x80)
		return (r >= 'A' && r <= 'Z') ? r + 32 : r;
	size_t lo = 0, hi = df_uni_lower_map_len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct df_uni_case *c = &df_uni_lower_map[mid];
		if ((uint32_t)r < c->lo)
			hi = mid;
		else if ((uint32_t)r > c->hi)
			lo = mid + 1;
		else
			return ((uint32_t)r - c->lo) % c->stride ? r : r + c->delta;
	}
	return r;
}

char *df_uni_lower(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (unsigned char)s[i] < 0x80)
		i++;
	/* A rune may grow (an invalid byte becomes the 3-byte U+FFFD). */
	char *out = xmalloc(i == n ? n + 1 : n * 3 + 1);
	size_t o = 0;
	for (size_t k = 0; k < n;) {
		size_t w;
		int32_t r = df_utf8_decode(s + k, n - k, &w);
		k += w;
		o += df_utf8_encode(df_uni_to_lower(r), out + o);
	}
	out[o] = '\0';
	return out;
}

size_t df_uni_space_prefix(const char *s, size_t n)
{
	size_t i = 0, w;
	while (i < n && df_uni_is_space(df_utf8_decode(s + i, n - i, &w)))
		i += w;
	return i;
}

/* Go's utf8.DecodeLastRune on s[0..n), n > 0. */
static int32_t decode_last(const char *s, size_t n, size_t *width)
{
	size_t st = n - 1, w;
	while (st > 0 && n - st < 4 && ((unsigned char)s[st] & 0xC0) == 0x80)
		st--;
	int32_t r = df_utf8_decode(s + st, n - st, &w);
	if (st + w != n) {
		*width = 1;
		return DF_RUNE_ERROR;
	}
	*width = w;
	return r;
}

size_t df_uni_trim_right(const char *s, size_t n)
{
	size_t w;
	while (n && df_uni_is_space(decode_last(s, n, &w)))
		n -= w;
	return n;
}
