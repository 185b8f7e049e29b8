/*
 * store_replay: reading a file of records back at start (and for hookd
 * check): checksums, the torn tail cut off, the members of a record, and the
 * notes hookd check keeps on records it cannot read.
 */
#include "store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How much of an unreadable line hookd check reads looking for the id that
 * a later record depends on: ids lead a record, payloads end it. */
#define STORE_CHECK_HEAD 16384

struct store_replay st_replay;

int
replay_fail(struct replay *r, const char *why)
{
	snprintf(r->err, r->errsz, "%s:%zu: %s", r->file, r->line, why);
	errno = EINVAL;
	return -1;
}

/*
 * Checking: the line of the unreadable record that the readable record at
 * r->line depends on (an endpoint on its client, an attempt on its event),
 * or 0 when none came before it in this file. The one whose text still
 * holds needle (the quoted id) when there is one, else the nearest.
 */
static size_t
check_depends(struct replay *r, const char *needle)
{
	/* Ids come before an event's payload: the head of a line is enough,
	 * and a damaged line of megabytes is not read whole. */
	char head[STORE_CHECK_HEAD + 1];
	size_t i, k, nearest = 0, nl = strlen(needle);

	for (i = st_replay.nbad; i-- > 0;) {
		const struct store_bad *b = &st_replay.bad[i];
		ssize_t got;

		if (b->journal != r->journal || b->dep != 0)
			continue;
		if (nearest == 0)
			nearest = b->line;
		got = pread(st_replay.check_fd, head,
		    b->len < STORE_CHECK_HEAD ? b->len : STORE_CHECK_HEAD,
		    b->off);
		for (k = 0; got > 0 && k + nl <= (size_t)got; k++)
			if (memcmp(head + k, needle, nl) == 0)
				return b->line;
	}
	return nearest;
}

/* Fail the record at r as depending on an unreadable one when checking
 * and there is one (the record itself reads fine), else with why. */
int
replay_fail_dep(struct replay *r, const char *needle, const char *why)
{
	char msg[64];

	if (st_replay.checking && (r->dep = check_depends(r, needle)) != 0) {
		snprintf(msg, sizeof(msg), "depends on line %zu", r->dep);
		return replay_fail(r, msg);
	}
	return replay_fail(r, why);
}

int
get_num(struct replay *r, const char *key, int64_t *out)
{
	int v = rget(r->s, r->t, key);
	uint64_t u;
	const char *p;
	size_t n;

	if (v < 0 || r->t[v].type != JSON_NUMBER)
		return -1;
	p = r->s + r->t[v].start;
	n = r->t[v].len;
	if (n > 0 && p[0] == '-') {
		if (util_parse_u64(p + 1, n - 1, INT64_MAX, &u) != 0)
			return -1;
		*out = -(int64_t)u;
		return 0;
	}
	if (util_parse_u64(p, n, INT64_MAX, &u) != 0)
		return -1;
	*out = (int64_t)u;
	return 0;
}

/* A string member into out (NUL-terminated); -1 when absent or too long. */
int
get_str(struct replay *r, const char *key, char *out, size_t outsz)
{
	int v = rget(r->s, r->t, key);

	if (v < 0 || r->t[v].type != JSON_STRING)
		return -1;
	return json_str(r->s, &r->t[v], out, outsz) < 0 ? -1 : 0;
}

/* A string member as a new heap string, NULL stored for JSON null. */
int
get_dup(struct replay *r, const char *key, char **out)
{
	int v = rget(r->s, r->t, key);
	struct buf b = {0};

	*out = NULL;
	if (v < 0)
		return -1;
	if (r->t[v].type == JSON_NULL)
		return 0;
	if (r->t[v].type != JSON_STRING || json_str_buf(r->s, &r->t[v], &b))
		goto fail;
	/* A buf starts at 256 bytes; replay keeps one of these strings for
	 * every event (its type), so keep only the string's own length. */
	*out = util_strndup(b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	return *out != NULL ? 0 : -1;
fail:
	buf_free(&b);
	return -1;
}

int
get_xid(struct replay *r, const char *key, enum store_kind k, uint64_t *id)
{
	int v = rget(r->s, r->t, key);

	if (v < 0 || r->t[v].type != JSON_STRING)
		return -1;
	return store_parse_id(k, r->s + r->t[v].start, r->t[v].len, id);
}

/*
 * How much of journal record s[0..len) replay tokenizes. An event's payload
 * is the last member of its record (event_create writes it so) and is read
 * back only when a delivery needs it, while it is most of a journal's bytes:
 * with the checksum vouching for it, an event record is parsed up to it,
 * the comma before it turned into the closing brace (*fix says where, to be
 * put back). A raw `,"` cannot occur inside a JSON string, so the first
 * `,"data` is the member. Any other record is parsed whole.
 */
static size_t
replay_span(char *s, size_t len, char **fix)
{
	static const char ev[] = "{\"t\":\"event\",";
	char *p = s, *end = s + len;

	*fix = NULL;
	if (len < sizeof(ev) - 1 || memcmp(s, ev, sizeof(ev) - 1) != 0)
		return len;
	while ((p = memchr(p, ',', (size_t)(end - p))) != NULL) {
		if (end - p > 10 && memcmp(p, ",\"data", 6) == 0 &&
		    (memcmp(p + 6, "\":", 2) == 0 ||
		    memcmp(p + 6, "_s\":", 4) == 0)) {
			*p = '}';
			*fix = p;
			return (size_t)(p - s) + 1;
		}
		p++;
	}
	return len;
}

/* In check mode: note the line at r->off (len bytes) as bad, with the
 * reason replay_fail left in r->err. 0, or -1 out of memory. */
static int
check_note(struct replay *r, int journal, size_t len)
{
	struct store_bad *b;

	b = util_grow(st_replay.bad, &st_replay.capbad, st_replay.nbad + 1,
	    sizeof(*b), 16);
	if (b == NULL)
		return -1;
	st_replay.bad = b;
	b = &st_replay.bad[st_replay.nbad++];
	b->journal = journal;
	b->off = r->off;
	b->len = len;
	b->line = r->line;
	b->dep = r->dep;
	snprintf(b->why, sizeof(b->why), "%s", r->err);
	return 0;
}

/*
 * Read a file of records and apply each. A last line that is incomplete or
 * fails its checksum is a torn write: it is cut off (notice). Anything wrong
 * before the last line is corruption and fails the start (hookd check --fix
 * moves it aside); nothing is written then.
 *
 * Why only the last line can be torn: each batch of records is one pwrite
 * at the end of the file (io_pwrite cuts a short one back; its space was
 * reserved keeping the size, so no zeros follow the last record), and a
 * record is acknowledged only after an fsync of it. After kill -9 every record
 * written is whole in the page cache; after a power loss the file may end
 * in part of a record that was never acknowledged, or lose whole
 * unacknowledged records. Cutting the tail is ftruncate then fsync: a crash
 * during it leaves the tail, whole or cut, and the next start cuts it again.
 * In check mode nothing is cut: the line is reported as torn.
 */
int
replay_file(struct logfile *f, const char *name, int journal,
    int (*apply)(struct replay *r, const char *t, size_t tl), char *err,
    size_t errsz, void (*notice)(const char *))
{
	struct replay r = { .file = name, .err = err, .errsz = errsz,
	    .journal = journal };
	struct buf b = {0};
	size_t pos = 0, cut;
	off_t base = 0;
	int ret = -1;

	for (;;) {
		ssize_t got;
		char *nl;

		if (buf_reserve(&b, 1 << 20) != 0) {
			replay_fail(&r, "out of memory");
			goto out;
		}
		got = read(f->fd, b.data + b.len, b.cap - b.len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			replay_fail(&r, strerror(errno));
			goto out;
		}
		b.len += (size_t)got;
		b.data[b.len] = '\0';
		while ((nl = memchr(b.data + pos, '\n', b.len - pos)) != NULL) {
			size_t len = (size_t)(nl - (b.data + pos));
			char *line = b.data + pos;
			uint64_t want;
			int nt, tv;
			size_t plen;
			char *fix;

			r.line++;
			r.off = base + (off_t)pos;
			r.dep = 0;
			want = 0;
			for (cut = 0; cut < 8 && len >= 10; cut++) {
				int v = util_hex_digit((unsigned char)line[cut],
				    1);

				if (v < 0)
					break;
				want = want << 4 | (uint64_t)v;
			}
			if (len < 12 || cut != 8 || line[8] != ' ' ||
			    crc32(line + 9, len - 9) != (uint32_t)want) {
				/* Torn only when nothing follows. */
				if (pos + len + 1 == b.len && got == 0)
					goto torn;
				if (pos + len + 1 == b.len) {
					/* Maybe more follows: read on. */
					r.line--;
					break;
				}
				replay_fail(&r, "checksum mismatch");
				goto bad;
			}
			fix = NULL;
			plen = journal ? replay_span(line + 9, len - 9, &fix) :
			    len - 9;
			nt = json_parse(line + 9, plen, st_replay.toks,
			    st_replay.ntoks);
			if (nt == JSON_ERR_NOMEM) {
				int need = json_parse(line + 9, plen, NULL, 0);
				struct json_tok *t = need > 0 ?
				    realloc(st_replay.toks,
				    (size_t)need * sizeof(*t)) : NULL;

				if (t == NULL) {
					replay_fail(&r, "out of memory");
					goto out;
				}
				st_replay.toks = t;
				st_replay.ntoks = (size_t)need;
				nt = json_parse(line + 9, plen, st_replay.toks,
				    st_replay.ntoks);
			}
			if (fix != NULL)
				*fix = ',';
			if (nt <= 0 || st_replay.toks[0].type != JSON_OBJECT ||
			    (tv = json_get(line + 9, st_replay.toks, 0,
			    "t")) < 0 ||
			    st_replay.toks[tv].type != JSON_STRING) {
				replay_fail(&r, "not a record");
				goto bad;
			}
			r.s = line + 9;
			r.t = st_replay.toks;
			if (apply(&r, line + 9 + st_replay.toks[tv].start,
			    st_replay.toks[tv].len))
				goto bad;
			pos += len + 1;
			continue;
bad:
			/* hookd check lists it and reads on; a start stops. */
			if (!st_replay.checking ||
			    check_note(&r, journal, len + 1))
				goto out;
			pos += len + 1;
		}
		if (got == 0)
			break;
		/* Keep the partial line; drop what was applied. */
		base += (off_t)pos;
		buf_consume(&b, pos);
		pos = 0;
		if (b.len > STORE_LINE_MAX) {
			replay_fail(&r, "record too long");
			goto out;
		}
	}
	if (pos < b.len) {
		r.line++;
		r.off = base + (off_t)pos;
		r.dep = 0;
		goto torn;
	}
	f->size = base + (off_t)pos;
	ret = 0;
	goto out;
torn:
	if (st_replay.checking) {
		replay_fail(&r, "torn record (an incomplete last line)");
		if (check_note(&r, journal, (size_t)(base + (off_t)b.len -
		    r.off)) != 0)
			goto out;
		ret = 0;
		goto out;
	}
	{
		char msg[1200];

		snprintf(msg, sizeof(msg), "%s:%zu: torn record dropped "
		    "(%lld bytes)", name, r.line,
		    (long long)(base + (off_t)b.len - r.off));
		if (ftruncate(f->fd, r.off) != 0 || io_fsync(f->fd) != 0) {
			replay_fail(&r, "cannot cut the torn record");
			goto out;
		}
		if (notice != NULL)
			notice(msg);
		f->size = r.off;
		ret = 0;
	}
out:
	buf_free(&b);
	return ret;
}
